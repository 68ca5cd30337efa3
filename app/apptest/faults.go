package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/store/storetest"
)

// StartWorkerWith starts a worker with its own connections and an edited
// configuration: a worker that may not reach private networks while the
// API admits them, or one whose Postgres sessions carry an
// application_name a test can find in pg_stat_activity.
func (e *Env) StartWorkerWith(t testing.TB, edit func(*app.Config)) *app.WorkerHandle {
	t.Helper()
	cfg := e.Config
	edit(&cfg)
	d, err := app.Connect(context.Background(), cfg, e.Deps.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	w, err := app.StartWorker(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// SubmitBatch posts URLs to /jobs and returns the accepted job ids.
func (e *Env) SubmitBatch(t testing.TB, prompt string, urls ...string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"urls": urls, "prompt": prompt})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/jobs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /jobs: %d %s", res.StatusCode, b)
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) != len(urls) {
		t.Fatalf("POST /jobs: %v %s", err, b)
	}
	ids := make([]string, len(out.Data))
	for i, d := range out.Data {
		ids[i] = d.ID
	}
	return ids
}

// Poll calls cond every 20ms until it reports true, failing the test with
// what after timeout.
func Poll(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitJobs waits until every job is terminal and returns them.
func (e *Env) WaitJobs(t testing.TB, timeout time.Duration, ids ...string) []*recap.Job {
	t.Helper()
	out := make([]*recap.Job, len(ids))
	Poll(t, timeout, fmt.Sprintf("%d jobs to end", len(ids)), func() bool {
		for i, id := range ids {
			if out[i] != nil && recap.Terminal(out[i].State) {
				continue
			}
			j, err := e.Store.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = j
			if !recap.Terminal(j.State) {
				return false
			}
		}
		return true
	})
	return out
}

// CheckInvariants is the end of every fault test: each job reached exactly
// one terminal state (one terminal event on its stream, a finished_at), the
// ledger adds up (storetest.CheckLedger), and each job's hold, if it had
// one, was settled exactly once, by a capture if it succeeded and a
// release otherwise.
func (e *Env) CheckInvariants(t testing.TB, ids ...string) {
	t.Helper()
	ctx := context.Background()
	storetest.CheckLedger(t, e.Store)
	for _, id := range ids {
		j, err := e.Store.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !recap.Terminal(j.State) || j.FinishedAt == nil {
			t.Errorf("job %s is %s, not terminal", id, j.State)
			continue
		}
		var holds, captures, releases int
		if err := e.Store.Pool().QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE kind = 'hold'), count(*) FILTER (WHERE kind = 'capture'), count(*) FILTER (WHERE kind = 'release')
			FROM ledger_entries WHERE job_id = $1`, id).Scan(&holds, &captures, &releases); err != nil {
			t.Fatal(err)
		}
		switch {
		case captures+releases > 1:
			t.Errorf("job %s settled %d times", id, captures+releases)
		case holds == 1 && j.State == recap.StateSucceeded && captures != 1:
			t.Errorf("job %s succeeded with %d captures", id, captures)
		case holds == 1 && j.State != recap.StateSucceeded && releases != 1:
			t.Errorf("job %s %s with %d releases", id, j.State, releases)
		case holds == 0 && captures+releases != 0:
			t.Errorf("job %s settled without a hold", id)
		}
		evs, err := e.Deps.Events.Read(ctx, id, "0", 0)
		if err != nil {
			t.Fatal(err)
		}
		terminal := 0
		for _, ev := range evs {
			if ev.Terminal() {
				terminal++
			}
		}
		if terminal > 1 || terminal == 0 && !e.LossyEvents {
			t.Errorf("job %s published %d terminal events", id, terminal)
		}
	}
}

// LedgerKinds counts a job's ledger entries by kind.
func (e *Env) LedgerKinds(t testing.TB, jobID string) map[string]int {
	t.Helper()
	rows, err := e.Store.Pool().Query(context.Background(), `SELECT kind, count(*) FROM ledger_entries WHERE job_id = $1 GROUP BY kind`, jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// WorkerEnv is the environment of a cmd/worker process serving this
// environment's queues, plus extra KEY=value pairs.
func (e *Env) WorkerEnv(extra ...string) []string {
	c := e.Config
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + c.DatabaseURL,
		"REDIS_URL=" + c.RedisURL,
		"QUEUE_PREFIX=" + c.QueuePrefix,
		"LLM_BASE_URL=" + c.LLMBaseURL,
		"LLM_API_KEY=" + c.LLMAPIKey,
		"LLM_MODEL=" + c.LLMModel,
		"STT_BASE_URL=" + c.STTBaseURL,
		"STT_API_KEY=" + c.STTAPIKey,
		"TEMP_DIR=" + c.TempDir,
		"ALLOW_PRIVATE_NETWORKS=" + b(c.AllowPrivateNetworks),
		"WORKER_CONCURRENCY=" + strconv.Itoa(c.WorkerConcurrency),
		"RETRY_DELAY_MS=" + strconv.FormatInt(c.RetryDelay.Milliseconds(), 10),
		"MAX_RETRY=" + strconv.Itoa(c.MaxRetry),
		"SHUTDOWN_TIMEOUT_SECONDS=" + strconv.FormatFloat(c.ShutdownTimeout.Seconds(), 'f', -1, 64),
		"RECONCILE_INTERVAL_SECONDS=" + strconv.FormatFloat(c.ReconcileInterval.Seconds(), 'f', -1, 64),
		"RECONCILE_GRACE_SECONDS=" + strconv.FormatFloat(c.ReconcileGrace.Seconds(), 'f', -1, 64),
		"PRICE_CACHED_TRANSCRIPT=" + b(c.PriceCachedTranscript),
		"LOG_FORMAT=text",
		"LOG_LEVEL=info",
		// Its /metrics on a free port: parallel workers must not contend for :9090.
		"METRICS_ADDR=127.0.0.1:0",
	}
	return append(env, extra...)
}

// BuildWorker compiles cmd/worker into the test's temporary directory and
// returns its path (the build cache makes every build after the first a
// link step).
func BuildWorker(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/recap/recap/cmd/worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/worker: %v\n%s", err, out)
	}
	return bin
}

// Process is a worker running as a real subprocess.
type Process struct {
	Cmd  *exec.Cmd
	log  *SyncBuffer
	done chan struct{}
	err  error
}

// StartWorkerProcess runs cmd/worker against this environment; it is
// killed when the test ends if still running.
func (e *Env) StartWorkerProcess(t testing.TB, extra ...string) *Process {
	t.Helper()
	cmd := exec.Command(BuildWorker(t))
	cmd.Env = e.WorkerEnv(extra...)
	return RunProcess(t, cmd)
}

// RunProcess starts cmd (its output kept for Log); it is killed when the
// test ends if still running.
func RunProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, log: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck
		<-p.done
		if t.Failed() {
			t.Logf("%s process log:\n%s", filepath.Base(cmd.Path), p.log.String())
		}
	})
	return p
}

// Wait waits for the process to exit, failing the test after timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("worker process still running after %s:\n%s", timeout, p.log.String())
		return nil
	}
}

// Log is what the process wrote so far.
func (p *Process) Log() string { return p.log.String() }

// SyncBuffer collects output written from many goroutines (logs,
// subprocess output) for tests to read.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartRedis runs a private redis-server on a free loopback port for a
// test that flushes or restarts Redis, so tests sharing the machine's
// Redis are not disturbed. It returns the server's URL.
func StartRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server): %v", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--logfile", "")
		var out SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }() //nolint:errcheck
		url := "redis://127.0.0.1:" + port + "/0"
		opt, _ := redis.ParseURL(url)
		rdb := redis.NewClient(opt)
		up := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited:
			default:
				if rdb.Ping(context.Background()).Err() == nil {
					up = true
				}
			}
			if up || isClosed(exited) {
				break
			}
		}
		rdb.Close()
		if up {
			t.Cleanup(func() {
				cmd.Process.Kill() //nolint:errcheck
				<-exited
			})
			return url
		}
		cmd.Process.Kill() //nolint:errcheck
		<-exited
		if !strings.Contains(out.String(), "in use") {
			t.Fatalf("redis-server did not start:\n%s", out.String())
		}
	}
	t.Fatal("redis-server: no free port after 5 attempts")
	return ""
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
