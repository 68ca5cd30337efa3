package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

func setup(t *testing.T, minutes int64) (*store.Store, *recap.Caller) {
	t.Helper()
	s := storetest.New(t)
	k, secret, err := s.CreateKey(context.Background(), store.NewKey{Name: "t", Seconds: minutes * 60})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyBySecret(context.Background(), secret)
	if err != nil || got.ID != k.ID {
		t.Fatalf("key by secret: %v %v", got, err)
	}
	return s, k
}

func newJob(t *testing.T, s *store.Store, k *recap.Caller) *recap.Job {
	t.Helper()
	j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/v"}
	if err := s.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestSecretNotStored(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	_, secret, err := s.CreateKey(ctx, store.NewKey{Name: "a", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE position($1 in prefix || name) > 0`, secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret stored: %d %v", n, err)
	}
	k, err := s.KeyBySecret(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeyBySecret(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked key still valid: %v", err)
	}
}

func TestLedgerHoldSettleOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name      string
		state     string
		wantAvail int64
	}{
		{"success captures", recap.StateSucceeded, 4 * 60},
		{"failure releases", recap.StateFailed, 10 * 60},
		{"cancel releases", recap.StateCanceled, 10 * 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, k := setup(t, 10)
			j := newJob(t, s, k)
			for range 3 { // retried stages hold once
				if err := s.Hold(ctx, k.AccountID, j.ID, 6*60); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			ended := make(chan bool, 8)
			for range 8 { // racing settlements end the job once
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.Finish(ctx, j.ID, store.Outcome{State: tt.state})
					if err != nil {
						t.Error(err)
					}
					ended <- ok
				}()
			}
			wg.Wait()
			close(ended)
			n := 0
			for ok := range ended {
				if ok {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("job ended %d times", n)
			}
			if ok, _ := s.Settle(ctx, j.ID, true); ok {
				t.Fatal("settled twice")
			}
			b, err := s.Balance(ctx, k.AccountID)
			if err != nil {
				t.Fatal(err)
			}
			if b.Available != tt.wantAvail || b.Held != 0 {
				t.Fatalf("balance %+v, want available %d", b, tt.wantAvail)
			}
			storetest.CheckLedger(t, s)
		})
	}
}

func TestHoldInsufficient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, k := setup(t, 1)
	j := newJob(t, s, k)
	if err := s.Hold(ctx, k.AccountID, j.ID, 120); !errors.Is(err, store.ErrInsufficientCredits) {
		t.Fatalf("want ErrInsufficientCredits, got %v", err)
	}
	b, _ := s.Balance(ctx, k.AccountID)
	if b.Available != 60 || b.Held != 0 {
		t.Fatalf("balance changed: %+v", b)
	}
	storetest.CheckLedger(t, s)
}

func TestListJobsCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, k := setup(t, 1)
	for range 5 {
		newJob(t, s, k)
	}
	page1, err := s.ListJobs(ctx, store.JobFilter{AccountID: k.AccountID, Limit: 3})
	if err != nil || len(page1) != 3 {
		t.Fatalf("page1: %d %v", len(page1), err)
	}
	last := page1[2]
	page2, err := s.ListJobs(ctx, store.JobFilter{AccountID: k.AccountID, Limit: 3, BeforeTime: &last.CreatedAt, BeforeID: last.ID})
	if err != nil || len(page2) != 2 {
		t.Fatalf("page2: %d %v", len(page2), err)
	}
	seen := map[string]bool{}
	for _, j := range append(page1, page2...) {
		if seen[j.ID] {
			t.Fatal("duplicate across pages")
		}
		seen[j.ID] = true
	}
}

// TestWithLockSmallPool: more lock holders than the pool has connections,
// each needing a second connection for its work, all finish (holders are
// admitted up to half the pool, so one is always left for the work).
func TestWithLockSmallPool(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, store.Config{URL: storetest.NewURL(t), MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.WithLock(ctx, fmt.Sprint("video:", i), func(ctx context.Context) error {
				_, err := s.Video(ctx, fmt.Sprint("video:", i))
				if errors.Is(err, store.ErrNotFound) {
					err = nil
				}
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentHoldsOneAccount: many jobs of one account hold at once
// (combined into shared statements); exactly as many as the balance covers
// succeed, the rest get ErrInsufficientCredits, a job held twice is held
// once, and the books balance.
func TestConcurrentHoldsOneAccount(t *testing.T) {
	t.Parallel()
	s, k := setup(t, 10)
	ctx := context.Background()
	const n = 30
	list := make([]*recap.Job, n)
	for i := range list {
		list[i] = newJob(t, s, k)
	}
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Hold(ctx, k.AccountID, list[i%n].ID, 60) // each job twice
		}()
	}
	wg.Wait()
	held := map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			held[list[i%n].ID] = true
		case !errors.Is(err, store.ErrInsufficientCredits):
			t.Fatalf("hold %d: %v", i, err)
		}
	}
	var entries int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE kind = 'hold'`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 10 || len(held) != 10 {
		t.Fatalf("%d hold entries, %d jobs held; want 10 (10 minutes of credit)", entries, len(held))
	}
	bal, err := s.Balance(ctx, k.AccountID)
	if err != nil || bal.Available != 0 || bal.Held != 600 {
		t.Fatalf("balance %+v %v", bal, err)
	}
	var costs int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE cost_seconds = 60`).Scan(&costs); err != nil || costs != 10 {
		t.Fatalf("%d jobs priced (%v), want 10", costs, err)
	}
	storetest.CheckLedger(t, s)

	// A job that has ended is never held: nothing would settle it.
	ended := newJob(t, s, k)
	if _, err := s.Finish(ctx, ended.ID, store.Outcome{State: recap.StateCanceled}); err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(ctx, k.AccountID, 60, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold(ctx, k.AccountID, ended.ID, 60); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE job_id = $1`, ended.ID).Scan(&entries); err != nil || entries != 0 {
		t.Fatalf("%d ledger entries for an ended job (%v)", entries, err)
	}
	storetest.CheckLedger(t, s)
}
