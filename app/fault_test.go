package app_test

// Fault tests: each breaks something real (a worker process, Redis, a
// Postgres session, an upstream service, the network policy) and ends
// with Env.CheckInvariants — every accepted job reached exactly one
// terminal state, the ledger adds up, and no job was captured or released
// twice. docs/how-it-works.md, "Guarantees", lists what each proves.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// fast makes retries, the reconciler and shutdown quick enough for tests.
func fast(c *app.Config) {
	c.RetryDelay = 100 * time.Millisecond
	c.ReconcileInterval = 200 * time.Millisecond
	c.ReconcileGrace = time.Second
	c.ShutdownTimeout = 2 * time.Second
	c.MaxRetry = 3
}

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// gatedMedia serves the talk's media slowly: until open is closed, each
// request gets its first 8 KB and then nothing, so a download is reliably
// "in the middle". started is closed at the first request.
type gatedMedia struct {
	data    []byte
	open    chan struct{}
	started chan struct{}
	once    sync.Once
}

func newGatedMedia(t *testing.T) *gatedMedia {
	data, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.webm"))
	if err != nil {
		t.Fatal(err)
	}
	return &gatedMedia{data: data, open: make(chan struct{}), started: make(chan struct{})}
}

func (g *gatedMedia) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-g.open:
		mediatest.BytesHandler("talk.webm", "video/webm", g.data, time.Time{}).ServeHTTP(w, r)
		return
	default:
	}
	w.Header().Set("Content-Type", "video/webm")
	w.Header().Set("Content-Length", strconv.Itoa(len(g.data)))
	w.WriteHeader(http.StatusOK)
	w.Write(g.data[:8<<10])
	w.(http.Flusher).Flush()
	g.once.Do(func() { close(g.started) })
	select {
	case <-r.Context().Done():
	case <-g.open:
	}
}

// slowVideo adds a page whose video downloads through a gate; its path
// holds a token that appears on the command line of the yt-dlp fetching it.
func slowVideo(t *testing.T, e *apptest.Env) (pageURL, tok string, g *gatedMedia) {
	tok = token()
	g = newGatedMedia(t)
	e.Host.Serve("/slow-"+tok+".webm", g)
	e.Host.Serve("/slow-"+tok+".html", mediatest.PageHandler("Slow talk", "slow-"+tok+".webm", ""))
	return e.Host.URL("/slow-" + tok + ".html"), tok, g
}

func noProcesses(t *testing.T, tok string, timeout time.Duration) {
	t.Helper()
	apptest.Poll(t, timeout, "no process with "+tok+" on its command line", func() bool {
		return len(mediatest.Processes(tok)) == 0
	})
}

// 1. A worker killed with SIGKILL in the middle of a download: its yt-dlp
// dies with it, a new worker finishes the job (asynq recovers the task
// once its lease expires) and removes the dead worker's scratch files.
func TestFaultWorkerKilledMidDownload(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, NoWorker: true, Configure: fast})
	page, tok, gate := slowVideo(t, e)
	p := e.StartWorkerProcess(t)
	ids := e.SubmitBatch(t, "", page)

	select {
	case <-gate.started:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the download never started:\n%s", p.Log())
	}
	// yt-dlp downloads from the info JSON resolve kept (--load-info-json),
	// so its command line names the worker's scratch directory, not the
	// page.
	scratch := fmt.Sprintf("recap-worker-%d-", p.Cmd.Process.Pid)
	if len(mediatest.Processes(tok))+len(mediatest.Processes(scratch)) == 0 {
		t.Fatal("no yt-dlp downloading while the worker runs")
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait(t, 10*time.Second)
	// The kernel kills the worker's children with it (Pdeathsig).
	noProcesses(t, tok, 10*time.Second)
	noProcesses(t, scratch, 10*time.Second)
	dead, _ := filepath.Glob(filepath.Join(e.Config.TempDir, fmt.Sprintf("recap-worker-%d-*", p.Cmd.Process.Pid)))
	if len(dead) != 1 {
		t.Fatalf("dead worker's scratch dirs: %v", dead)
	}

	close(gate.open)
	e.StartWorker(t)
	if _, err := os.Stat(dead[0]); !os.IsNotExist(err) {
		t.Errorf("the new worker did not remove the dead worker's scratch dir: %v", err)
	}
	j := e.WaitJobs(t, 4*time.Minute, ids...)[0]
	if j.State != recap.StateSucceeded {
		t.Fatalf("job %s: %s %s", j.State, j.ErrorCode, j.ErrorMessage)
	}
	e.CheckInvariants(t, ids...)
	if k := e.LedgerKinds(t, j.ID); k["hold"] != 1 || k["capture"] != 1 {
		t.Errorf("ledger %v, want one hold and one capture", k)
	}
}

