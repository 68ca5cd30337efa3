package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// seed stores a video and its transcript as the resolve and transcript
// stages would, so jobs for it run without yt-dlp (whose start-up costs
// seconds a call here). videoDuration 0 is an extractor that reports no
// duration: the job is then priced from the transcript.
func seed(t *testing.T, e *apptest.Env, url string, videoDuration float64) {
	t.Helper()
	ctx := context.Background()
	key, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(media.Info{ID: "talk", Extractor: "generic", Title: mediatest.Title, WebpageURL: url, Duration: videoDuration,
		Subtitles: []media.SubtitleTrack{{Lang: "en", Ext: "vtt", URL: e.Host.URL(mediatest.SubtitlePath)}}})
	if err := e.Store.SaveVideo(ctx, &store.Video{Key: key, URL: url, Title: mediatest.Title, Duration: videoDuration, Info: info}); err != nil {
		t.Fatal(err)
	}
	segs := []recap.Segment{
		{Start: 1, End: 6, Text: "Welcome to the Recap test video"},
		{Start: 8, End: 13, Text: "First, subtitles are parsed into segments"},
		{Start: 14, End: 19.5, Text: "Finally, long recordings are split at silences"},
	}
	if err := e.Store.SaveTranscript(ctx, &recap.Transcript{VideoKey: key, Source: "subtitles", Segments: segs, Duration: 19.5}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSpend races one-minute jobs on distinct videos against a
// smaller balance: the ledger admits exactly as many as it covers, the
// rest get insufficient_quota, and the books balance.
func TestConcurrentSpend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		minutes int64
		jobs    int
		// videoDuration 0: the metadata has no duration (yt-dlp's generic
		// extractor) and the hold waits for the transcript.
		videoDuration float64
	}{
		{"priced at resolve", 10, 50, 20},
		{"priced from the transcript", 10, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := apptest.Start(t, apptest.Options{Minutes: tt.minutes, NoLLM: true})
			ctx := context.Background()
			urls := make([]string, tt.jobs)
			for i := range urls {
				urls[i] = fmt.Sprintf("%s?v=%d", e.Host.PageURL(), i)
				seed(t, e, urls[i], tt.videoDuration)
			}
			var wg sync.WaitGroup
			errs := make([]error, tt.jobs)
			for i := range urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.Client.Chat.Completions.New(ctx, userMessage(urls[i]))
				}()
			}
			wg.Wait()
			ok, quota := 0, 0
			for i, err := range errs {
				var apiErr *openai.Error
				switch {
				case err == nil:
					ok++
				case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests && apiErr.Code == "insufficient_quota" &&
					apiErr.Type == "insufficient_quota" && apiErr.Response.Header.Get("X-Should-Retry") == "false":
					quota++
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if want := int(tt.minutes); ok != want || quota != tt.jobs-want {
				t.Fatalf("%d succeeded and %d got insufficient_quota; want %d and %d", ok, quota, want, tt.jobs-want)
			}
			bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
			if err != nil {
				t.Fatal(err)
			}
			if bal.Available != 0 || bal.Held != 0 || bal.UsedThisMonth != tt.minutes*60 {
				t.Fatalf("balance %+v; want 0 available, 0 held, %d s used", bal, tt.minutes*60)
			}
			storetest.CheckLedger(t, e.Store)
		})
	}
}

