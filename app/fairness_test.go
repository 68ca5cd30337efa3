package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// dripPages serves copies of the test talk's page that first drip an HTML
// comment one byte every 50 ms, until the test opens them (or a minute has
// passed: they stop by themselves), then send the page.
type dripPages struct {
	page    []byte
	open    chan struct{}
	started chan string
	ended   atomic.Int64

	mu    sync.Mutex
	paths map[string]bool
}

func newDripPages(t *testing.T, e *apptest.Env) *dripPages {
	t.Helper()
	res, err := http.Get(e.Host.PageURL())
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return &dripPages{page: page, open: make(chan struct{}), started: make(chan string, 100), paths: map[string]bool{}}
}

func (d *dripPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	first := !d.paths[r.URL.Path]
	d.paths[r.URL.Path] = true
	d.mu.Unlock()
	if first {
		d.started <- r.URL.Path
	}
	defer d.ended.Add(1)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fl, _ := w.(http.Flusher)
	io.WriteString(w, "<!-- ") //nolint:errcheck
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	bound := time.After(time.Minute)
drip:
	for {
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-d.open:
			break drip
		case <-bound:
			break drip
		case <-r.Context().Done():
			return
		case <-tick.C:
			io.WriteString(w, ".") //nolint:errcheck
		}
	}
	io.WriteString(w, " -->\n") //nolint:errcheck
	w.Write(d.page)             //nolint:errcheck
}

// startedPaths returns the distinct drip pages requested so far.
func (d *dripPages) startedPaths() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.paths)
}

