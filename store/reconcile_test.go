package store_test

import (
	"context"
	"testing"
	"time"

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
	if _, err := s.Finish(ctx, done.ID, store.Outcome{State: store.StateFailed, ErrorCode: "x"}); err != nil {
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
