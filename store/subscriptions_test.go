package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

func newSubscription(t *testing.T, s *store.Store, k *recap.Caller, token string) *store.Subscription {
	t.Helper()
	sub := &store.Subscription{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/feed.rss", IntervalSeconds: 60, FirstLimit: 10}
	if err := s.CreateSubscription(context.Background(), sub, []byte(token)); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestSubscriptionEntryOnce: two transactions that each create a job for
// the same entry of a subscription, at the same time (the second blocks
// on the first's entry row), commit one job: the second rolls back with
// ErrEntrySeen once the first commits. Whatever the checkers' timing,
// an entry has one job.
func TestSubscriptionEntryOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, k := setup(t, 10)
	sub := newSubscription(t, s, k, "token-once")
	entry := store.SubscriptionEntry{VideoKey: "generic:abc", URL: "https://example.com/ep1.webm", Title: "Episode 1"}
	attempt := func(idem string, hold <-chan struct{}, inserted chan<- struct{}) error {
		_, _, err := s.Idempotent(ctx, k.AccountID, idem, []byte(idem), time.Hour, func(ctx context.Context, tx *store.JobTx) ([]string, error) {
			j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, URL: entry.URL, VideoKey: entry.VideoKey}
			if err := tx.CreateJob(ctx, j); err != nil {
				return nil, err
			}
			if err := tx.AddSubscriptionEntry(ctx, sub.ID, entry, j.ID); err != nil {
				return nil, err
			}
			if inserted != nil {
				close(inserted)
			}
			if hold != nil {
				<-hold
			}
			return []string{j.ID}, nil
		})
		return err
	}
	hold, inserted := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() { first <- attempt("checker-1", hold, inserted) }()
	<-inserted // the first holds the entry's row, uncommitted
	second := make(chan error, 1)
	go func() { second <- attempt("checker-2", nil, nil) }()
	// The second waits on the first's row lock: visible in pg_stat_activity.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND query LIKE 'INSERT INTO subscription_entries%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never waited for the first")
		}
		select {
		case err := <-second:
			t.Fatalf("the second transaction ended while the first held the entry: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := <-second; !errors.Is(err, store.ErrEntrySeen) {
		t.Fatalf("second: %v, want ErrEntrySeen", err)
	}
	ids, err := s.SubscriptionJobIDs(ctx, sub.ID, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("jobs %v %v", ids, err)
	}
	if list, _ := s.ListJobs(ctx, store.JobFilter{AccountID: k.AccountID}); len(list) != 1 {
		t.Fatalf("%d jobs stored, want 1", len(list))
	}
	// Seen entries are not new, whatever their order; skipped ones too.
	if err := s.MarkEntriesSeen(ctx, sub.ID, []store.SubscriptionEntry{{VideoKey: "generic:old", URL: "https://example.com/old", SkipCode: "before_subscription"}}); err != nil {
		t.Fatal(err)
	}
	seen, err := s.SeenEntries(ctx, sub.ID, []string{"generic:new", "generic:old", "generic:abc"})
	if err != nil || len(seen) != 2 || !seen["generic:abc"] || !seen["generic:old"] {
		t.Fatalf("seen %v %v", seen, err)
	}
}

// TestClaimDueSubscriptions: a due subscription is claimed by one
// claimer; its lease keeps it from the next until a check's outcome sets
// its next check; a paused one is never claimed; failures back off.
func TestClaimDueSubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, k := setup(t, 10)
	sub := newSubscription(t, s, k, "token-claim")
	a, err := s.ClaimDueSubscriptions(ctx, 10, time.Minute)
	if err != nil || len(a) != 1 || a[0].ID != sub.ID {
		t.Fatalf("first claim: %v %v", a, err)
	}
	if b, err := s.ClaimDueSubscriptions(ctx, 10, time.Minute); err != nil || len(b) != 0 {
		t.Fatalf("second claim took %d (%v)", len(b), err)
	}
	if err := s.FailSubscriptionCheck(ctx, sub.ID, "video_unavailable", "gone", time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountSubscription(ctx, k.AccountID, sub.ID)
	if err != nil || got.State != store.SubscriptionFailing || got.Failures != 1 || got.LastError != "gone" ||
		got.NextCheckAt.Sub(*got.LastCheckedAt) < 119*time.Second {
		t.Fatalf("after failure: %+v %v", got, err)
	}
	pause := true
	if _, err := s.UpdateSubscription(ctx, k.AccountID, sub.ID, store.SubscriptionUpdate{Pause: &pause, PausedReason: "owner"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE subscriptions SET next_check_at = now() - interval '1 hour' WHERE id = $1`, sub.ID); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ClaimDueSubscriptions(ctx, 10, time.Minute); err != nil || len(b) != 0 {
		t.Fatalf("a paused subscription was claimed: %d %v", len(b), err)
	}
	pause = false
	got, err = s.UpdateSubscription(ctx, k.AccountID, sub.ID, store.SubscriptionUpdate{Pause: &pause})
	if err != nil || got.State != store.SubscriptionActive || got.Failures != 0 || got.PausedReason != "" {
		t.Fatalf("resumed: %+v %v", got, err)
	}
	if b, err := s.ClaimDueSubscriptions(ctx, 10, time.Minute); err != nil || len(b) != 1 {
		t.Fatalf("a resumed subscription is due: %d %v", len(b), err)
	}
}
