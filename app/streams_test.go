package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// MAX_STREAMS_PER_KEY: a key holds at most that many streams at once,
// counted across every base path and every API replica sharing Redis; the
// next gets 429 too_many_streams in OpenAI's shape, before any job is
// created; another key is not affected, and a closed stream frees its slot.
func TestMaxStreamsPerKey(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.MaxStreamsPerKey = 2 }})
	ctx := context.Background()
	// A second API replica on the same Postgres and Redis.
	replica := e.Server.URL
	d2, err := app.Connect(ctx, e.Config, e.Deps.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d2.Close)
	hs := httptest.NewServer(app.NewAPI(e.Config, d2))
	t.Cleanup(hs.Close)
	s2 := hs.URL

	job := func() string {
		vk, _ := jobs.VideoKey(e.Host.PageURL())
		j := &recap.Job{AccountID: e.KeyRow.AccountID, APIKeyID: e.KeyRow.ID, URL: e.Host.PageURL(), VideoKey: vk}
		if err := e.Deps.Jobs.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	open := func(base, path, key string) (*http.Response, context.CancelFunc) {
		t.Helper()
		rctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res, func() {
			cancel()
			res.Body.Close()
		}
	}
	a, b := job(), job()
	res1, close1 := open(replica, "/api/v1/jobs/"+a+"/events", e.Key)
	defer close1()
	res2, close2 := open(s2, "/v1/jobs/"+b+"/events", e.Key)
	defer close2()
	for _, r := range []*http.Response{res1, res2} {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stream within the cap: %d", r.StatusCode)
		}
	}

	refused := func(r *http.Response) {
		t.Helper()
		if r.StatusCode != http.StatusTooManyRequests {
			r.Body.Close()
			t.Fatalf("a stream past the cap: %d, want 429", r.StatusCode)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if r.StatusCode != http.StatusTooManyRequests || json.Unmarshal(openAIShaped(body), &e) != nil || e.Error.Code == nil ||
			*e.Error.Code != "too_many_streams" || e.Error.Message == "" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("a stream past the cap: %d %s (Retry-After %q)", r.StatusCode, body, r.Header.Get("Retry-After"))
		}
	}
	for _, base := range []string{replica, s2} {
		r, c := open(base, "/api/v1/jobs/"+a+"/events", e.Key)
		refused(r)
		c()
	}
	// A streamed completion is refused before it creates a job.
	before, err := e.Store.ListJobs(ctx, store.JobFilter{AccountID: e.KeyRow.AccountID})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, replica+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"bibigpt","stream":true,"messages":[{"role":"user","content":"`+e.Host.NoSubsPageURL()+`"}]}`))
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	refused(r)
	after, err := e.Store.ListJobs(ctx, store.JobFilter{AccountID: e.KeyRow.AccountID})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("a refused stream created a job: %d jobs, %d before", len(after), len(before))
	}

	// Another key has slots of its own.
	_, other := e.NewKey(t, "other", 10)
	r, c := open(replica, "/api/v1/jobs/"+a+"/events", other)
	if r.StatusCode != http.StatusNotFound { // not its job: a 404 past the limiter
		t.Fatalf("another key: %d", r.StatusCode)
	}
	c()

	// A closed stream gives its slot back.
	close1()
	apptest.Poll(t, 10*time.Second, "the closed stream's slot", func() bool {
		r, c := open(s2, "/api/v1/jobs/"+a+"/events", e.Key)
		defer c()
		return r.StatusCode == http.StatusOK
	})
}
