package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

func TestStaleJobsPages(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		j := newJob(t, s, k)
		want[j.ID] = true
	}
	// Ended jobs and fresh ones are not stale.
	done := newJob(t, s, k)
	if _, err := s.Finish(ctx, done.ID, store.Outcome{State: recap.StateFailed, ErrorCode: "x"}); err != nil {
		t.Fatal(err)
	}
	// Same updated_at for several rows: the cursor must break ties by id.
	if _, err := s.Pool().Exec(ctx, `UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE state = 'queued'`); err != nil {
		t.Fatal(err)
	}
	fresh := newJob(t, s, k)

	seen := map[string]bool{}
	var cur store.StaleCursor
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := s.StaleJobs(ctx, time.Now().Add(-time.Minute), cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, j := range page {
			if seen[j.ID] {
				t.Fatalf("job %s returned twice", j.ID)
			}
			seen[j.ID] = true
		}
		last := page[len(page)-1]
		cur = store.StaleCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d stale jobs, want %d", len(seen), len(want))
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("stale job %s missed", id)
		}
	}
	if seen[done.ID] || seen[fresh.ID] {
		t.Error("an ended or fresh job was returned")
	}
}

// StartStage counts attempts per stage in Postgres, never moves a job
// backwards, leaves ended jobs alone, and RefundAttempt takes back an
// interrupted run.
func TestStartStageCountsAttempts(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	j := newJob(t, s, k)
	mustJob := func(t *testing.T, s *store.Store, id string) *recap.Job {
		t.Helper()
		j, err := s.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	start := func(state string) (store.Attempt, bool) {
		t.Helper()
		a, ok, err := s.StartStage(ctx, j.ID, state)
		if err != nil {
			t.Fatal(err)
		}
		return a, ok
	}
	for want := 1; want <= 3; want++ {
		if a, ok := start(recap.StateResolving); !ok || a.N != want {
			t.Fatalf("resolve run %d: attempt %d, ok %v", want, a.N, ok)
		}
	}
	if err := s.FailAttempt(ctx, j.ID, "upstream_error", "the site answered 503"); err != nil {
		t.Fatal(err)
	}
	if a, _ := start(recap.StateResolving); a.N != 4 || a.LastErrorCode != "upstream_error" || a.LastError != "the site answered 503" {
		t.Fatalf("4th resolve run: %+v", a)
	}
	if err := s.RefundAttempt(ctx, j.ID, recap.StateResolving); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Attempts(ctx, j.ID); err != nil || n != 3 {
		t.Fatalf("after a refund: %d attempts (%v), want 3", n, err)
	}
	// A new stage starts at one, with no error of the last one's.
	if a, ok := start(recap.StateTranscribing); !ok || a.N != 1 || a.LastError != "" {
		t.Fatalf("first transcript run: %+v %v", a, ok)
	}
	got := mustJob(t, s, j.ID)
	if got.State != recap.StateTranscribing || got.ResolvedAt == nil {
		t.Fatalf("job %s, resolved_at %v", got.State, got.ResolvedAt)
	}
	// A duplicate resolve task must not move the job back.
	if _, ok := start(recap.StateResolving); ok {
		t.Fatal("a resolve run moved a transcribing job back")
	}
	if got := mustJob(t, s, j.ID); got.State != recap.StateTranscribing {
		t.Fatalf("job went back to %s", got.State)
	}
	if a, ok := start(recap.StateSummarizing); !ok || a.N != 1 {
		t.Fatalf("first summary run: %+v %v", a, ok)
	}
	if got := mustJob(t, s, j.ID); got.TranscribedAt == nil {
		t.Fatal("transcribed_at not set on entering summarizing")
	}
	if _, err := s.Finish(ctx, j.ID, store.Outcome{State: recap.StateFailed, ErrorCode: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := start(recap.StateSummarizing); ok {
		t.Fatal("an ended job started a stage")
	}
	if _, _, err := s.StartStage(ctx, j.ID, recap.StateSucceeded); err == nil {
		t.Fatal("a terminal state was accepted as a stage")
	}
}