// call sends one request and returns the response with its body read.
func call(t *testing.T, method, url, auth, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func errorCode(b []byte) string {
	var shape errorShape
	if json.Unmarshal(b, &shape) != nil || shape.Error.Code == nil {
		return ""
	}
	return *shape.Error.Code
}

func chatBody(url, prompt string) string {
	b, _ := json.Marshal(map[string]any{"model": "bibigpt", "messages": []map[string]any{{"role": "user", "content": prompt + " " + url}}})
	return string(b)
}

func countRows(t *testing.T, e *apptest.Env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.Store.Pool().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdempotentCompletion sends one request 20 times at once with one
// Idempotency-Key: one job, one hold, 20 identical replies.
func TestIdempotentCompletion(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 5})
	url := e.Host.PageURL() + "?v=idem"
	seed(t, e, url, 20)
	body := chatBody(url, "Summarize")
	const n = 20
	type reply struct {
		status   int
		job      string
		replayed bool
		body     []byte
	}
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, b := call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, body, "Idempotency-Key", "order-42")
			replies[i] = reply{res.StatusCode, res.Header.Get("X-Recap-Job-Id"), res.Header.Get("Idempotent-Replayed") == "true", b}
		}()
	}
	wg.Wait()
	firsts := 0
	for i, r := range replies {
		if !r.replayed {
			firsts++
		}
		if r.status != http.StatusOK || r.job == "" {
			t.Fatalf("reply %d: %d %s", i, r.status, r.body)
		}
		if r.job != replies[0].job || !bytes.Equal(r.body, replies[0].body) {
			t.Fatalf("reply %d differs:\n%s %s\n%s %s", i, r.job, r.body, replies[0].job, replies[0].body)
		}
	}
	if firsts != 1 {
		t.Fatalf("%d replies were not replays; want 1", firsts)
	}
	acct := e.KeyRow.AccountID
	if jobs := countRows(t, e, `SELECT count(*) FROM jobs WHERE account_id = $1`, acct); jobs != 1 {
		t.Fatalf("%d jobs; want 1", jobs)
	}
	if holds := countRows(t, e, `SELECT count(*) FROM ledger_entries WHERE account_id = $1 AND kind = 'hold'`, acct); holds != 1 {
		t.Fatalf("%d holds; want 1", holds)
	}

	cases := []struct {
		name     string
		key      string
		body     string
		status   int
		code     string
		replayed bool
	}{
		{"same key and body after the end", "order-42", body, 200, "", true},
		{"same key, other body", "order-42", chatBody(url, "Summarize briefly"), 409, "idempotency_key_reused", false},
		{"same key, other route", "order-42", `{"urls":["` + url + `"]}`, 409, "idempotency_key_reused", false},
		{"key too long", strings.Repeat("k", 256), body, 400, "invalid_idempotency_key", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := e.URL + "/chat/completions"
			if strings.HasPrefix(c.body, `{"urls"`) {
				target = e.URL + "/jobs"
			}
			res, b := call(t, http.MethodPost, target, e.Key, c.body, "Idempotency-Key", c.key)
			if res.StatusCode != c.status || errorCode(b) != c.code {
				t.Fatalf("got %d %s; want %d %s", res.StatusCode, b, c.status, c.code)
			}
			if c.replayed && (res.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(b, replies[0].body)) {
				t.Fatalf("not the first reply (replayed=%q):\n%s\n%s", res.Header.Get("Idempotent-Replayed"), b, replies[0].body)
			}
			if c.status == 409 && res.Header.Get("X-Should-Retry") != "false" {
				t.Error("409 without x-should-retry: false (the SDKs retry 409)")
			}
		})
	}

	// Once expired, the key names a new request.
	if _, err := e.Store.Pool().Exec(context.Background(), `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE account_id = $1`, acct); err != nil {
		t.Fatal(err)
	}
	res, b := call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, chatBody(url, "Summarize briefly"), "Idempotency-Key", "order-42")
	if res.StatusCode != 200 || res.Header.Get("X-Recap-Job-Id") == replies[0].job {
		t.Fatalf("expired key: %d %s", res.StatusCode, b)
	}
	storetest.CheckLedger(t, e.Store)
}