// SIGTERM: the worker stops taking tasks, gives the running stage the
// shutdown time-out, puts it back in the queue and exits with no
// subprocess left; another worker picks the stage up at once.
func TestFaultWorkerSIGTERM(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, NoWorker: true, Configure: fast})
	page, tok, gate := slowVideo(t, e)
	p := e.StartWorkerProcess(t, "SHUTDOWN_TIMEOUT_SECONDS=1")
	ids := e.SubmitBatch(t, "", page)
	select {
	case <-gate.started:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the download never started:\n%s", p.Log())
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("worker exited with %v:\n%s", err, p.Log())
	}
	if pids := mediatest.Processes(tok); len(pids) != 0 {
		t.Fatalf("processes %v outlived the worker", pids)
	}
	if left, _ := filepath.Glob(filepath.Join(e.Config.TempDir, fmt.Sprintf("recap-worker-%d-*", p.Cmd.Process.Pid))); len(left) != 0 {
		t.Errorf("worker left its scratch dir: %v", left)
	}
	// The stage went back to the queue: not archived, not lost.
	info, err := e.Deps.Inspector.GetTaskInfo(e.Config.QueuePrefix+jobs.QueueBatch, jobs.TaskID(ids[0], jobs.TypeTranscript))
	if err != nil {
		t.Fatalf("transcript task after shutdown: %v\n%s", err, p.Log())
	}
	if info.State != asynq.TaskStatePending && info.State != asynq.TaskStateRetry {
		t.Fatalf("transcript task is %v after shutdown", info.State)
	}

	close(gate.open)
	e.StartWorker(t)
	j := e.WaitJobs(t, 2*time.Minute, ids...)[0]
	if j.State != recap.StateSucceeded {
		t.Fatalf("job %s: %s %s", j.State, j.ErrorCode, j.ErrorMessage)
	}
	e.CheckInvariants(t, ids...)
}

// 2. Redis loses everything (FLUSHALL, as a restart without persistence
// would) while 50 jobs wait in the queue: the reconciler finds them in
// Postgres and enqueues each again; all 50 finish, each charged once.
// It runs its own redis-server so other tests keep theirs.
func TestFaultRedisFlushed(t *testing.T) {
	t.Parallel()
	redisURL := apptest.StartRedis(t)
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) {
		fast(c)
		c.RedisURL = redisURL
		c.WorkerConcurrency = 20
	}})
	urls := make([]string, 50)
	for i := range urls {
		urls[i] = e.Host.PageURL()
	}
	ids := e.SubmitBatch(t, "", urls...)
	qi, err := e.Deps.Inspector.GetQueueInfo(e.Config.QueuePrefix + jobs.QueueBatch)
	if err != nil || qi.Pending != 50 {
		t.Fatalf("queue before the flush: %+v %v", qi, err)
	}
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.DBSize(context.Background()).Result(); n != 0 {
		t.Fatalf("%d keys after FLUSHALL", n)
	}

	e.StartWorker(t)
	js := e.WaitJobs(t, 4*time.Minute, ids...)
	for _, j := range js {
		if j.State != recap.StateSucceeded {
			t.Errorf("job %s: %s %s %s", j.ID, j.State, j.ErrorCode, j.ErrorMessage)
		}
	}
	e.CheckInvariants(t, ids...)
	// Every job is charged once, except one that resolves after the
	// video's summary was made: a full cache hit is free (docs/features.md, Pricing).
	charged := 0
	for _, id := range ids {
		switch k := e.LedgerKinds(t, id); {
		case k["hold"] == 1 && k["capture"] == 1 && k["release"] == 0:
			charged++
		case len(k) == 0:
		default:
			t.Errorf("job %s ledger %v, want one hold and one capture, or nothing (a cache hit)", id, k)
		}
	}
	if charged == 0 {
		t.Error("no job was charged for the video")
	}
}

