package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// TestKeyCache: keys are served from memory only while the cache listens,
// and every change to api_keys (through the store or raw SQL) empties it
// when it commits; a lost listening connection stops the caching until it
// is back.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	onReset, waitReset := resetWaiter(t)
	c := store.NewKeyCache(store.KeyCacheConfig{Store: s, Retry: 10 * time.Millisecond, OnReset: onReset})
	k, secret, err := s.CreateKey(ctx, store.NewKey{Name: "a", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateKey(ctx, store.NewKey{Name: "b", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(wantHits, wantMisses int64) {
		t.Helper()
		got, err := c.KeyBySecret(ctx, secret)
		if err != nil || got.ID != k.ID || got.AccountID != k.AccountID {
			t.Fatalf("lookup: %+v %v", got, err)
		}
		if st := c.Stats(); st.Hits != wantHits || st.Misses != wantMisses {
			t.Fatalf("stats %+v, want hits %d misses %d", st, wantHits, wantMisses)
		}
	}
	// Not listening: every lookup goes to Postgres.
	lookup(0, 1)
	lookup(0, 2)

	rctx, cancel := context.WithCancel(ctx)
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c.Run(rctx, ready)
	}()
	<-ready
	waitReset(true)
	lookup(0, 3)
	lookup(1, 3)
	lookup(2, 3)
	if _, err := c.KeyBySecret(ctx, "rcp_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown secret: %v", err)
	}
	misses := int64(4)

	// Any change to a key empties the cache.
	if err := s.RevokeKey(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	waitReset(true)
	lookup(2, misses+1)
	lookup(3, misses+1)

	// The listening connection dies: no caching until it listens again.
	killListener(t, s, "recap-key-cache")
	waitReset(false)
	waitReset(true)
	lookup(3, misses+2)
	lookup(4, misses+2)

	// A revocation made outside Recap (psql) takes effect as it commits.
	if _, err := s.Pool().Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	waitReset(true)
	if _, err := c.KeyBySecret(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked key: %v", err)
	}

	cancel()
	<-done
	if c.Live() {
		t.Fatal("still live after Run returned")
	}
}
