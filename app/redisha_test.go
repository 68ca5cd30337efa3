package app_test

// Redis high availability: a whole Recap (API, worker, reconciler) on
// real Sentinel and Cluster deployments started by the tests on loopback
// (apptest.StartSentinels, apptest.StartCluster). Each runs the same
// suite: distinct videos in a batch, synchronous and streaming
// completions, jobs submitted after the disruption, the per-key rate
// limit, and Env.CheckInvariants at the end.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
)

// haPages adds n pages, each a distinct video (its own page URL, so its
// own canonical key and yt-dlp id) of the test talk, and returns them.
func haPages(e *apptest.Env, n int) []string {
	tok := token()
	out := make([]string, n)
	for i := range out {
		p := fmt.Sprintf("/ha-%s-%d.html", tok, i)
		e.Host.Serve(p, mediatest.PageHandler(fmt.Sprintf("HA talk %d", i), mediatest.MediaPath, mediatest.SubtitlePath))
		out[i] = e.Host.URL(p)
	}
	return out
}

// haCompletion is one chat completion the suite runs in the background.
type haCompletion struct {
	stream  bool
	jobID   string
	content string
	err     error
}

// runCompletion asks for a summary of url and records the job id (the
// completion id is "chatcmpl-" + job id) and the content.
func runCompletion(ctx context.Context, cl openai.Client, url string, c *haCompletion) {
	p := userMessage(url)
	if !c.stream {
		resp, err := cl.Chat.Completions.New(ctx, p)
		if err != nil {
			c.err = err
			return
		}
		c.jobID, c.content = strings.TrimPrefix(resp.ID, "chatcmpl-"), resp.Choices[0].Message.Content
		return
	}
	s := cl.Chat.Completions.NewStreaming(ctx, p)
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if c.err = s.Err(); c.err == nil {
		if len(acc.Choices) == 0 {
			c.err = fmt.Errorf("stream ended without a choice")
			return
		}
		c.jobID, c.content = strings.TrimPrefix(acc.ID, "chatcmpl-"), acc.Choices[0].Message.Content
	}
}

// haSuite runs jobs on a Recap whose REDIS_URL is redisURL and calls
// disrupt while they are in flight (one past its download, three or
// more still queued, resolving or transcribing). Every job must succeed, each charged exactly once, each
// stream with exactly one terminal event; the rate limit must hold.
func haSuite(t *testing.T, redisURL string, disrupt func(e *apptest.Env)) *apptest.Env {
	t.Helper()
	logs := &apptest.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Recap's warnings and errors:\n%s", warnings(logs.String(), 60))
		}
	})
	e := apptest.Start(t, apptest.Options{Log: logs, LLMDelay: 800 * time.Millisecond, Configure: func(c *app.Config) {
		fast(c)
		// A follower whose final event went with the old master falls back to
		// the job row after an idle heartbeat.
		c.Heartbeat = time.Second
		c.RedisURL = redisURL
		c.WorkerConcurrency = 3
		c.SyncWait = 8 * time.Minute
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pages := haPages(e, 10)

	// In flight: a batch of six videos and two completions, one of them
	// streaming, on two more.
	ids := e.SubmitBatch(t, "", pages[:6]...)
	comps := make([]*haCompletion, 2)
	var wg sync.WaitGroup
	for i := range comps {
		comps[i] = &haCompletion{stream: i%2 == 1}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runCompletion(ctx, e.Client, pages[6+i], comps[i])
		}()
	}
	apptest.Poll(t, 5*time.Minute, "a job past its download while three are still running", func() bool {
		past, running := 0, 0
		for _, id := range ids {
			j, err := e.Store.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			switch j.State {
			case recap.StateSummarizing, recap.StateSucceeded:
				past++
			case recap.StateQueued, recap.StateResolving, recap.StateTranscribing:
				running++
			}
		}
		return past > 0 && running >= 3
	})

	t.Logf("disrupt at %s", time.Now().UTC().Format(time.RFC3339Nano))
	disrupt(e)
	t.Logf("disrupt done at %s", time.Now().UTC().Format(time.RFC3339Nano))

	// After: a batch and a completion go through the same deployment.
	ids = append(ids, e.SubmitBatch(t, "", pages[8])...)
	after := &haCompletion{}
	runCompletion(ctx, e.Client, pages[9], after)
	comps = append(comps, after)
	wg.Wait()
	for i, c := range comps {
		if c.err != nil {
			t.Errorf("completion %d (stream %v): %v", i, c.stream, c.err)
			continue
		}
		checkSummary(t, c.content)
		ids = append(ids, c.jobID)
	}

	for _, j := range e.WaitJobs(t, 5*time.Minute, ids...) {
		if j.State != recap.StateSucceeded {
			t.Errorf("job %s: %s %s %s", j.ID, j.State, j.ErrorCode, j.ErrorMessage)
		}
	}
	for _, id := range ids {
		checkEventsEnd(t, e, id)
	}
	e.CheckInvariants(t, ids...)
	for _, id := range ids {
		if k := e.LedgerKinds(t, id); k["hold"] != 1 || k["capture"] != 1 || k["release"] != 0 {
			t.Errorf("job %s ledger %v, want one hold and one capture", id, k)
		}
	}
	if len(ids) != len(pages) {
		t.Errorf("%d jobs accounted for, want %d", len(ids), len(pages))
	}
	checkRateLimit(t, e)
	return e
}

// checkEventsEnd: a client following a finished job's events from the
// start (GET /jobs/{id}/events) gets its end — the result or error event,
// or the job's final view — rather than keep-alives forever.
func checkEventsEnd(t *testing.T, e *apptest.Env, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("events of job %s: %v", id, err)
		return
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var seen []string
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			seen = append(seen, ev)
			if ev == "result" || ev == "error" || ev == "job" {
				return
			}
		}
	}
	j, _ := e.Store.Job(context.Background(), id)
	state := "unknown"
	if j != nil {
		state = j.State
	}
	t.Errorf("events of job %s (%s in Postgres) never ended: saw %v, then %v", id, state, seen, sc.Err())
}