// meLimits reads /me's limits for a key.
func meLimits(t *testing.T, e *apptest.Env, key string) (max, active, waiting int) {
	t.Helper()
	res, b := call(t, http.MethodGet, e.URL+"/me", key, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/me: %d %s", res.StatusCode, b)
	}
	var me struct {
		Limits struct {
			Max     int `json:"max_active_jobs"`
			Active  int `json:"active_jobs"`
			Waiting int `json:"waiting_jobs"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(b, &me); err != nil {
		t.Fatal(err)
	}
	return me.Limits.Max, me.Limits.Active, me.Limits.Waiting
}

// TestAccountCapKeepsOthersRunning (issue 27 item 4): account A submits
// more jobs on pages that answer a byte at a time than the worker has
// slots. A runs at most MAX_ACTIVE_JOBS_PER_KEY of them at once; the
// rest wait without holding a worker slot, so account B's chat completion
// is answered while A's pages are all still dripping. Once they end,
// every job of A succeeds, charged once: waiting lost nothing.
func TestAccountCapKeepsOthersRunning(t *testing.T) {
	t.Parallel()
	const workers, capA, jobsA = 4, 2, 6
	e := apptest.Start(t, apptest.Options{Minutes: 600, Configure: func(c *app.Config) {
		fast(c)
		c.WorkerConcurrency = workers
		c.MaxActiveJobsPerKey = capA
	}})
	drip := newDripPages(t, e)
	urls := make([]string, jobsA)
	for i := range urls {
		path := fmt.Sprintf("/drip%d.html", i) // beside the talk: its page links the media relatively
		e.Host.Serve(path, drip)
		urls[i] = e.Host.URL(path)
	}
	_, keyA := e.NewKey(t, "a", 600)
	body, _ := json.Marshal(map[string]any{"urls": urls})
	res, b := post(t, e, "/jobs", keyA, string(body))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("A's batch: %d %s", res.StatusCode, b)
	}
	var created struct {
		Data []recap.View `json:"data"`
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != jobsA {
		t.Fatalf("A's batch: %s", b)
	}
	for range capA {
		select {
		case <-drip.started:
		case <-time.After(time.Minute):
			t.Fatal("A's jobs never reached their pages")
		}
	}
	// The rest of A's jobs find A at its cap and are put back.
	deadline := time.Now().Add(time.Minute)
	for {
		max, active, waiting := meLimits(t, e, keyA)
		if max != capA {
			t.Fatalf("/me max_active_jobs = %d, want %d", max, capA)
		}
		if active == capA && waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A: %d active, %d waiting; want %d active and some waiting", active, waiting, capA)
		}
		time.Sleep(20 * time.Millisecond) // polling /me, not a synchronization
	}

	// B's chat completion runs beside A's stuck jobs.
	res, b = call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, chatBody(e.Host.PageURL(), "Summarize"))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("B's completion: %d %s", res.StatusCode, b)
	}
	if n := drip.ended.Load(); n != 0 {
		t.Fatalf("%d of A's pages ended before B's answer; B waited for A", n)
	}
	if n := drip.startedPaths(); n != capA {
		t.Fatalf("A reached %d pages at once, want its cap %d", n, capA)
	}
	for _, v := range created.Data {
		if j, err := e.Store.Job(context.Background(), v.ID); err != nil || recap.Terminal(j.State) {
			t.Fatalf("A's job %s ended before B's answer (%v)", v.ID, err)
		}
	}
	if _, active, _ := meLimits(t, e, e.Key); active != 0 {
		t.Errorf("B shows %d active jobs after its answer", active)
	}
	if n, err := testutil.GatherAndCount(e.Deps.Metrics.Registry(), "recap_account_slots_waiting_total"); err != nil || n == 0 {
		t.Errorf("recap_account_slots_waiting_total: %d series, %v", n, err)
	}
	if v := gaugeOf(t, e, "recap_account_slots_active"); v != capA {
		t.Errorf("recap_account_slots_active = %v, want %d", v, capA)
	}

	// A's pages end: every job of A runs in its turn and succeeds once.
	close(drip.open)
	ids := make([]string, len(created.Data))
	for i, v := range created.Data {
		ids[i] = v.ID
		if got := waitJob(t, e, keyA, v.ID); got["state"] != recap.StateSucceeded {
			t.Errorf("A's job %s: %v", v.ID, got)
		}
	}
	e.CheckInvariants(t, ids...)
	for _, id := range ids {
		if k := e.LedgerKinds(t, id); k["hold"] != 1 || k["capture"] != 1 {
			t.Errorf("A's job %s ledger %v, want one hold and one capture", id, k)
		}
	}
}

// gaugeOf finds a gauge's current value in the environment's registry.
func gaugeOf(t *testing.T, e *apptest.Env, name string) float64 {
	t.Helper()
	mfs, err := e.Deps.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 && mf.Metric[0].Gauge != nil {
			return mf.Metric[0].Gauge.GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestImageFailuresAreInvalidImage (issue 27 item 5, issue 28 item 5): an
// image_url the image host refuses (404, 410), that redirects to itself
// or in a loop, or whose bytes are no image, fails the completion at once
// with 400 invalid_image, after one attempt. A 503 is retried, and the
// completion succeeds once the host answers.
func TestImageFailuresAreInvalidImage(t *testing.T) {
	t.Parallel()
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
	var flaky atomic.Int64
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone.png":
			w.WriteHeader(http.StatusGone)
		case "/self.png":
			http.Redirect(w, r, "/self.png", http.StatusFound)
		case "/ping.png":
			http.Redirect(w, r, "/pong.png", http.StatusMovedPermanently)
		case "/pong.png":
			http.Redirect(w, r, "/ping.png", http.StatusMovedPermanently)
		case "/page.png":
			w.Header().Set("Content-Type", "image/png")
			io.WriteString(w, "<html><body>a page, not a picture</body></html>") //nolint:errcheck
		case "/truncated.png":
			w.Write(png[:24]) //nolint:errcheck
		case "/flaky.png":
			if flaky.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write(png) //nolint:errcheck
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(images.Close)
	e := apptest.Start(t, apptest.Options{Configure: fast})
	ask := func(path string) (*http.Response, []byte) {
		b, _ := json.Marshal(map[string]any{"model": "bibigpt", "messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "text", "text": "What is in this picture?"},
			{"type": "image_url", "image_url": map[string]string{"url": images.URL + path}}}}}})
		return call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, string(b))
	}
	var ids []string
	for _, path := range []string{"/missing.png", "/gone.png", "/self.png", "/ping.png", "/page.png", "/truncated.png"} {
		res, body := ask(path)
		if res.StatusCode != http.StatusBadRequest || errorCode(body) != recap.CodeInvalidImage {
			t.Errorf("%s: %d %s, want 400 invalid_image", path, res.StatusCode, body)
			continue
		}
		id := res.Header.Get("X-Recap-Job-Id")
		n, err := e.Store.Attempts(context.Background(), id)
		if err != nil || n != 1 {
			t.Errorf("%s: job %s made %d attempts (%v), want 1", path, id, n, err)
		}
		ids = append(ids, id)
	}
	res, body := ask("/flaky.png")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/flaky.png: %d %s, want the retry to succeed", res.StatusCode, body)
	}
	id := res.Header.Get("X-Recap-Job-Id")
	if n, err := e.Store.Attempts(context.Background(), id); err != nil || n != 2 {
		t.Errorf("/flaky.png: %d attempts (%v), want 2", n, err)
	}
	e.CheckInvariants(t, append(ids, id)...)
}
