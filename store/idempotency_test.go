package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

func TestIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, k := setup(t, 10)
	create := func(n *int) func(context.Context, *store.JobTx) ([]string, error) {
		return func(ctx context.Context, tx *store.JobTx) ([]string, error) {
			*n++
			j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/v"}
			if err := tx.CreateJob(ctx, j); err != nil {
				return nil, err
			}
			return []string{j.ID}, nil
		}
	}
	failing := func(context.Context, *store.JobTx) ([]string, error) { return nil, errors.New("refused") }

	var made int
	first, again, err := s.Idempotent(ctx, k.AccountID, "a", []byte("body-1"), time.Hour, create(&made))
	if err != nil || again || len(first) != 1 {
		t.Fatalf("first: %v %v %v", first, again, err)
	}
	tests := []struct {
		name    string
		key     string
		hash    string
		fn      func(context.Context, *store.JobTx) ([]string, error)
		wantErr error
		again   bool
	}{
		{"same key and body replays", "a", "body-1", failing, nil, true},
		{"same key, other body", "a", "body-2", failing, store.ErrIdempotencyReused, false},
		{"a failed first attempt is not remembered", "b", "body-1", failing, errors.New("refused"), false},
		{"so the key can be used after it", "b", "body-2", create(new(int)), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, again, err := s.Idempotent(ctx, k.AccountID, tt.key, []byte(tt.hash), time.Hour, tt.fn)
			if (err == nil) != (tt.wantErr == nil) || (tt.wantErr == store.ErrIdempotencyReused && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err %v; want %v", err, tt.wantErr)
			}
			if again != tt.again {
				t.Fatalf("replayed %v; want %v", again, tt.again)
			}
			if tt.again && (len(ids) != 1 || ids[0] != first[0]) {
				t.Fatalf("replayed %v; want %v", ids, first)
			}
		})
	}

	t.Run("concurrent duplicates create once", func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		fn := func(ctx context.Context, tx *store.JobTx) ([]string, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			j := &recap.Job{AccountID: k.AccountID, APIKeyID: k.ID, URL: "https://example.com/c"}
			if err := tx.CreateJob(ctx, j); err != nil {
				return nil, err
			}
			return []string{j.ID}, nil
		}
		const n = 16
		got := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, _, err := s.Idempotent(ctx, k.AccountID, "c", []byte("body"), time.Hour, fn)
				if err != nil || len(ids) != 1 {
					t.Errorf("%v %v", ids, err)
					return
				}
				got[i] = ids[0]
			}()
		}
		wg.Wait()
		for i := range got {
			if got[i] != got[0] {
				t.Fatalf("different jobs: %v", got)
			}
		}
		if calls != 1 {
			t.Fatalf("create ran %d times", calls)
		}
	})

	t.Run("an expired key is claimed anew", func(t *testing.T) {
		ids, again, err := s.Idempotent(ctx, k.AccountID, "e", []byte("x"), time.Millisecond, create(new(int)))
		if err != nil || again {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'e'`); err != nil {
			t.Fatal(err)
		}
		ids2, again, err := s.Idempotent(ctx, k.AccountID, "e", []byte("y"), time.Hour, create(new(int)))
		if err != nil || again || ids2[0] == ids[0] {
			t.Fatalf("%v %v %v", ids2, again, err)
		}
		if _, err := s.Pool().Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'b'`); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PurgeIdempotencyKeys(ctx, 100); err != nil || n != 1 {
			t.Fatalf("purged %d %v; want the one expired key", n, err)
		}
		if n := countKeys(t, s, "e"); n != 1 {
			t.Fatal("the reclaimed key was purged")
		}
	})
}

func countKeys(t *testing.T, s *store.Store, key string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE key = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