// checkRateLimit: a key of 3 requests a minute gets 3 (the limiter's
// budget lives in Redis, so the remaining count goes down) and a 429.
// A limiter that could not reach Redis would let every request through
// without headers.
func checkRateLimit(t *testing.T, e *apptest.Env) {
	t.Helper()
	_, secret, err := e.Store.CreateKey(context.Background(), store.NewKey{Name: "ha-rpm", Seconds: 60, RPM: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/models", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got = append(got, strconv.Itoa(res.StatusCode)+"/"+res.Header.Get("X-Ratelimit-Remaining-Requests"))
	}
	if want := []string{"200/2", "200/1", "200/0", "429/0"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rate limit over HA Redis: status/remaining %v, want %v", got, want)
	}
}

// TestRedisSentinelFailover: REDIS_URL names three sentinels; while jobs
// run, SENTINEL FAILOVER promotes the replica. Nothing is lost (the
// reconciler re-enqueues a stage whose task the old master took with
// it), nothing is charged twice, and Recap ends up writing to the new
// master.
func TestRedisSentinelFailover(t *testing.T) {
	// A job's final event written to the old master in the second before
	// clients see the switch is lost when the old master resyncs; its
	// followers then fall back to the job row (core.Follow).
	t.Parallel()
	s := apptest.StartSentinels(t)
	oldMaster := s.Master.Addr
	e := haSuite(t, s.URL, func(e *apptest.Env) {
		// The final events written to the old master in the switch's last
		// moment may be lost: followers end from the job rows instead
		// (checkEventsEnd), the rows and the ledger stay exact.
		e.LossyEvents = true
		s.Failover(t)
	})
	if s.Master.Addr == oldMaster {
		t.Fatal("no failover happened")
	}
	// Recap's connections follow the new master.
	port, err := e.Deps.Redis.ConfigGet(context.Background(), "port").Result()
	if err != nil || port["port"] != strconv.Itoa(s.Master.Port) {
		t.Errorf("Recap's Redis is on port %v (%v), want the new master's %d", port, err, s.Master.Port)
	}
}

// TestRedisCluster: REDIS_URL names a three-master Redis Cluster. While
// jobs run, every hash slot holding a key moves to another master (a live
// reshard: clients meet ASK, TRYAGAIN and MOVED); every job finishes,
// charged once, and Recap's keys end up spread over the masters.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := apptest.StartCluster(t)
	haSuite(t, c.URL, func(*apptest.Env) {
		if n := c.Reshard(t); n == 0 {
			t.Error("the reshard found no slot holding a key")
		} else {
			t.Logf("resharded %d slots mid-run", n)
		}
	})
	spread := 0
	for _, n := range c.KeysPerNode(t) {
		if n > 0 {
			spread++
		}
	}
	if spread < 2 {
		t.Errorf("keys per node %v: Recap's keys did not spread over the cluster", c.KeysPerNode(t))
	}
}

// warnings is the last n log lines at WARN or ERROR.
func warnings(log string, n int) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}