// workerBackend waits for a session of the worker (found by its
// application_name) blocked on a lock, and returns its pid.
func workerBackend(t *testing.T, e *apptest.Env, conn *pgx.Conn, appName, jobID string) int {
	t.Helper()
	ctx := context.Background()
	var pid int
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event <> 'advisory' LIMIT 1`, appName).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			j, _ := e.Store.Job(ctx, jobID)
			rows, _ := conn.Query(ctx, `SELECT pid, state, coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(query, 120)
				FROM pg_stat_activity WHERE application_name = $1`, appName)
			var sessions []string
			for rows.Next() {
				var p int
				var st, wt, we, q string
				rows.Scan(&p, &st, &wt, &we, &q) //nolint:errcheck
				sessions = append(sessions, fmt.Sprintf("%d %s %s/%s %s", p, st, wt, we, q))
			}
			rows.Close()
			t.Fatalf("the worker never blocked on the account row; job %+v; worker sessions:\n%s", j, strings.Join(sessions, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockAccount takes the account row the way a long transaction would, so
// the worker's next balance update waits on it.
func lockAccount(t *testing.T, conn *pgx.Conn, accountID int64) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// NO KEY UPDATE: inserts that reference the account (jobs, ledger) go on.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID); err != nil {
		t.Fatal(err)
	}
	return tx
}

// 3. The worker's Postgres session is terminated while a stage commits
// its money: first the hold, then the capture. Each time the transaction
// rolls back, the stage retries on a new connection, and the job ends
// with exactly one hold and one capture.
func TestFaultPostgresTerminated(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, LLMDelay: 3 * time.Second, Configure: fast})
	appName := "recap-worker-" + token()
	e.StartWorkerWith(t, func(c *app.Config) { c.DatabaseURL += "&application_name=" + appName })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	terminate := func(pid int) {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("pg_terminate_backend(%d): %v %v", pid, ok, err)
		}
	}

	// The hold: the account is locked before the job exists, so the first
	// balance update of the job is what blocks.
	tx := lockAccount(t, conn, e.KeyRow.AccountID)
	ids := e.SubmitBatch(t, "", e.Host.PageURL())
	terminate(workerBackend(t, e, conn, appName, ids[0]))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// The capture: once the hold exists the next update of the account is
	// the capture in Finish (the fake LLM takes 3s, ample time to lock).
	apptest.Poll(t, 2*time.Minute, "the hold", func() bool {
		if j, _ := e.Store.Job(ctx, ids[0]); j != nil && recap.Terminal(j.State) {
			t.Fatalf("the job ended (%s %s) with ledger %v before the capture could be interrupted", j.State, j.ErrorMessage, e.LedgerKinds(t, ids[0]))
		}
		return e.LedgerKinds(t, ids[0])["hold"] == 1
	})
	tx = lockAccount(t, conn, e.KeyRow.AccountID)
	if j, _ := e.Store.Job(ctx, ids[0]); recap.Terminal(j.State) {
		t.Fatalf("the job ended (%s) before the account was locked again", j.State)
	}
	terminate(workerBackend(t, e, conn, appName, ids[0]))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	j := e.WaitJobs(t, 2*time.Minute, ids...)[0]
	if j.State != recap.StateSucceeded {
		t.Fatalf("job %s: %s %s", j.State, j.ErrorCode, j.ErrorMessage)
	}
	e.CheckInvariants(t, ids...)
	if k := e.LedgerKinds(t, j.ID); k["hold"] != 1 || k["capture"] != 1 || k["release"] != 0 {
		t.Errorf("ledger %v, want one hold and one capture", k)
	}
	// The retried summary stage found the saved summary: one LLM call.
	if n := e.Fake.ChatCalls(); n != 1 {
		t.Errorf("%d LLM calls, want 1", n)
	}
}

// 4. Speech-to-text refuses the audio for good (HTTP 400): the job fails
// at once with a clear error and its hold is released exactly once.
func TestFaultSTTPermanent(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: fast})
	e.Fake.SetTranscriptionError(http.StatusBadRequest)
	ids := e.SubmitBatch(t, "", e.Host.NoSubsPageURL())
	j := e.WaitJobs(t, 2*time.Minute, ids...)[0]
	if j.State != recap.StateFailed || j.ErrorCode != recap.CodeTranscription || !strings.Contains(j.ErrorMessage, "speech-to-text") {
		t.Fatalf("job %s %s %q, want failed %s with a clear message", j.State, j.ErrorCode, j.ErrorMessage, recap.CodeTranscription)
	}
	e.CheckInvariants(t, ids...)
	if k := e.LedgerKinds(t, j.ID); k["hold"] != 1 || k["release"] != 1 || k["capture"] != 0 {
		t.Errorf("ledger %v, want one hold and one release", k)
	}
	bal, err := e.Store.Balance(context.Background(), e.KeyRow.AccountID)
	if err != nil || bal.Available != 600*60 || bal.Held != 0 {
		t.Errorf("balance %+v %v, want everything back", bal, err)
	}
	// Permanent: no retries of the transcript stage.
	if n := e.Fake.TranscriptionCalls(); n != 1 {
		t.Errorf("%d transcription calls, want 1", n)
	}
}

// 5. The LLM hangs: each summary attempt times out, is retried, and after
// the last one the job fails cleanly, its hold released once.
func TestFaultLLMHangs(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		fast(c)
		c.SummaryTimeout = 2 * time.Second
		c.MaxRetry = 2
	}})
	e.Fake.SetHang(true)
	ids := e.SubmitBatch(t, "", e.Host.PageURL())
	j := e.WaitJobs(t, 2*time.Minute, ids...)[0]
	if j.State != recap.StateFailed || j.ErrorCode != recap.CodeUpstream ||
		!(strings.Contains(j.ErrorMessage, "language model") || strings.Contains(j.ErrorMessage, "timed out")) {
		t.Fatalf("job %s %s %q, want failed %s", j.State, j.ErrorCode, j.ErrorMessage, recap.CodeUpstream)
	}
	// Three attempts (MaxRetry 2), each ended by its time-out and counted
	// in Postgres; then asynq archived the task, the job having failed.
	// (A batch job's stages are not chained: asynq ran all three.)
	var info *asynq.TaskInfo
	apptest.Poll(t, time.Minute, "the summary task to be archived", func() bool {
		var err error
		info, err = e.Deps.Inspector.GetTaskInfo(e.Config.QueuePrefix+jobs.QueueBatch, jobs.TaskID(j.ID, jobs.TypeSummary))
		return err == nil && info.State == asynq.TaskStateArchived
	})
	attempts, err := e.Store.Attempts(context.Background(), j.ID)
	if err != nil || attempts != 3 || info.Retried != 2 || e.Fake.ChatCalls() < 1 {
		t.Errorf("%d summary attempts (want 3), task retried %d times (want 2), %d LLM calls, %v", attempts, info.Retried, e.Fake.ChatCalls(), err)
	}
	e.CheckInvariants(t, ids...)
	if k := e.LedgerKinds(t, j.ID); k["hold"] != 1 || k["release"] != 1 {
		t.Errorf("ledger %v, want one hold and one release", k)
	}
}

// 6. Hostile URLs. The API refuses internal targets up front (any
// encoding); what only shows up later — a redirect, a page's <video src>
// or <track src> — is refused by the worker's egress proxy and fails the
// job with url_not_allowed. No hold is placed and the internal host, a
// working video server on 127.0.0.2, never sees a connection.
func TestFaultHostileURLs(t *testing.T) {
	t.Parallel()
	// The loopback test host (127.0.0.1) plays a public site; 127.0.0.2 is
	// the inside of the network.
	allowHost := func(c *app.Config) {
		fast(c)
		c.AllowPrivateNetworks = false
		c.EgressAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	e := apptest.Start(t, apptest.Options{STT: true, Configure: allowHost})
	inside := mediatest.NewHostAt(t, "127.0.0.2")
	_, port, _ := strings.Cut(inside.Addr(), ":")
	e.Host.Serve("/redirect", http.RedirectHandler(inside.PageURL(), http.StatusFound))
	e.Host.Serve("/inner-video.html", mediatest.PageHandler("inner video", inside.MediaURL(), ""))
	e.Host.Serve("/inner-track.html", mediatest.PageHandler("inner track", "talk.webm", inside.URL(mediatest.SubtitlePath)))
	marker := filepath.Join(t.TempDir(), "pwned")

	type result struct {
		status int
		code   string
	}
	chat := func(t *testing.T, videoURL string) result {
		q, _ := json.Marshal(videoURL)
		res, b := post(t, e, "/chat/completions", e.Key, `{"model":"bibigpt","messages":[{"role":"user","content":[{"type":"video_url","video_url":`+
			string(q)+`}]}]}`)
		var shape errorShape
		_ = json.Unmarshal(b, &shape)
		code := ""
		if shape.Error.Code != nil {
			code = *shape.Error.Code
		}
		return result{res.StatusCode, code}
	}
	tests := []struct {
		name string
		url  string
		code string
	}{
		{"loopback", inside.PageURL(), "url_not_allowed"},
		{"loopback hex", "http://0x7f000002:" + port + "/talk.html", "url_not_allowed"},
		{"loopback decimal", "http://2130706434:" + port + "/talk.html", "url_not_allowed"},
		{"loopback short", "http://127.2:" + port + "/talk.html", "url_not_allowed"},
		{"loopback mapped ipv6", "http://[::ffff:127.0.0.2]:" + port + "/talk.html", "url_not_allowed"},
		{"ipv6 loopback", "http://[::1]:" + port + "/talk.html", "url_not_allowed"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", "url_not_allowed"},
		{"metadata decimal", "http://2852039166/latest/meta-data/", "url_not_allowed"},
		{"redirect to loopback", e.Host.URL("/redirect"), "url_not_allowed"},
		{"internal video src", e.Host.URL("/inner-video.html"), "url_not_allowed"},
		{"internal track src", e.Host.URL("/inner-track.html"), "url_not_allowed"},
		{"exec as url", "--exec=touch " + marker, "invalid_url"},
		{"exec after url", "--exec touch " + marker + " " + e.Host.PageURL(), "invalid_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := chat(t, tt.url); got.status != 400 || got.code != tt.code {
				t.Fatalf("got %d %s, want 400 %s", got.status, got.code, tt.code)
			}
		})
	}

	// Defence in depth: an API that admits everything (a name that resolved
	// outside at admission and inside later behaves the same) in front of a
	// worker whose proxy enforces the policy.
	// In both ways of running yt-dlp (EXTRACTOR_MODE).
	for _, mode := range []media.ExtractorMode{media.ExtractorCLI, media.ExtractorPool} {
		t.Run("worker enforces on its own/"+mode.String(), func(t *testing.T) {
			t.Parallel()
			open := apptest.Start(t, apptest.Options{NoWorker: true, Configure: fast})
			open.StartWorkerWith(t, func(c *app.Config) {
				allowHost(c)
				c.ExtractorMode, c.ExtractorPool = mode, 1
			})
			ids := open.SubmitBatch(t, "", inside.PageURL(), e.Host.URL("/redirect"), e.Host.URL("/inner-track.html"))
			for _, j := range open.WaitJobs(t, 2*time.Minute, ids...) {
				if j.State != recap.StateFailed || j.ErrorCode != recap.CodeURLNotAllowed {
					t.Errorf("job %s %s %q, want failed url_not_allowed", j.State, j.ErrorCode, j.ErrorMessage)
				}
				if k := open.LedgerKinds(t, j.ID); len(k) != 0 {
					t.Errorf("ledger %v, want nothing", k)
				}
			}
			open.CheckInvariants(t, ids...)
		})
	}

	t.Cleanup(func() {
		if n := inside.Conns(); n != 0 {
			t.Errorf("the internal host accepted %d connections", n)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Errorf("an --exec passed as URL ran: %v", err)
		}
		ctx := context.Background()
		var holds int
		if err := e.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'hold'`, e.KeyRow.AccountID).Scan(&holds); err != nil || holds != 0 {
			t.Errorf("%d holds (%v), want none", holds, err)
		}
		var ids []string
		rows, err := e.Store.Pool().Query(ctx, `SELECT id::text FROM jobs`)
		if err == nil {
			ids, _ = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		e.CheckInvariants(t, ids...)
	})
}
