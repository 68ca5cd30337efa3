package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func streamRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	return redistest.New(t)
}

func streamPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ts" + hex.EncodeToString(b) + ":"
}

// The cap holds across limiters sharing Redis (two API replicas), a
// released lease frees its slot, and each key has its own slots.
func TestStreamLimiterSharedCap(t *testing.T) {
	t.Parallel()
	rdb, prefix, ctx := streamRedis(t), streamPrefix(), context.Background()
	a := NewStreamLimiter(StreamLimiterConfig{Redis: rdb, Prefix: prefix, Max: 3})
	b := NewStreamLimiter(StreamLimiterConfig{Redis: rdb, Prefix: prefix, Max: 3})
	var held []*StreamLease
	for i, l := range []*StreamLimiter{a, b, a} {
		ls, err := l.Acquire(ctx, 7)
		if err != nil {
			t.Fatalf("lease %d: %v", i, err)
		}
		held = append(held, ls)
	}
	for _, l := range []*StreamLimiter{a, b} {
		if _, err := l.Acquire(ctx, 7); !errors.Is(err, ErrTooManyStreams) {
			t.Fatalf("a fourth stream: %v, want ErrTooManyStreams", err)
		}
	}
	other, err := b.Acquire(ctx, 8)
	if err != nil {
		t.Fatalf("another key's stream: %v", err)
	}
	other.Release()
	held[1].Release()
	held[1].Release() // twice is once
	ls, err := a.Acquire(ctx, 7)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := b.Acquire(ctx, 7); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("the freed slot was given twice: %v", err)
	}
	for _, l := range append(held, ls) {
		l.Release()
	}
	if n, err := rdb.ZCard(ctx, a.key(7)).Result(); err != nil || n != 0 {
		t.Fatalf("%d leases left after every release (%v)", n, err)
	}
}

// A replica that dies leaves its leases behind; they expire after the TTL
// and the key's slots come back. A live replica's heartbeat keeps its
// leases well past the TTL.
func TestStreamLeasesExpireUnlessRefreshed(t *testing.T) {
	t.Parallel()
	rdb, prefix, ctx := streamRedis(t), streamPrefix(), context.Background()
	const ttl = 600 * time.Millisecond
	live := NewStreamLimiter(StreamLimiterConfig{Redis: rdb, Prefix: prefix, Max: 2, TTL: ttl})
	kept, err := live.Acquire(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Release()
	// The dead replica: its lease is in Redis, but nobody refreshes it.
	dead := NewStreamLimiter(StreamLimiterConfig{Redis: rdb, Prefix: prefix, Max: 2, TTL: ttl})
	now := time.Now()
	if err := acquireScript.Run(ctx, rdb, []string{dead.key(1)}, now.UnixMilli(), now.Add(ttl).UnixMilli(), 2, "dead-lease", ttl.Milliseconds()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Acquire(ctx, 1); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("with the dead replica's lease still valid: %v", err)
	}
	start := time.Now()
	var got *StreamLease
	for got == nil {
		if time.Since(start) > 10*ttl {
			t.Fatal("the dead replica's lease never expired")
		}
		ls, err := live.Acquire(ctx, 1)
		switch {
		case err == nil:
			got = ls
		case !errors.Is(err, ErrTooManyStreams):
			t.Fatal(err)
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer got.Release()
	// Both live leases outlived several TTLs through the heartbeat.
	if time.Since(now) < ttl {
		t.Fatalf("the dead lease went after %s, before its TTL", time.Since(now))
	}
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if _, err := live.Acquire(ctx, 1); !errors.Is(err, ErrTooManyStreams) {
			t.Fatalf("a live lease expired: %v", err)
		}
		time.Sleep(ttl / 4)
	}
}

// limitStreams answers 429 too_many_streams in OpenAI's shape, with
// Retry-After, for a key at its cap, and holds the slot exactly while the
// stream runs; the body-aware variant counts only requests that stream.
func TestLimitStreamsMiddleware(t *testing.T) {
	t.Parallel()
	rdb := streamRedis(t)
	l := NewStreamLimiter(StreamLimiterConfig{Redis: rdb, Prefix: streamPrefix(), Max: 1})
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	inside, leave := make(chan struct{}), make(chan struct{})
	var bodies []string
	var entered atomic.Int32
	h := s.limitStreams(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if entered.Add(1) == 1 {
			inside <- struct{}{}
			<-leave
		}
		w.WriteHeader(http.StatusOK)
	}))
	body := s.limitStreamBodies(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusOK)
	}))
	key := &recap.Caller{ID: 42}
	req := func(method, b string) *http.Request {
		r := httptest.NewRequest(method, "/api/v1/x", strings.NewReader(b))
		return r.WithContext(context.WithValue(r.Context(), keyCtx, key))
	}
	first := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req(http.MethodGet, ""))
		first <- rec.Code
	}()
	<-inside
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req(http.MethodGet, ""))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second stream: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// /api/v1: the seed's shape, the message a string beside the code.
	var e struct {
		Error string
		Type  string
		Code  *string
		Param *string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == nil || *e.Code != "too_many_streams" || e.Error == "" || e.Type == "" {
		t.Fatalf("error body %s (%v)", rec.Body, err)
	}
	// A completion that does not stream is no stream; one that does is
	// refused while the slot is taken; the handler gets the body intact.
	rec = httptest.NewRecorder()
	body.ServeHTTP(rec, req(http.MethodPost, `{"model":"m","stream":false}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("a non-stream completion: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	body.ServeHTTP(rec, req(http.MethodPost, `{"model":"m","stream":true}`))
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a stream completion past the cap: %d", rec.Code)
	}
	close(leave)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first stream: %d", code)
	}
	rec = httptest.NewRecorder()
	body.ServeHTTP(rec, req(http.MethodPost, `{"model":"m","stream":true}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("a stream completion after the first stream ended: %d", rec.Code)
	}
	if len(bodies) != 2 || bodies[0] != `{"model":"m","stream":false}` || bodies[1] != `{"model":"m","stream":true}` {
		t.Fatalf("handler bodies %q", bodies)
	}
}
