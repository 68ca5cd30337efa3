package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store/storetest"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestWorkerOpsRoutes runs the worker as main does: its operator routes
// answer on METRICS_ADDR, `worker healthcheck` (the image's HEALTHCHECK)
// passes while it runs and fails once it stopped, /readyz is ready once it
// takes tasks, and /metrics holds the worker's series in a form promtool
// accepts.
func TestWorkerOpsRoutes(t *testing.T) {
	t.Parallel()
	_, dbURL := storetest.NewWithURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	addr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":             dbURL,
		"REDIS_URL":                apptest.RedisURL(),
		"QUEUE_PREFIX":             "tw" + hex.EncodeToString(b) + ":",
		"METRICS_ADDR":             addr,
		"TEMP_DIR":                 t.TempDir(),
		"SHUTDOWN_TIMEOUT_SECONDS": "2",
		"LOG_FORMAT":               "text",
	}
	getenv := func(k string) string { return env[k] }
	healthcheck := func() error {
		return run(context.Background(), []string{"healthcheck"}, getenv, io.Discard, io.Discard)
	}
	if err := healthcheck(); err == nil {
		t.Fatal("healthcheck passed before the worker started")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &apptest.SyncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, getenv, io.Discard, logs) }()
	apptest.Poll(t, 30*time.Second, "the worker to take tasks", func() bool {
		return strings.Contains(logs.String(), "worker started")
	})
	if err := healthcheck(); err != nil {
		t.Fatalf("healthcheck of a running worker: %v\n%s", err, logs)
	}

	get := func(path string) (int, []byte) {
		t.Helper()
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	status, body := get("/readyz")
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil || status != 200 || ready.Status != "ready" ||
		ready.Checks["worker"] != "ok" || ready.Checks["postgres"] != "ok" || ready.Checks["redis"] != "ok" {
		t.Fatalf("/readyz: %d %s", status, body)
	}
	status, body = get("/metrics")
	for _, series := range []string{`recap_source_up{source="postgres"} 1`, `recap_source_up{source="redis"} 1`,
		`recap_cache_hits_total{cache="summary"} 0`, "go_goroutines "} {
		if status != 200 || !bytes.Contains(body, []byte(series)) {
			t.Errorf("/metrics (status %d) lacks %q", status, series)
		}
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	if status, _ := get("/nope"); status != http.StatusNotFound {
		t.Errorf("unknown path: %d", status)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("worker: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	if err := healthcheck(); err == nil {
		t.Fatal("healthcheck passed after the worker stopped")
	}
}

// TestWorkerRefusesATakenMetricsAddr: a second worker on the same
// METRICS_ADDR fails at start-up, naming the setting, rather than running
// without its metrics.
func TestWorkerRefusesATakenMetricsAddr(t *testing.T) {
	t.Parallel()
	_, dbURL := storetest.NewWithURL(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(), "METRICS_ADDR": l.Addr().String(),
		"QUEUE_PREFIX": "twx:", "TEMP_DIR": t.TempDir()}
	err = run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("got %v, want an error naming METRICS_ADDR", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("got %v", err)
	}
}
