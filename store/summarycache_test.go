package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/recap/recap"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// TestSummaryCache: cache hits are answered from memory only while the
// cache listens, every answer is still recorded as its job row (the same
// row the uncached statement writes), and a new summary of a video, a URL
// form joining it, and a lost listening connection each stop the memory
// from answering for that video until Postgres has been asked again.
func TestSummaryCache(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	first := &store.Summary{PromptHash: "p", Model: "m", Markdown: "# First", Chapters: []recap.Chapter{{Start: 0, End: 61, Title: "All"}}, PromptTokens: 7, CompletionTokens: 3}
	tr := seedSummary(t, s, "en", first)
	onReset, waitReset := resetWaiter(t)
	c := store.NewSummaryCache(store.SummaryCacheConfig{Store: s, Retry: 10 * time.Millisecond, OnReset: onReset})
	n := 0
	ask := func(videoKey string, wantSummary *store.Summary, wantHits, wantMisses int64) *recap.Job {
		t.Helper()
		n++
		j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, Queue: "interactive", URL: "https://example.com/v", VideoKey: videoKey,
			Model: "m", AudioLanguage: "en", Images: []string{"https://example.com/a.png"}, Stream: true, RequestHash: fmt.Sprint(n)}
		got, err := c.CreateJobFromCache(ctx, j, "p")
		if err != nil {
			t.Fatalf("ask %d: %v", n, err)
		}
		if got.ID != wantSummary.ID || got.Markdown != wantSummary.Markdown || len(got.Chapters) != len(wantSummary.Chapters) {
			t.Fatalf("ask %d: summary %+v, want %d %q", n, got, wantSummary.ID, wantSummary.Markdown)
		}
		if st := c.Stats(); st.Hits != wantHits || st.Misses != wantMisses {
			t.Fatalf("ask %d: stats %+v, want hits %d misses %d", n, st, wantHits, wantMisses)
		}
		// The job row is there when the answer is, and reads back as the
		// reply described it.
		stored, err := s.Job(ctx, j.ID)
		if err != nil {
			t.Fatalf("ask %d: stored job: %v", n, err)
		}
		if stored.State != recap.StateSucceeded || *stored.SummaryID != got.ID || *stored.TranscriptID != tr.ID || stored.Title != "The video" ||
			stored.Duration != 61 || stored.VideoKey != "generic:v" || stored.RequestHash != j.RequestHash || !stored.Stream ||
			len(stored.Images) != 1 || stored.CostSeconds != 0 || stored.ResultModel != "m" || stored.Progress != 100 ||
			!stored.CreatedAt.Equal(j.CreatedAt) || stored.APIKeyID != k.ID {
			t.Fatalf("ask %d: stored %+v, reply %+v", n, stored, j)
		}
		return j
	}
	// Not listening: every lookup goes to Postgres.
	ask("generic:v", first, 0, 1)
	ask("generic:v", first, 0, 2)

	rctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c.Run(rctx, ready)
	}()
	<-ready
	waitReset(true)
	ask("generic:v", first, 0, 3)
	ask("generic:v", first, 1, 3)
	ask("generic:v", first, 2, 3)
	// A miss is not kept.
	miss := &recap.Job{AccountID: k.AccountID, VideoKey: "generic:v", Model: "other", AudioLanguage: "en"}
	for range 2 {
		if _, err := c.CreateJobFromCache(ctx, miss, "p"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("miss: %v", err)
		}
	}
	if st := c.Stats(); st.Misses != 5 {
		t.Fatalf("stats %+v after two misses", st)
	}

	// A refresh saves a newer summary: the video's entries go when it
	// commits, and the next answer is the new one.
	second := &store.Summary{TranscriptID: tr.ID, PromptHash: "p", Model: "m", Markdown: "# Second"}
	if err := s.SaveSummary(ctx, second); err != nil {
		t.Fatal(err)
	}
	waitReset(true)
	ask("generic:v", second, 2, 6)
	ask("generic:v", second, 3, 6)

	// A URL form joining the video: asked for by that form, answered from
	// the video's summary and recorded under the video's key.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO video_aliases (key, video_key) VALUES ('generic:short', 'generic:v')`); err != nil {
		t.Fatal(err)
	}
	waitReset(true)
	ask("generic:short", second, 3, 7)
	ask("generic:short", second, 4, 7)

	// The listening connection dies: nothing from memory until it is back.
	killListener(t, s, "recap-summary-cache")
	waitReset(false)
	waitReset(true)
	ask("generic:v", second, 4, 8)
	ask("generic:v", second, 5, 8)

	// An operator deleting summaries by hand empties the cache.
	if _, err := s.Pool().Exec(ctx, `UPDATE summaries SET markdown = markdown WHERE false`); err != nil {
		t.Fatal(err)
	}
	waitReset(true)
	ask("generic:v", second, 5, 9)

	// Concurrent hits from memory are combined, and each is recorded.
	var before int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	const hits = 300
	var wg sync.WaitGroup
	errs := make([]error, hits+1)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, Queue: "interactive", VideoKey: "generic:v", Model: "m", AudioLanguage: "en"}
			if i == hits {
				j.AccountID = -1 // no such account: its row fails alone
			}
			_, errs[i] = c.CreateJobFromCache(ctx, j, "p")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == hits) {
			t.Fatalf("hit %d: %v", i, err)
		}
	}
	var after int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&after); err != nil || after-before != hits {
		t.Fatalf("%d rows recorded (%v), want %d", after-before, err, hits)
	}

	cancel()
	<-done
	if c.Live() {
		t.Fatal("still live after Run returned")
	}
}