// TestIdempotentJobs: concurrent duplicates of a batch create its jobs once.
func TestIdempotentJobs(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 5, NoWorker: true})
	var urls []string
	for i := range 3 {
		urls = append(urls, fmt.Sprintf("%s?v=batch%d", e.Host.PageURL(), i))
	}
	b, _ := json.Marshal(map[string]any{"urls": urls})
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, body := call(t, http.MethodPost, e.URL+"/jobs", e.Key, string(b), "Idempotency-Key", "batch-1")
			if res.StatusCode != http.StatusAccepted {
				t.Errorf("status %d: %s", res.StatusCode, body)
				return
			}
			var list struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			_ = json.Unmarshal(body, &list)
			for _, j := range list.Data {
				ids[i] += j.ID + ","
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("reply %d names jobs %q; reply 0 %q", i, ids[i], ids[0])
		}
	}
	if got := countRows(t, e, `SELECT count(*) FROM jobs WHERE account_id = $1`, e.KeyRow.AccountID); got != 3 {
		t.Fatalf("%d jobs; want 3", got)
	}
}

// awaitJob blocks until a job's event stream reaches its end; a job born
// finished (a summary-cache hit) has no events.
func awaitJob(t *testing.T, e *apptest.Env, id string) *recap.Job {
	t.Helper()
	if j, err := e.Store.Job(context.Background(), id); err == nil && recap.Terminal(j.State) {
		return j
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.Deps.Events.Follow(ctx, id, "0", time.Second, nil, func(recap.Event) error { return nil }); err != nil {
		t.Fatalf("follow job %s: %v", id, err)
	}
	j, err := e.Store.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// counting wraps the environment's API and counts replies by key and status.
type counting struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   map[string]map[int]int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func newCounting(t *testing.T, e *apptest.Env) *counting {
	c := &counting{n: map[string]map[int]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		e.Server.Config.Handler.ServeHTTP(sw, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		k := r.Header.Get("Authorization")
		if c.n[k] == nil {
			c.n[k] = map[int]int{}
		}
		c.n[k][sw.status]++
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *counting) count(secret string, status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n["Bearer "+secret][status]
}

func (c *counting) total(secret string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n["Bearer "+secret] {
		n += v
	}
	return n
}

func (c *counting) client(secret string) openai.Client {
	return openai.NewClient(option.WithBaseURL(c.srv.URL+"/v1/"), option.WithAPIKey(secret), option.WithMaxRetries(3))
}

// TestSDKRetryPolicy: the official client, with retries on, waits out
// rate_limit_exceeded and retries, and never retries insufficient_quota.
func TestSDKRetryPolicy(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	ctx := context.Background()
	c := newCounting(t, e)

	t.Run("rate_limit_exceeded is retried", func(t *testing.T) {
		t.Parallel()
		// 20 rpm: a burst of 20, then one request every 3 s.
		_, secret, err := e.Store.CreateKey(ctx, store.NewKey{Name: "limited", Seconds: 600, RPM: 20})
		if err != nil {
			t.Fatal(err)
		}
		cl := c.client(secret)
		calls := 0
		for ; calls < 60 && c.count(secret, 429) == 0; calls++ {
			if _, err := cl.Models.List(ctx); err != nil {
				t.Fatalf("call %d: %v", calls, err)
			}
		}
		limited := c.count(secret, 429)
		if limited == 0 {
			t.Fatalf("no request was limited in %d calls at 20 rpm", calls)
		}
		if ok := c.count(secret, 200); ok != calls || c.total(secret) != calls+limited {
			t.Fatalf("%d calls: %d ok, %d limited, %d in all", calls, ok, limited, c.total(secret))
		}
	})
	t.Run("insufficient_quota is not retried", func(t *testing.T) {
		t.Parallel()
		_, broke := e.NewKey(t, "broke", 0)
		cl := c.client(broke)
		for _, send := range []func() error{
			func() error { _, err := cl.Chat.Completions.New(ctx, userMessage(e.Host.PageURL())); return err },
			func() error {
				return cl.Post(ctx, "jobs", map[string]any{"urls": []string{e.Host.PageURL()}}, nil)
			},
			func() error {
				_, err := cl.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()), option.WithHeader("Idempotency-Key", "k1"))
				return err
			},
		} {
			before := c.total(broke)
			err := send()
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "insufficient_quota" {
				t.Fatalf("want 429 insufficient_quota, got %v", err)
			}
			if n := c.total(broke) - before; n != 1 {
				t.Fatalf("the server saw %d requests; want 1 (no retry)", n)
			}
		}
		if n := countRows(t, e, `SELECT count(*) FROM jobs j JOIN api_keys k ON k.account_id = j.account_id WHERE k.name = 'broke'`); n != 0 {
			t.Fatalf("%d jobs created for an empty balance", n)
		}
		if n := countRows(t, e, `SELECT count(*) FROM idempotency_keys i JOIN api_keys k ON k.account_id = i.account_id WHERE k.name = 'broke'`); n != 0 {
			t.Fatalf("a refused request's Idempotency-Key was kept")
		}
	})
}

// TestRateLimitHeaders checks OpenAI's headers on replies and on the 429.
func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.RateLimitRPM = 3 }})
	var last *http.Response
	var lastBody []byte
	for i := range 3 {
		res, b := call(t, http.MethodGet, e.URL+"/me", e.Key, "")
		if res.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
		if got := res.Header.Get("X-Ratelimit-Limit-Requests"); got != "3" {
			t.Fatalf("limit %q; want 3 (RATE_LIMIT_RPM for a key without rpm)", got)
		}
		if got := res.Header.Get("X-Ratelimit-Remaining-Requests"); got != strconv.Itoa(2-i) {
			t.Fatalf("request %d: remaining %q; want %d", i, got, 2-i)
		}
		if reset := res.Header.Get("X-Ratelimit-Reset-Requests"); !regexp.MustCompile(`^[0-9.]+(ms|s|m[0-9.]+s)$`).MatchString(reset) {
			t.Fatalf("reset %q is not a duration like 20s", reset)
		}
	}
	last, lastBody = call(t, http.MethodGet, e.URL+"/me", e.Key, "")
	if last.StatusCode != 429 || errorCode(lastBody) != "rate_limit_exceeded" {
		t.Fatalf("want 429 rate_limit_exceeded, got %d %s", last.StatusCode, lastBody)
	}
	ms, err1 := strconv.Atoi(last.Header.Get("Retry-After-Ms"))
	secs, err2 := strconv.Atoi(last.Header.Get("Retry-After"))
	if err1 != nil || err2 != nil || ms < 1 || ms > 20000 || secs != (ms+999)/1000 {
		t.Fatalf("retry-after %q, retry-after-ms %q", last.Header.Get("Retry-After"), last.Header.Get("Retry-After-Ms"))
	}
	if last.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Fatalf("429 without the rate limit headers: %v", last.Header)
	}
	// Budgets are per key.
	_, other := e.NewKey(t, "other", 1)
	if res, b := call(t, http.MethodGet, e.URL+"/me", other, ""); res.StatusCode != 200 {
		t.Fatalf("another key was limited too: %d %s", res.StatusCode, b)
	}
}

