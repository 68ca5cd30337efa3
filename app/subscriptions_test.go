package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
)

// subscriptionReply is a subscription as the API writes it.
type subscriptionReply struct {
	ID              string     `json:"id"`
	Object          string     `json:"object"`
	URL             string     `json:"url"`
	Title           string     `json:"title"`
	IntervalSeconds int        `json:"interval_seconds"`
	State           string     `json:"state"`
	PausedReason    string     `json:"paused_reason"`
	FeedURL         string     `json:"feed_url"`
	CreatedAt       time.Time  `json:"created_at"`
	LastCheckedAt   *time.Time `json:"last_checked_at"`
	NextCheckAt     *time.Time `json:"next_check_at"`
	LastError       *string    `json:"last_error"`
	Jobs            []struct {
		ID     string `json:"id"`
		Object string `json:"object"`
		URL    string `json:"url"`
		State  string `json:"state"`
		Result *struct {
			Summary string `json:"summary"`
		} `json:"result"`
	} `json:"jobs"`
}

// feedOf serves at path an RSS feed listing the episodes in order
// (each served by the host already).
func feedOf(h *mediatest.Host, path string, eps ...mediatest.Episode) {
	var items strings.Builder
	for _, ep := range eps {
		fmt.Fprintf(&items, `<item><title>%s</title><guid isPermaLink="false">%s</guid><enclosure url="%s" type="video/webm" length="1"/></item>`+"\n",
			html.EscapeString(ep.Title), html.EscapeString(ep.Path), html.EscapeString(h.URL(ep.Path)))
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Recap subscription test</title><link>%s</link><description>Talks.</description>
%s</channel></rss>
`, html.EscapeString(h.URL("/")), items.String())
	h.Serve(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, body) //nolint:errcheck
	}))
}

func getSubscription(t *testing.T, e *apptest.Env, secret, id string) subscriptionReply {
	t.Helper()
	status, body := callAPI(t, http.MethodGet, e.URL+"/subscriptions/"+id, secret, nil)
	if status != http.StatusOK {
		t.Fatalf("GET subscription: %d %s", status, body)
	}
	var s subscriptionReply
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitSucceeded waits until the subscription shows n jobs, all succeeded.
func waitSucceeded(t *testing.T, e *apptest.Env, id string, n int) subscriptionReply {
	t.Helper()
	var s subscriptionReply
	apptest.Poll(t, 3*time.Minute, fmt.Sprintf("%d summaries of subscription %s", n, id), func() bool {
		s = getSubscription(t, e, e.Key, id)
		if len(s.Jobs) > n {
			t.Fatalf("subscription made %d jobs, want %d: %+v", len(s.Jobs), n, s.Jobs)
		}
		if len(s.Jobs) < n {
			return false
		}
		for _, j := range s.Jobs {
			if j.State == recap.StateFailed || j.State == recap.StateCanceled {
				t.Fatalf("job %s %s", j.ID, j.State)
			}
			if j.State != recap.StateSucceeded {
				return false
			}
		}
		return true
	})
	return s
}

// waitChecked waits until a subscription has been checked after t0 and
// returns it.
func waitChecked(t *testing.T, e *apptest.Env, secret, id string, t0 time.Time) subscriptionReply {
	t.Helper()
	var s subscriptionReply
	apptest.Poll(t, time.Minute, "a check of "+id+" after "+t0.Format(time.RFC3339Nano), func() bool {
		s = getSubscription(t, e, secret, id)
		return s.LastCheckedAt != nil && s.LastCheckedAt.After(t0)
	})
	return s
}

// TestSubscriptionFeed: a subscription to a loopback RSS feed summarizes
// its two episodes, then a third added later; the Atom feed (no
// Authorization header) lists the three and parses; each summary's
// webhook arrives once; restarting the worker, a second scheduler replica
// and a reordered source make no second job; DELETE stops the polling.
func TestSubscriptionFeed(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) { c.SubscriptionMinInterval, c.RateLimitRPM = time.Second, 1<<20 }})
	_, eps := e.Host.ServeFeed("/subs-eps.rss", 4) // serves the episodes' media
	const feedPath = "/subs.rss"
	feedOf(e.Host, feedPath, eps[1], eps[0]) // newest first

	var mu sync.Mutex
	deliveries := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(jobs.SignatureHeader) != jobs.Sign([]byte(e.Config.WebhookSecret), body) {
			t.Errorf("webhook signature %q", r.Header.Get(jobs.SignatureHeader))
		}
		var v struct{ ID, State string }
		_ = json.Unmarshal(body, &v)
		mu.Lock()
		deliveries[v.ID]++
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	status, body := callAPI(t, http.MethodPost, e.URL+"/subscriptions", e.Key, map[string]any{
		"url": e.Host.URL(feedPath), "interval_seconds": 1, "limit": 10, "webhook": hook.URL, "prompt": "Summarize briefly"})
	if status != http.StatusCreated {
		t.Fatalf("POST /subscriptions: %d %s", status, body)
	}
	var sub subscriptionReply
	if err := json.Unmarshal(body, &sub); err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || sub.Object != "subscription" || sub.URL != e.Host.URL(feedPath) || sub.Title != "Recap subscription test" ||
		sub.IntervalSeconds != 1 || sub.State != "active" || !strings.HasPrefix(sub.FeedURL, e.Server.URL+"/feeds/rfeed_") ||
		sub.NextCheckAt == nil || sub.LastError != nil {
		t.Fatalf("created %s", body)
	}

	// Both episodes, newest job first.
	s := waitSucceeded(t, e, sub.ID, 2)
	if s.Jobs[0].URL != e.Host.URL(eps[1].Path) || s.Jobs[1].URL != e.Host.URL(eps[0].Path) || s.Jobs[0].Object != "job" ||
		s.Jobs[0].Result == nil || s.Jobs[0].Result.Summary == "" {
		t.Fatalf("jobs %+v", s.Jobs)
	}
	// A third episode appears.
	feedOf(e.Host, feedPath, eps[2], eps[1], eps[0])
	s = waitSucceeded(t, e, sub.ID, 3)
	if s.Jobs[0].URL != e.Host.URL(eps[2].Path) {
		t.Fatalf("newest job is for %s", s.Jobs[0].URL)
	}
	ids := []string{s.Jobs[0].ID, s.Jobs[1].ID, s.Jobs[2].ID}
	e.CheckInvariants(t, ids...)

	// The Atom feed, read as a feed reader does: no Authorization header.
	res, err := http.Get(sub.FeedURL)
	if err != nil {
		t.Fatal(err)
	}
	atom, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("feed: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), atom)
	}
	feed, err := gofeed.NewParser().ParseString(string(atom))
	if err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, atom)
	}
	if feed.FeedType != "atom" || len(feed.Items) != 3 || !strings.Contains(feed.Title, "Recap subscription test") {
		t.Fatalf("feed %s: %d items\n%s", feed.FeedType, len(feed.Items), atom)
	}
	for i, it := range feed.Items {
		if it.Link != s.Jobs[i].URL || it.GUID != "urn:recap:job:"+ids[i] || it.PublishedParsed == nil ||
			!strings.Contains(it.Content, "<") || strings.Contains(it.Content, "<script") {
			t.Errorf("item %d: link %s guid %s content %.80q", i, it.Link, it.GUID, it.Content)
		}
	}
	// A wrong token is not found; so is no token at all.
	for _, u := range []string{e.Server.URL + "/feeds/rfeed_nope", e.Server.URL + "/feeds/"} {
		if res, err := http.Get(u); err != nil || res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %v %v", u, err, res.StatusCode)
		}
	}
	// Rotating the token retires the old URL.
	status, body = callAPI(t, http.MethodPost, e.URL+"/subscriptions/"+sub.ID+"/rotate_feed_token", e.Key, nil)
	var rot subscriptionReply
	if err := json.Unmarshal(body, &rot); status != http.StatusOK || err != nil || rot.FeedURL == "" || rot.FeedURL == sub.FeedURL {
		t.Fatalf("rotate: %d %s", status, body)
	}
	for u, want := range map[string]int{sub.FeedURL: http.StatusNotFound, rot.FeedURL: http.StatusOK} {
		if res, err := http.Get(u); err != nil || res.StatusCode != want {
			t.Errorf("GET feed after rotation: %v %v, want %d", err, res.StatusCode, want)
		}
	}

	// Restart: the worker stops, two start (two schedulers, two checkers),
	// and the source lists its entries in another order. Checks go on and
	// make no second job.
	e.Worker.Stop()
	e.StartWorker(t)
	e.StartWorker(t)
	feedOf(e.Host, feedPath, eps[0], eps[2], eps[1])
	t0 := time.Now()
	waitChecked(t, e, e.Key, sub.ID, t0)
	s = waitChecked(t, e, e.Key, sub.ID, *waitChecked(t, e, e.Key, sub.ID, t0).LastCheckedAt)
	if len(s.Jobs) != 3 || s.State != "active" {
		t.Fatalf("after restart: state %s, %d jobs", s.State, len(s.Jobs))
	}

	// Listing, paged as jobs are.
	status, body = callAPI(t, http.MethodGet, e.URL+"/subscriptions?limit=1", e.Key, nil)
	var list struct {
		Object  string              `json:"object"`
		Data    []subscriptionReply `json:"data"`
		HasMore bool                `json:"has_more"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || list.Object != "list" || len(list.Data) != 1 ||
		list.Data[0].ID != sub.ID || list.HasMore || list.Data[0].FeedURL != "" {
		t.Fatalf("list: %d %s", status, body)
	}

	// DELETE stops the polling. A second subscription is the clock: once
	// it has been checked twice after the delete, the deleted one would
	// have been checked too.
	clockPath := "/clock.rss"
	feedOf(e.Host, clockPath, eps[0])
	status, body = callAPI(t, http.MethodPost, e.URL+"/subscriptions", e.Key, map[string]any{"url": e.Host.URL(clockPath), "interval_seconds": 1})
	var clock subscriptionReply
	if err := json.Unmarshal(body, &clock); status != http.StatusCreated || err != nil {
		t.Fatalf("clock: %d %s", status, body)
	}
	waitChecked(t, e, e.Key, clock.ID, clock.CreatedAt)
	status, body = callAPI(t, http.MethodDelete, e.URL+"/subscriptions/"+sub.ID, e.Key, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"deleted":true`) {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	feedOf(e.Host, feedPath, eps[3], eps[2], eps[1], eps[0])
	// A check that claimed the subscription before the delete may still
	// read its feed (and make no job: its entry would name a deleted row);
	// once the clock was checked after the delete, none is running.
	last := waitChecked(t, e, e.Key, clock.ID, time.Now()).LastCheckedAt
	hits := e.Host.Hits(feedPath)
	waitChecked(t, e, e.Key, clock.ID, *waitChecked(t, e, e.Key, clock.ID, *last).LastCheckedAt)
	if n := e.Host.Hits(feedPath); n != hits {
		t.Errorf("the deleted subscription's feed was read %d more times", n-hits)
	}
	if status, body := callAPI(t, http.MethodGet, e.URL+"/subscriptions/"+sub.ID, e.Key, nil); status != http.StatusNotFound {
		t.Errorf("GET deleted: %d %s", status, body)
	}
	if res, err := http.Get(rot.FeedURL); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("feed of a deleted subscription: %v %v", err, res.StatusCode)
	}

	// Each summary's webhook arrived once; the clock's first job is the
	// only other job of the account.
	apptest.Poll(t, time.Minute, "three webhooks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(deliveries) == 3
	})
	mu.Lock()
	for _, id := range ids {
		if deliveries[id] != 1 {
			t.Errorf("job %s: %d webhook deliveries", id, deliveries[id])
		}
	}
	mu.Unlock()
	all, err := e.Store.ListJobs(context.Background(), store.JobFilter{AccountID: e.KeyRow.AccountID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]int{}
	for _, j := range all {
		urls[j.URL]++
	}
	for u, n := range urls {
		if n != 1 && u != e.Host.URL(eps[0].Path) || n > 2 {
			t.Errorf("%d jobs for %s", n, u)
		}
	}
	if len(all) != 4 {
		t.Errorf("%d jobs in the account, want 3 and the clock's", len(all))
	}
}

// TestSubscriptionNoCredit: a key without credit may subscribe, and its
// subscription pauses at its first check, saying why, without a job;
// resuming without credit pauses it again.
func TestSubscriptionNoCredit(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) { c.SubscriptionMinInterval, c.RateLimitRPM = time.Second, 1<<20 }})
	feed, _ := e.Host.ServeFeed("/poor.rss", 2)
	poorKey, poor := e.NewKey(t, "poor", 0)
	status, body := callAPI(t, http.MethodPost, e.URL+"/subscriptions", poor, map[string]any{"url": feed, "interval_seconds": 1})
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, body)
	}
	var sub subscriptionReply
	_ = json.Unmarshal(body, &sub)
	var s subscriptionReply
	apptest.Poll(t, time.Minute, "the subscription to pause", func() bool {
		s = getSubscription(t, e, poor, sub.ID)
		return s.State == "paused"
	})
	if s.PausedReason != "insufficient_quota" || s.LastError == nil || s.NextCheckAt != nil || len(s.Jobs) != 0 {
		t.Fatalf("paused: %+v", s)
	}
	if list, _ := e.Store.ListJobs(context.Background(), store.JobFilter{AccountID: poorKey.AccountID, Limit: 10}); len(list) != 0 {
		t.Fatalf("%d jobs", len(list))
	}
	// Resume: due at once, paused again.
	status, body = callAPI(t, http.MethodPatch, e.URL+"/subscriptions/"+sub.ID, poor, map[string]any{"state": "active"})
	if status != http.StatusOK || !strings.Contains(string(body), `"state":"active"`) {
		t.Fatalf("resume: %d %s", status, body)
	}
	t0 := time.Now()
	s = waitChecked(t, e, poor, sub.ID, t0)
	if s.State != "paused" || s.PausedReason != "insufficient_quota" {
		t.Fatalf("after resume: %+v", s)
	}

	// The MCP door: subscribe, list, unsubscribe.
	ctx := context.Background()
	cs := mcpSession(t, e, poor, nil)
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %s", name, err, toolText(res))
		}
		b, _ := json.Marshal(res.StructuredContent)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	made := call("subscribe", map[string]any{"url": feed, "interval_seconds": 3600})
	mid, _ := made["id"].(string)
	if fu, _ := made["feed_url"].(string); mid == "" || made["object"] != "subscription" || !strings.HasPrefix(fu, "/feeds/rfeed_") {
		t.Fatalf("subscribe: %v", made)
	}
	listed := call("list_subscriptions", map[string]any{})
	if subs, _ := listed["subscriptions"].([]any); len(subs) != 2 {
		t.Fatalf("list_subscriptions: %v", listed)
	}
	if out := call("unsubscribe", map[string]any{"id": mid}); out["deleted"] != true {
		t.Fatalf("unsubscribe: %v", out)
	}
	if status, _ := callAPI(t, http.MethodGet, e.URL+"/subscriptions/"+mid, poor, nil); status != http.StatusNotFound {
		t.Errorf("GET after unsubscribe: %d", status)
	}
}

// TestSubscriptionRequests: what the resource refuses, scopes, another
// account's subscription, and pause by PATCH.
func TestSubscriptionRequests(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.SubscriptionMinInterval = 60 * time.Second }})
	feed, _ := e.Host.ServeFeed("/r.rss", 1)
	for _, tt := range []struct {
		name  string
		body  map[string]any
		code  string
		param string
	}{
		{"interval under the floor", map[string]any{"url": feed, "interval_seconds": 59}, "invalid_interval", "interval_seconds"},
		{"limit zero", map[string]any{"url": feed, "limit": 0}, "invalid_limit", "limit"},
		{"not a url", map[string]any{"url": "feed.rss"}, "invalid_url", "url"},
		{"bad language", map[string]any{"url": feed, "language": "not a language!"}, "invalid_language", "language"},
	} {
		status, body := callAPI(t, http.MethodPost, e.URL+"/subscriptions", e.Key, tt.body)
		code, param, _ := apiError(t, body)
		if status != http.StatusBadRequest || code != tt.code || param != tt.param {
			t.Errorf("%s: %d %s, want 400 %s on %s", tt.name, status, body, tt.code, tt.param)
		}
	}
	for _, id := range []string{"nope", "00000000-0000-0000-0000-000000000000"} {
		for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			if status, body := callAPI(t, m, e.URL+"/subscriptions/"+id, e.Key, map[string]any{}); status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", m, id, status, body)
			}
		}
	}
	// A read-only key lists but does not subscribe.
	k, ro, err := e.Store.CreateKey(context.Background(), store.NewKey{Name: "ro", Seconds: 60, Scopes: []string{"read"}})
	if err != nil || k == nil {
		t.Fatal(err)
	}
	if status, body := callAPI(t, http.MethodPost, e.URL+"/subscriptions", ro, map[string]any{"url": feed}); status != http.StatusForbidden {
		t.Errorf("read-only POST: %d %s", status, body)
	}
	if status, body := callAPI(t, http.MethodGet, e.URL+"/subscriptions", ro, nil); status != http.StatusOK {
		t.Errorf("read-only GET: %d %s", status, body)
	}
}