// TestSummaryCacheWriteBehind: with WriteBehind, answers from memory do
// not wait for their job rows (they return while the jobs table is
// locked), a read of jobs through the same store waits for the rows
// handed in before it, a row Postgres refuses is dropped alone, and Close
// writes every pending row.
func TestSummaryCacheWriteBehind(t *testing.T) {
	t.Parallel()
	admin, u := storetest.NewWithURL(t)
	ctx := context.Background()
	sm := &store.Summary{PromptHash: "p", Model: "m", Markdown: "# Summary"}
	s, c, k := behindCache(t, u, 5*time.Millisecond, sm)
	ask := func(account int64) (*recap.Job, error) {
		j := &recap.Job{AccountID: account, APIKeyID: k.ID, Queue: "interactive", VideoKey: "generic:v", Model: "m"}
		_, err := c.CreateJobFromCache(ctx, j, "p")
		return j, err
	}
	count := func() int {
		t.Helper()
		var n int
		if err := admin.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE summary_id = $1`, sm.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first, err := ask(k.AccountID) // from Postgres, recorded at once
	if err != nil || count() != 1 {
		t.Fatalf("first answer: %v, %d rows", err, count())
	}

	// The jobs table is locked against writes (reads go on): answers from
	// memory still return.
	tx, err := admin.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE jobs IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	var last *recap.Job
	for i := range 100 {
		account := k.AccountID
		if i == 50 {
			account = -1 // no such account: refused when written, alone
		}
		j, err := ask(account)
		if err != nil {
			t.Fatalf("answer %d with the table locked: %v", i, err)
		}
		if account == k.AccountID {
			last = j
		}
	}
	if c.Stats().Hits != 100 {
		t.Fatalf("stats %+v", c.Stats())
	}
	// A read waits for the rows handed in before it: it cannot return
	// before the lock goes.
	var unlocked atomic.Bool
	got := make(chan error, 1)
	go func() {
		j, err := s.Job(ctx, last.ID)
		switch {
		case err != nil:
		case !unlocked.Load():
			err = errors.New("read returned before the rows could be written")
		case j.State != recap.StateSucceeded || *j.SummaryID != sm.ID:
			err = fmt.Errorf("read back %+v", j)
		}
		got <- err
	}()
	unlocked.Store(true)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("read after the rows: %v", err)
	}
	if n := count(); n != 100 {
		t.Fatalf("%d rows after the read, want 100 (1 + 99 written, 1 refused)", n)
	}
	if _, err := s.Job(ctx, first.ID); err != nil {
		t.Fatal(err)
	}

	// Close writes every pending row.
	for i := range 40 {
		if _, err := ask(k.AccountID); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	s.Close()
	if n := count(); n != 140 {
		t.Fatalf("%d rows after Close, want 140", n)
	}
}

// seedSummary saves the video generic:v ("The video", 61 s), its
// transcript in language and sm as that transcript's summary.
func seedSummary(t *testing.T, s *store.Store, language string, sm *store.Summary) *recap.Transcript {
	t.Helper()
	ctx := context.Background()
	if err := s.SaveVideo(ctx, &store.Video{Key: "generic:v", URL: "https://example.com/v", Title: "The video", Duration: 61}); err != nil {
		t.Fatal(err)
	}
	tr := &recap.Transcript{VideoKey: "generic:v", Language: language, Source: "subtitles", Segments: []recap.Segment{{Start: 0, End: 1, Text: "hi"}}, Duration: 61}
	if err := s.SaveTranscript(ctx, tr); err != nil {
		t.Fatal(err)
	}
	sm.TranscriptID = tr.ID
	if err := s.SaveSummary(ctx, sm); err != nil {
		t.Fatal(err)
	}
	return tr
}

// resetWaiter returns a cache's OnReset and a function waiting for its
// next call, which must report live = want within 10 s.
func resetWaiter(t *testing.T) (onReset func(bool), wait func(want bool)) {
	resets := make(chan bool, 64)
	return func(live bool) { resets <- live }, func(want bool) {
		t.Helper()
		select {
		case live := <-resets:
			if live != want {
				t.Fatalf("reset live=%v, want %v", live, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reset (live=%v) within 10 s", want)
		}
	}
}

// killListener terminates the listening connection of the cache named
// name (its application_name before the schema) on s's schema.
func killListener(t *testing.T, s *store.Store, name string) {
	t.Helper()
	var killed int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 || '/' || current_schema()) x`, name).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
}