// TestMe reports the key, its balance, holds and this month's use.
func TestMe(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 10})
	ctx := context.Background()
	url := e.Host.PageURL() + "?v=me"
	seed(t, e, url, 20)
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(url)); err != nil {
		t.Fatal(err)
	}
	held := &recap.Job{AccountID: e.KeyRow.AccountID, APIKeyID: e.KeyRow.ID, URL: url}
	if err := e.Store.CreateJob(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Hold(ctx, e.KeyRow.AccountID, held.ID, 120); err != nil {
		t.Fatal(err)
	}
	res, b := call(t, http.MethodGet, e.URL+"/me", e.Key, "")
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	var me struct {
		KeyName       string   `json:"key_name"`
		Scopes        []string `json:"scopes"`
		RPM           int      `json:"rate_limit_rpm"`
		Balance       float64  `json:"balance_minutes"`
		Held          float64  `json:"held_minutes"`
		UsedThisMonth float64  `json:"used_this_month_minutes"`
	}
	if err := json.Unmarshal(b, &me); err != nil {
		t.Fatal(err)
	}
	if me.KeyName != "test" || me.Balance != 7 || me.Held != 2 || me.UsedThisMonth != 1 || me.RPM != 600 || len(me.Scopes) != 2 {
		t.Fatalf("me: %s", b)
	}
	storetest.CheckLedger(t, e.Store)
}

