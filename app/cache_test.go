package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// TestSummaryCacheHit: the same video, prompt and model again is answered
// from the cache: no model call, no queue, free, and still a job record.
func TestSummaryCacheHit(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	first, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
	if err != nil {
		t.Fatal(err)
	}
	calls := e.Fake.ChatCalls()
	before, _ := e.Store.Balance(ctx, e.KeyRow.AccountID)
	for _, stream := range []bool{false, true} {
		var content string
		if stream {
			s := e.Client.Chat.Completions.NewStreaming(ctx, userMessage(e.Host.PageURL()))
			for s.Next() {
				if len(s.Current().Choices) > 0 {
					content += s.Current().Choices[0].Delta.Content
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			again, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
			if err != nil {
				t.Fatal(err)
			}
			content = again.Choices[0].Message.Content
		}
		if content != first.Choices[0].Message.Content {
			t.Fatalf("stream=%v: cached reply differs:\n%s", stream, content)
		}
	}
	if e.Fake.ChatCalls() != calls {
		t.Fatal("a cache hit called the model")
	}
	// The job a cache hit names reads back at once, though its row is
	// written behind the answer: many times in a row, each right after
	// its answer.
	for i := range 20 {
		body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + e.Host.PageURL() + `"}]}`
		res, b := do(t, e, http.MethodPost, "/chat/completions", e.Key, body, nil)
		id := res.Header.Get("X-Recap-Job-Id")
		if res.StatusCode != 200 || id == "" {
			t.Fatalf("hit %d: %s %s", i, res.Status, b)
		}
		res, b = do(t, e, http.MethodGet, "/jobs/"+id, e.Key, "", nil)
		if res.StatusCode != 200 || !strings.Contains(string(b), `"succeeded"`) {
			t.Fatalf("hit %d: GET /jobs/%s: %s %s", i, id, res.Status, b)
		}
	}
	after, _ := e.Store.Balance(ctx, e.KeyRow.AccountID)
	if after.Available != before.Available {
		t.Fatalf("a cache hit was charged: %d → %d", before.Available, after.Available)
	}
	// Read through the API process's store, as the jobs API does: it waits
	// for the rows of the cache hits written behind their answers.
	list, err := e.Deps.Store.ListJobs(ctx, store.JobFilter{AccountID: e.KeyRow.AccountID, State: recap.StateSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range list {
		if j.SummaryID != nil && *j.SummaryID == *list[len(list)-1].SummaryID {
			n++
		}
	}
	if len(list) != 23 || n != 23 {
		t.Fatalf("%d succeeded jobs recorded (%d of one summary), want 23", len(list), n)
	}
}