// TestHitRowAcrossReplicas: a cache hit's job, written behind its answer
// by one API process, is found by another process's read made right after
// the answer (which waits for it), while an unknown id is not found.
func TestHitRowAcrossReplicas(t *testing.T) {
	t.Parallel()
	other, u := storetest.NewWithURL(t)
	ctx := context.Background()
	// A window long enough that the read below always comes first.
	_, c, k := behindCache(t, u, 300*time.Millisecond, &store.Summary{PromptHash: "p", Model: "m", Markdown: "# Summary"})
	var j *recap.Job
	for range 2 { // the first from Postgres, the second from memory
		j = &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, Queue: "interactive", VideoKey: "generic:v", Model: "m"}
		if _, err := c.CreateJobFromCache(ctx, j, "p"); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().Hits != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
	got, err := other.AccountJob(ctx, k.AccountID, j.ID)
	if err != nil || got.State != recap.StateSucceeded {
		t.Fatalf("the other process's read: %+v %v", got, err)
	}
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), uuid.NewString()} {
		if _, err := other.Job(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id %s: %v", id, err)
		}
	}
}

// behindCache opens a second store on u's schema that writes cache hits'
// rows behind their answers (window), with a key, sm saved as generic:v's
// summary, and a SummaryCache on it that listens. Both stop when the test
// ends (Close may also be called before).
func behindCache(t *testing.T, u string, window time.Duration, sm *store.Summary) (*store.Store, *store.SummaryCache, *recap.Caller) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{URL: u, WriteBehind: window})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	k, _, err := s.CreateKey(ctx, store.NewKey{Name: "t", Seconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	seedSummary(t, s, "", sm)
	c := store.NewSummaryCache(store.SummaryCacheConfig{Store: s})
	rctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ready := make(chan struct{})
	go c.Run(rctx, ready)
	<-ready
	return s, c, k
}