// TestPricing: what a job costs under PRICE_CACHED_TRANSCRIPT and the caches.
func TestPricing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		priceCached  bool
		seeded       bool // the transcript was in the cache before the job
		summaryFirst bool // the same summary was made before (a full cache hit)
		batch        bool // through POST /jobs, priced by the worker
		wantCost     int64
	}{
		{"cached transcript, charged by default", true, true, false, false, 60},
		{"cached transcript, free with PRICE_CACHED_TRANSCRIPT=0", false, true, false, false, 0},
		{"cached transcript, batch, free with PRICE_CACHED_TRANSCRIPT=0", false, true, false, true, 0},
		{"summary cache hit is free", true, true, true, false, 0},
		{"summary cache hit is free in a batch", true, true, true, true, 0},
		{"fresh transcript is charged with PRICE_CACHED_TRANSCRIPT=0", false, false, false, false, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := apptest.Start(t, apptest.Options{Minutes: 10, Configure: func(c *app.Config) { c.PriceCachedTranscript = tt.priceCached }})
			ctx := context.Background()
			url := e.Host.PageURL()
			if tt.seeded {
				url += "?v=priced"
				seed(t, e, url, 20)
			}
			spent := int64(0)
			if tt.summaryFirst {
				if _, err := e.Client.Chat.Completions.New(ctx, userMessage(url)); err != nil {
					t.Fatal(err)
				}
				if tt.priceCached {
					spent = 60
				}
			}
			var id string
			if tt.batch {
				var list struct {
					Data []struct {
						ID string `json:"id"`
					} `json:"data"`
				}
				if err := e.Client.Post(ctx, "jobs", map[string]any{"urls": []string{url}}, &list); err != nil || len(list.Data) != 1 {
					t.Fatalf("create job: %v %+v", err, list)
				}
				id = list.Data[0].ID
			} else {
				var res *http.Response
				if _, err := e.Client.Chat.Completions.New(ctx, userMessage(url), option.WithResponseInto(&res)); err != nil {
					t.Fatal(err)
				}
				id = res.Header.Get("X-Recap-Job-Id")
			}
			j := awaitJob(t, e, id)
			if j.State != recap.StateSucceeded || j.CostSeconds != tt.wantCost {
				t.Fatalf("job %s cost %d s; want %s and %d s", j.State, j.CostSeconds, recap.StateSucceeded, tt.wantCost)
			}
			bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
			if err != nil {
				t.Fatal(err)
			}
			if want := 600 - spent - tt.wantCost; bal.Available != want || bal.Held != 0 {
				t.Fatalf("balance %+v; want %d available", bal, want)
			}
			storetest.CheckLedger(t, e.Store)
		})
	}
}

// TestStreamInsufficientQuota: a stream whose hold is refused is a plain
// 429 before any byte of the stream, like a non-stream request.
func TestStreamInsufficientQuota(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 1})
	url := e.Host.PageURL() + "?v=long"
	seed(t, e, url, 90) // two minutes against a balance of one
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"model": "bibigpt", "stream": stream,
				"messages": []map[string]any{{"role": "user", "content": url}}})
			res, b := call(t, http.MethodPost, e.URL+"/chat/completions", e.Key, string(body))
			if res.StatusCode != 429 || errorCode(b) != "insufficient_quota" || res.Header.Get("X-Should-Retry") != "false" ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %v %s", res.StatusCode, res.Header, b)
			}
		})
	}
	bal, err := e.Store.Balance(context.Background(), e.KeyRow.AccountID)
	if err != nil || bal.Available != 60 || bal.Held != 0 {
		t.Fatalf("balance %+v %v", bal, err)
	}
	storetest.CheckLedger(t, e.Store)
}
