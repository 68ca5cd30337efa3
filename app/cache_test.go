package app_test

import (
	"context"
	"testing"

	"github.com/recap/recap/app/apptest"
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
	after, _ := e.Store.Balance(ctx, e.KeyRow.AccountID)
	if after.Available != before.Available {
		t.Fatalf("a cache hit was charged: %d → %d", before.Available, after.Available)
	}
	var n int
	if err := e.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state = 'succeeded' AND summary_id IS NOT NULL`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d succeeded jobs recorded, want 3 (%v)", n, err)
	}
}
