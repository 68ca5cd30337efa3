package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// stateDir is a dev state directory the postgres account can reach (a
// test's TempDir is private to root).
func stateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "recap-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startDev(t *testing.T, dir string, out io.Writer, logs io.Writer) *app.Dev {
	t.Helper()
	// The environment of `go run ./cmd/api dev` on a fresh machine: no
	// DATABASE_URL, no REDIS_URL, no LLM.
	cfg, err := app.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.AllowPrivateNetworks = true
	cfg.TempDir = t.TempDir()
	cfg.AdminToken = "dev-admin-token"
	d, err := app.StartDev(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), app.DevOptions{Dir: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDevModeServesCompletionEndToEnd(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	host := mediatest.NewHost(t)
	var out bytes.Buffer
	logs := &apptest.SyncBuffer{}
	d := startDev(t, dir, &out, logs)
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	if d.Redis == nil || d.PG == nil {
		t.Fatal("dev mode did not start its own Redis and Postgres")
	}
	if !strings.Contains(out.String(), d.Key) || !strings.Contains(out.String(), "curl -N "+d.URL+"/api/v1/chat/completions") {
		t.Errorf("the welcome lacks the key or the curl line:\n%s", out.String())
	}
	client := openai.NewClient(option.WithBaseURL(d.URL+"/v1/"), option.WithAPIKey(d.Key), option.WithMaxRetries(0))
	ctx := context.Background()

	stream := client.Chat.Completions.NewStreaming(ctx, userMessage(host.PageURL()))
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	checkSummary(t, acc.Choices[0].Message.Content)
	if !strings.Contains(acc.Model, "recap-extractive") {
		t.Errorf("model %q does not say the offline summarizer answered", acc.Model)
	}

	// The operators' routes work on the embedded Redis too.
	for _, path := range []string{"/readyz", "/metrics", "/admin/queues/api/queues", "/admin/queues/api/queue_stats", "/admin/queues/api/servers", "/admin/queues/api/redis_info"} {
		req, _ := http.NewRequest(http.MethodGet, d.URL+path, nil)
		req.SetBasicAuth("admin", "dev-admin-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d: %s", path, res.StatusCode, b)
		}
		if path == "/metrics" && !strings.Contains(string(b), `recap_queue_tasks{queue="interactive",state="pending"}`) {
			t.Errorf("/metrics lacks the queue series on the embedded Redis")
		}
	}

	// A restart keeps the key and the history.
	key := d.Key
	// Closing waits for the worker's handlers, so their last lines are in.
	d.Close()
	closed = true
	// Every stage line carries the job and the video; no line carries the key.
	stages := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, d.Key) {
			t.Errorf("a log line holds the API key: %s", line)
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "stage done" {
			continue
		}
		stages++
		if vk, _ := rec["video_key"].(string); rec["job_id"] == nil || !strings.HasPrefix(vk, "generic:") {
			t.Errorf("stage line without job_id or video_key: %s", line)
		}
	}
	if stages != 3 {
		t.Errorf("%d stage lines, want 3", stages)
	}

	var out2 bytes.Buffer
	d2 := startDev(t, dir, &out2, io.Discard)
	t.Cleanup(d2.Close)
	if d2.Key != key {
		t.Fatal("the restarted dev mode made a new key")
	}
	if !strings.Contains(out2.String(), "kept in") {
		t.Errorf("welcome after restart: %s", out2.String())
	}
	client = openai.NewClient(option.WithBaseURL(d2.URL+"/v1/"), option.WithAPIKey(d2.Key), option.WithMaxRetries(0))
	resp, err := client.Chat.Completions.New(ctx, userMessage(host.PageURL()))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, resp.Choices[0].Message.Content)
}
