package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// playlistReply is POST /jobs's answer to a playlist.
type playlistReply struct {
	BatchID string `json:"batch_id"`
	Title   string `json:"title"`
	Entries int    `json:"entries"`
	Data    []struct {
		ID    string `json:"id"`
		URL   string `json:"url"`
		State string `json:"state"`
	} `json:"data"`
	Skipped []struct {
		URL, Code string
	} `json:"skipped"`
}

// batchReply is GET /batches/{id}.
type batchReply struct {
	ID     string         `json:"id"`
	Object string         `json:"object"`
	URL    string         `json:"url"`
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
	Jobs   []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Result *struct {
			Summary string `json:"summary"`
		} `json:"result"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"jobs"`
}

// callAPI sends one JSON request to the API and returns the status and body.
func callAPI(t *testing.T, method, url, secret string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func apiError(t *testing.T, body []byte) (code, param, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Param, Message string } `json:"error"`
	}
	if err := json.Unmarshal(openAIShaped(body), &e); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error.Code, e.Error.Param, e.Error.Message
}

// TestPlaylistFeedBatch: a loopback RSS feed of three episodes, expanded
// by a worker's real yt-dlp (generic extractor), becomes one job per
// episode through the HTTP API; the batch shows their states until all
// three are summarized, for its owner only.
func TestPlaylistFeedBatch(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	feed, eps := e.Host.ServeFeed("/pod.rss", 3)

	status, body := callAPI(t, http.MethodPost, e.URL+"/jobs", e.Key, map[string]any{"playlist": feed, "prompt": "Summarize briefly"})
	if status != http.StatusAccepted {
		t.Fatalf("POST /jobs playlist: %d %s", status, body)
	}
	var pr playlistReply
	if err := json.Unmarshal(body, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.BatchID == "" || len(pr.Data) != 3 || pr.Title != "Recap test podcast" || pr.Entries != 3 || len(pr.Skipped) != 0 {
		t.Fatalf("reply %s", body)
	}
	ids := make([]string, 3)
	for i, j := range pr.Data {
		if j.URL != e.Host.URL(eps[i].Path) {
			t.Errorf("job %d is for %s, want episode %d at %s", i, j.URL, i+1, e.Host.URL(eps[i].Path))
		}
		ids[i] = j.ID
	}
	done := e.WaitJobs(t, 3*time.Minute, ids...)
	for i, j := range done {
		if j.State != recap.StateSucceeded || j.Queue != "batch" {
			t.Errorf("job %d: state %s (%s %s), queue %s", i, j.State, j.ErrorCode, j.ErrorMessage, j.Queue)
		}
	}
	e.CheckInvariants(t, ids...)

	// The batch, under both prefixes.
	for _, base := range []string{e.URL, e.Server.URL + "/v1"} {
		status, body = callAPI(t, http.MethodGet, base+"/batches/"+pr.BatchID, e.Key, nil)
		if status != http.StatusOK {
			t.Fatalf("GET batch: %d %s", status, body)
		}
		var br batchReply
		if err := json.Unmarshal(body, &br); err != nil {
			t.Fatal(err)
		}
		if br.ID != pr.BatchID || br.Object != "batch" || br.URL != feed || br.Total != 3 || br.Counts["succeeded"] != 3 ||
			br.Counts["queued"] != 0 || br.Counts["failed"] != 0 || len(br.Jobs) != 3 {
			t.Fatalf("batch %s", body)
		}
		for i, j := range br.Jobs {
			if j.ID != ids[i] || j.Result == nil || j.Result.Summary == "" {
				t.Errorf("batch job %d: %+v", i, j)
			}
		}
	}
	// Someone else's batch does not exist for them; neither does garbage.
	_, other := e.NewKey(t, "other", 10)
	for _, id := range []string{pr.BatchID, "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		status, body = callAPI(t, http.MethodGet, e.URL+"/batches/"+id, other, nil)
		if status != http.StatusNotFound {
			t.Errorf("GET batch %q as another account: %d %s", id, status, body)
		}
	}

	// A limit takes the first entries only.
	status, body = callAPI(t, http.MethodPost, e.URL+"/jobs", e.Key, map[string]any{"playlist": feed, "limit": 2})
	if err := json.Unmarshal(body, &pr); status != http.StatusAccepted || err != nil || len(pr.Data) != 2 ||
		pr.Data[1].URL != e.Host.URL(eps[1].Path) {
		t.Fatalf("limit 2: %d %s", status, body)
	}
	e.WaitJobs(t, 3*time.Minute, pr.Data[0].ID, pr.Data[1].ID)
	for _, ep := range eps {
		// Flat extraction reads no episode; each one's job downloads it once
		// (the second batch hits the caches).
		if n := e.Host.Hits(ep.Path); n < 1 || n > 3 {
			t.Errorf("%s fetched %d times", ep.Path, n)
		}
	}
}

// TestPlaylistRefusals: what the jobs API refuses about playlists, each a
// 400 in OpenAI's error shape before any job exists, and a chat
// completion for a playlist URL.
func TestPlaylistRefusals(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	feed, _ := e.Host.ServeFeed("/pod.rss", 3)
	tests := []struct {
		name  string
		body  map[string]any
		code  string
		param string
	}{
		{"limit zero", map[string]any{"playlist": feed, "limit": 0}, "invalid_limit", "limit"},
		{"limit negative", map[string]any{"playlist": feed, "limit": -5}, "invalid_limit", "limit"},
		{"limit over max", map[string]any{"playlist": feed, "limit": 1001}, "invalid_limit", "limit"},
		{"limit without playlist", map[string]any{"limit": 3}, "missing_playlist", "playlist"},
		{"playlist and urls", map[string]any{"playlist": feed, "urls": []string{e.Host.PageURL()}}, "invalid_request", "playlist"},
		{"not a url", map[string]any{"playlist": "feed.rss"}, "invalid_url", "playlist"},
		{"empty", map[string]any{"playlist": ""}, "invalid_url", "playlist"},
		{"file scheme", map[string]any{"playlist": "file:///etc/passwd"}, "invalid_url", "playlist"},
		{"one video", map[string]any{"playlist": e.Host.PageURL()}, "not_a_playlist", "playlist"},
		{"bad prompt", map[string]any{"playlist": feed, "prompt": "a\x00b"}, "invalid_text", "prompt"},
	}
	for _, tt := range tests {
		status, body := callAPI(t, http.MethodPost, e.URL+"/jobs", e.Key, tt.body)
		code, param, _ := apiError(t, body)
		if status != http.StatusBadRequest || code != tt.code || param != tt.param {
			t.Errorf("%s: %d %s, want 400 %s on %s", tt.name, status, body, tt.code, tt.param)
		}
	}
	status, body := callAPI(t, http.MethodPost, e.URL+"/jobs", e.Key, map[string]any{"playlist": feed, "limit": "3"})
	if status != http.StatusBadRequest {
		t.Errorf("limit as a string: %d %s", status, body)
	}
	if list, _ := e.Store.ListJobs(context.Background(), store.JobFilter{AccountID: e.KeyRow.AccountID, Limit: 10}); len(list) != 0 {
		t.Errorf("%d jobs made by refused requests", len(list))
	}

	// A chat completion: a feed URL by its shape, refused at once...
	_, err := e.Client.Chat.Completions.New(context.Background(), userMessage("Summarize "+feed))
	checkPlaylistRefusal(t, "feed by shape", err)
	// ...and a feed at a URL that does not look like one, found by resolve.
	showFeed, _ := e.Host.ServeFeed("/show", 3)
	_, err = e.Client.Chat.Completions.New(context.Background(), userMessage("Summarize "+showFeed))
	checkPlaylistRefusal(t, "feed found by resolve", err)
}

func checkPlaylistRefusal(t *testing.T, what string, err error) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "playlist_not_supported" {
		t.Fatalf("%s: chat completion error %v, want 400 playlist_not_supported", what, err)
	}
	if !strings.Contains(apiErr.Message, "/api/v1/jobs") {
		t.Errorf("%s: message %q does not name the jobs API", what, apiErr.Message)
	}
}

