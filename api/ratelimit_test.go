package api

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// countingHook counts the commands a Redis client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// testRedis is the machine's Redis (streamRedis) with a command counter.
func testRedis(t *testing.T) (*redis.Client, *countingHook) {
	t.Helper()
	rdb := streamRedis(t).(*redis.Client)
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	h := &countingHook{}
	rdb.AddHook(h)
	return rdb, h
}

// testLimiter is a limiter with a prefix of its own and a clock the test
// moves.
func testLimiter(rdb redis.UniversalClient, prefix string, clock *time.Time) *RateLimiter {
	l := NewRateLimiter(rdb, prefix, 0)
	l.now = func() time.Time { return *clock }
	return l
}

func TestRateLimiterLeases(t *testing.T) {
	t.Parallel()
	rdb, calls := testRedis(t)
	ctx := t.Context()
	prefix := "recap-test:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	clock := time.Now()
	l := testLimiter(rdb, prefix, &clock)
	// redis_rate's script is sent by EVALSHA, and by EVAL too the first
	// time a Redis sees it (NOSCRIPT): load it before counting, so a fresh
	// Redis counts as one that has run the API before. Both paths: one
	// request (Allow's script) and a lease (AllowAtMost's).
	if _, err := l.Allow(ctx, 999, 600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Allow(ctx, 998, 60_000); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		keyID     int64
		rpm       int
		requests  int
		wantCalls int64
	}{
		// Under 1,200 rpm a lease would hold one request: one call each.
		{"ordinary rate", 1, 600, 5, 5},
		{"just under a lease", 2, 1199, 5, 5},
		// 60,000 rpm: a lease holds 100 requests.
		{"batch rate", 3, 60_000, 1_000, 10},
		{"two-request leases", 4, 1_200, 10, 5},
	}
	for _, tc := range tests {
		before, began := calls.n.Load(), time.Now()
		for i := range tc.requests {
			res, err := l.Allow(ctx, tc.keyID, tc.rpm)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed || res.Limit != tc.rpm {
				t.Fatalf("%s: request %d: %+v", tc.name, i, res)
			}
			// GCRA's remaining is rounded down from float time, and Redis
			// refills the budget (rpm/60 a second) while the loop runs.
			refill := int(time.Since(began).Seconds()*float64(tc.rpm)/60) + 1
			if want := tc.rpm - 1 - i; res.Remaining < want-1 || res.Remaining > want+refill {
				t.Fatalf("%s: request %d: remaining %d; want %d", tc.name, i, res.Remaining, want)
			}
		}
		if got := calls.n.Load() - before; got != tc.wantCalls {
			t.Errorf("%s: %d Redis calls for %d requests; want %d", tc.name, got, tc.requests, tc.wantCalls)
		}
	}

	// A lease expires: the next request takes a new one.
	before := calls.n.Load()
	clock = clock.Add(LeaseTTL)
	if res, err := l.Allow(ctx, 3, 60_000); err != nil || !res.Allowed {
		t.Fatal(res, err)
	}
	if got := calls.n.Load() - before; got != 1 {
		t.Fatalf("%d Redis calls after the lease expired; want 1", got)
	}
	// A key whose rate changed does not spend the old rate's lease.
	before = calls.n.Load()
	if res, err := l.Allow(ctx, 3, 120_000); err != nil || !res.Allowed || res.Limit != 120_000 {
		t.Fatal(res, err)
	}
	if got := calls.n.Load() - before; got != 1 {
		t.Fatalf("%d Redis calls after the rate changed; want 1", got)
	}
}

// TestRateLimiterLeasesShareOneBudget: two replicas taking leases of one
// key never hand out more than the shared budget, and refuse with a
// Retry-After once it is spent.
func TestRateLimiterLeasesShareOneBudget(t *testing.T) {
	t.Parallel()
	rdb, _ := testRedis(t)
	ctx := t.Context()
	prefix := "recap-test:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	clock := time.Now()
	a, b := testLimiter(rdb, prefix, &clock), testLimiter(rdb, prefix, &clock)
	const rpm = 6_000 // leases of 10
	start := time.Now()
	allowed, refused := 0, 0
	var last *RateResult
	for i := 0; refused < 20 && i < 3*rpm; i++ {
		l := a
		if i%3 == 0 {
			l = b
		}
		res, err := l.Allow(ctx, 7, rpm)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		} else {
			refused++
			last = res
		}
	}
	// Redis refills the budget by rpm/60 a second while the loop runs.
	refill := int(time.Since(start).Seconds()*rpm/60) + 1
	if allowed > rpm+refill {
		t.Fatalf("%d requests allowed; the budget is %d (+%d refilled)", allowed, rpm, refill)
	}
	if allowed < rpm-2*10 {
		t.Fatalf("only %d of the budget's %d requests allowed", allowed, rpm)
	}
	if last == nil || last.RetryAfter <= 0 || last.Remaining != 0 {
		t.Fatalf("refusal: %+v", last)
	}
}
