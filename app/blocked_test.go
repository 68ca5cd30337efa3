package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// TestBlockedSiteAnswersPromptly: a video host answering HTTP 412 (real
// yt-dlp reports "HTTP Error 412", Bilibili's refusal) keeps its job in
// retry backoff; a waiting completion answers 503 upstream_blocked at
// BLOCKED_WAIT_SECONDS from the first refusal, with Retry-After (the
// seconds until the next attempt) and X-Recap-Job-Id, while the job goes
// on; the same request again attaches to the same job and answers at once;
// a stream says it as a progress line and ends with the same error.
func TestBlockedSiteAnswersPromptly(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.BlockedWait = 200 * time.Millisecond
		c.MaxRetry = 4
		// The next attempt is an hour away: the job stays in backoff for
		// the whole test, however slow the machine.
		c.RetryDelay = time.Hour
	}})
	e.Host.Serve("/blocked", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusPreconditionFailed)
		w.Write([]byte("<html><body>412 Precondition Failed</body></html>")) //nolint:errcheck
	}))
	body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + e.Host.URL("/blocked") + `"}]}`

	check := func(res *http.Response, b []byte) string {
		t.Helper()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d %s, want 503", res.StatusCode, b)
		}
		var eb struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if err := json.Unmarshal(b, &eb); err != nil || eb.Code != "upstream_blocked" || !strings.Contains(eb.Error, "412") {
			t.Fatalf("body %s: want upstream_blocked naming the 412", b)
		}
		ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 3600 {
			t.Errorf("Retry-After %q, want the seconds to the next attempt (≤ 3600)", res.Header.Get("Retry-After"))
		}
		if res.Header.Get("X-Should-Retry") != "true" {
			t.Errorf("x-should-retry %q", res.Header.Get("X-Should-Retry"))
		}
		id := res.Header.Get("X-Recap-Job-Id")
		if id == "" {
			t.Fatal("no X-Recap-Job-Id")
		}
		return id
	}
	res, b := post(t, e, "/chat/completions", e.Key, body)
	id := check(res, b)
	j, err := e.Store.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if recap.Terminal(j.State) {
		t.Fatalf("job %s is %s: it should still be retrying", id, j.State)
	}

	// The same request attaches to the same job, and its refusal is older
	// than the bound: it answers at once.
	res, b = post(t, e, "/chat/completions", e.Key, body)
	if again := check(res, b); again != id {
		t.Errorf("the same request made job %s, want %s", again, id)
	}

	// A stream: the refusal as a progress line, then the same error.
	res, b = post(t, e, "/chat/completions", e.Key, strings.Replace(body, `"model"`, `"stream":true,"model"`, 1))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	var progress, last string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		last = data
		if strings.Contains(data, "refused (412); next try in") {
			progress = data
		}
	}
	if progress == "" || !strings.Contains(progress, "2 of 5") {
		t.Errorf("no progress line of the refusal (\"The site refused (412); next try in …, 2 of 5\") in %s", b)
	}
	var eb struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal([]byte(last), &eb) != nil || eb.Code != "upstream_blocked" || !strings.Contains(eb.Error, id) {
		t.Errorf("the stream ends with %s, want the upstream_blocked error naming job %s", last, id)
	}
	if j, err := e.Store.Job(context.Background(), id); err != nil || recap.Terminal(j.State) {
		t.Errorf("job %s after the replies: %v %v; want it still retrying", id, j, err)
	}
}
