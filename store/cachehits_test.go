package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// TestCreateJobFromCache: concurrent cache hits, misses and a hit whose
// row cannot be inserted, all at once. Hits are combined into shared
// statements; each gets its own job and the summary, misses write
// nothing, and the bad row fails alone.
func TestCreateJobFromCache(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	sm := &store.Summary{PromptHash: "p", Model: "m", Markdown: "# Summary", Chapters: []recap.Chapter{{Start: 0, End: 61, Title: "All"}}, PromptTokens: 7, CompletionTokens: 3}
	seedSummary(t, s, "en", sm)
	const hits, misses = 200, 50
	type result struct {
		j   *recap.Job
		sm  *store.Summary
		err error
	}
	results := make([]result, hits+misses+1)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, Queue: "interactive", URL: "https://example.com/v", VideoKey: "generic:v",
				Model: "m", AudioLanguage: "en", RequestHash: fmt.Sprint(i)}
			ph := "p"
			switch {
			case i >= hits+misses:
				j.AccountID = -1 // no such account: the insert fails
			case i >= hits:
				ph = "other prompt"
			}
			got, err := s.CreateJobFromCache(ctx, j, ph)
			results[i] = result{j, got, err}
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range results {
		switch {
		case i < hits:
			if r.err != nil {
				t.Fatalf("hit %d: %v", i, r.err)
			}
			if r.sm.ID != sm.ID || r.sm.Markdown != "# Summary" || len(r.sm.Chapters) != 1 || r.sm.PromptTokens != 7 {
				t.Fatalf("hit %d: summary %+v", i, r.sm)
			}
			if r.j.ID == "" || ids[r.j.ID] || r.j.State != "succeeded" || r.j.Title != "The video" || r.j.Duration != 61 || *r.j.SummaryID != sm.ID {
				t.Fatalf("hit %d: job %+v", i, r.j)
			}
			ids[r.j.ID] = true
		case i < hits+misses:
			if !errors.Is(r.err, store.ErrNotFound) || r.j.ID != "" {
				t.Fatalf("miss %d: %v %q", i, r.err, r.j.ID)
			}
		default:
			if r.err == nil || errors.Is(r.err, store.ErrNotFound) {
				t.Fatalf("bad row: %v", r.err)
			}
		}
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state = 'succeeded' AND summary_id = $1 AND cost_seconds = 0
		AND api_key_id = $2 AND finished_at IS NOT NULL`, sm.ID, k.ID).Scan(&n); err != nil || n != hits {
		t.Fatalf("%d cached jobs recorded (%v), want %d", n, err, hits)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil || n != hits {
		t.Fatalf("%d jobs in all (%v), want %d", n, err, hits)
	}
	got, err := s.Job(ctx, results[0].j.ID)
	if err != nil || got.RequestHash != "0" || got.VideoKey != "generic:v" || got.Model != "m" {
		t.Fatalf("stored job %+v %v", got, err)
	}
}

// TestCreateJobFromCacheThroughAlias: a URL form that joined another
// video (same extractor key and id) is a cache hit on that video's
// summary, recorded under the video's key.
func TestCreateJobFromCacheThroughAlias(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	if err := s.SaveVideo(ctx, &store.Video{Key: "bilibili:BV1xx", URL: "https://www.bilibili.com/video/BV1xx", Title: "Joined", Duration: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO video_aliases (key, video_key) VALUES ('generic:short', 'bilibili:BV1xx')`); err != nil {
		t.Fatal(err)
	}
	tr := &recap.Transcript{VideoKey: "bilibili:BV1xx", Language: "", Source: "subtitles", Segments: []recap.Segment{{Start: 0, End: 1, Text: "hi"}}, Duration: 30}
	if err := s.SaveTranscript(ctx, tr); err != nil {
		t.Fatal(err)
	}
	sm := &store.Summary{TranscriptID: tr.ID, PromptHash: "p", Model: "m", Markdown: "# Joined"}
	if err := s.SaveSummary(ctx, sm); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"generic:short", "bilibili:BV1xx", "generic:other"} {
		j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, Queue: "interactive", URL: "https://b23.tv/x", VideoKey: key, Model: "m", RequestHash: key}
		got, err := s.CreateJobFromCache(ctx, j, "p")
		if key == "generic:other" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: %v, want a miss", key, err)
			}
			continue
		}
		if err != nil || got.ID != sm.ID || got.Markdown != "# Joined" || j.VideoKey != "bilibili:BV1xx" || j.Title != "Joined" {
			t.Fatalf("%s: %+v %v (job key %q)", key, got, err, j.VideoKey)
		}
		if stored, err := s.Job(ctx, j.ID); err != nil || stored.VideoKey != "bilibili:BV1xx" {
			t.Fatalf("%s: stored %+v %v", key, stored, err)
		}
	}
}