// TestPlaylistBeyondBalance: a balance that covers one video at the
// smallest price gets one job queued; the rest are stored failed with
// insufficient_quota and never start, as any batch.
func TestPlaylistBeyondBalance(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	feed, _ := e.Host.ServeFeed("/pod.rss", 3)
	_, poor := e.NewKey(t, "poor", 1)
	status, body := callAPI(t, http.MethodPost, e.URL+"/jobs", poor, map[string]any{"playlist": feed})
	var pr playlistReply
	if err := json.Unmarshal(body, &pr); status != http.StatusAccepted || err != nil || len(pr.Data) != 3 {
		t.Fatalf("POST: %d %s", status, body)
	}
	ids := []string{pr.Data[0].ID, pr.Data[1].ID, pr.Data[2].ID}
	done := e.WaitJobs(t, 3*time.Minute, ids...)
	if done[0].State != recap.StateSucceeded {
		t.Errorf("covered job: %s %s", done[0].State, done[0].ErrorMessage)
	}
	for _, j := range done[1:] {
		if j.State != recap.StateFailed || j.ErrorCode != "insufficient_quota" || j.ResolvedAt != nil {
			t.Errorf("uncovered job: %s %s resolved %v", j.State, j.ErrorCode, j.ResolvedAt)
		}
	}
	e.CheckInvariants(t, ids...)
	status, body = callAPI(t, http.MethodGet, e.URL+"/batches/"+pr.BatchID, poor, nil)
	var br batchReply
	if err := json.Unmarshal(body, &br); status != http.StatusOK || err != nil || br.Counts["succeeded"] != 1 || br.Counts["failed"] != 2 {
		t.Fatalf("batch: %d %s", status, body)
	}
	// An empty balance is refused before any expansion.
	_, broke := e.NewKey(t, "broke", 0)
	status, body = callAPI(t, http.MethodPost, e.URL+"/jobs", broke, map[string]any{"playlist": feed})
	if code, _, _ := apiError(t, body); status != http.StatusPaymentRequired && status != http.StatusTooManyRequests || code != "insufficient_quota" {
		t.Errorf("empty balance: %d %s", status, body)
	}
}
