package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// DefaultRPM is the request rate of a key whose rpm is 0, when the
// server's configuration names none (RATE_LIMIT_RPM).
const DefaultRPM = 600

// RateLimiter limits requests per API key with GCRA in Redis (redis_rate),
// so every API replica shares one budget per key. The budget is rpm
// requests a minute, with a burst of rpm: a quiet key may spend a whole
// minute's requests at once, then one more every 60/rpm seconds.
//
// A key whose rate is high (LeaseWindow of it is more than one request)
// takes its requests from Redis in leases: one call takes up to
// LeaseWindow's worth of the shared budget, and this replica hands them
// out from memory for up to LeaseTTL. Redis then sees one call per lease
// instead of one per request, which is most of what a cached answer costs
// at a batch user's rates; the budget is still the one shared budget (a
// lease is taken from it), and a lease left unused when it expires is
// lost, so a replica can only under-spend, by at most one lease a second.
// Keys at ordinary rates (rpm under 1,200 with the defaults) keep one Redis
// call per request and exact headers.
type RateLimiter struct {
	lim        *redis_rate.Limiter
	prefix     string
	defaultRPM int
	window     time.Duration
	ttl        time.Duration
	now        func() time.Time

	mu     sync.Mutex
	leases map[int64]*lease
}

// LeaseWindow is how much of a key's rate one lease takes from Redis.
const LeaseWindow = 100 * time.Millisecond

// LeaseTTL is how long a replica may hand out a lease's requests.
const LeaseTTL = time.Second

// lease is the part of a key's budget this replica took from Redis and
// has not handed out yet.
type lease struct {
	mu        sync.Mutex
	rpm       int
	tokens    int
	expires   time.Time
	remaining int       // the shared budget's remaining requests when it was taken
	full      time.Time // when the shared budget was to be full again
}

// NewRateLimiter returns a limiter whose Redis keys start with prefix
// (after redis_rate's own "rate:"): deployments and tests sharing one
// Redis keep separate budgets by giving different prefixes.
func NewRateLimiter(rdb redis.UniversalClient, prefix string, defaultRPM int) *RateLimiter {
	if defaultRPM <= 0 {
		defaultRPM = DefaultRPM
	}
	return &RateLimiter{lim: redis_rate.NewLimiter(rdb), prefix: prefix, defaultRPM: defaultRPM,
		window: LeaseWindow, ttl: LeaseTTL, now: time.Now, leases: map[int64]*lease{}}
}

// leaseSize is how many requests one lease of a key at rpm holds.
func (l *RateLimiter) leaseSize(rpm int) int {
	return int(int64(rpm) * int64(l.window) / int64(time.Minute))
}

// leaseOf returns the key's lease, made on first use. Leases of keys idle
// for a minute are dropped when the map is large, so it is bounded by the
// keys in use.
func (l *RateLimiter) leaseOf(keyID int64) *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	le := l.leases[keyID]
	if le == nil {
		if len(l.leases) >= 10_000 {
			cutoff := l.now().Add(-time.Minute)
			for id, old := range l.leases {
				if old.mu.TryLock() {
					if old.expires.Before(cutoff) {
						delete(l.leases, id)
					}
					old.mu.Unlock()
				}
			}
		}
		le = &lease{}
		l.leases[keyID] = le
	}
	return le
}

// allowLeased answers from the key's lease, taking a new one from Redis
// when it is spent or expired. The lease's lock is held across that call,
// so concurrent requests of one key wait for one Redis call, not many.
func (l *RateLimiter) allowLeased(ctx context.Context, keyID int64, rpm, n int) (*RateResult, error) {
	le := l.leaseOf(keyID)
	le.mu.Lock()
	defer le.mu.Unlock()
	now := l.now()
	if le.rpm != rpm || !now.Before(le.expires) {
		le.tokens = 0
	}
	if le.tokens == 0 {
		res, err := l.lim.AllowAtMost(ctx, l.prefix+"key:"+strconv.FormatInt(keyID, 10), redis_rate.PerMinute(rpm), n)
		if err != nil {
			return nil, err
		}
		if res.Allowed <= 0 {
			return &RateResult{Limit: rpm, Remaining: 0, Reset: max(res.ResetAfter, 0), RetryAfter: res.RetryAfter}, nil
		}
		le.rpm, le.tokens, le.expires = rpm, res.Allowed, now.Add(l.ttl)
		le.remaining, le.full = res.Remaining, now.Add(max(res.ResetAfter, 0))
	}
	le.tokens--
	// What this replica still holds is part of what remains.
	return &RateResult{Allowed: true, Limit: rpm, Remaining: le.remaining + le.tokens, Reset: max(le.full.Sub(now), 0)}, nil
}

// RateResult is the outcome of one request against a key's budget.
type RateResult struct {
	Allowed bool
	Limit   int
	// Remaining requests allowed right now.
	Remaining int
	// Reset is the time until the budget is full again.
	Reset time.Duration
	// RetryAfter is the time until the next request is allowed (when not Allowed).
	RetryAfter time.Duration
}

// Allow spends one request of the key's budget, if there is one.
func (l *RateLimiter) Allow(ctx context.Context, keyID int64, rpm int) (*RateResult, error) {
	if rpm <= 0 {
		rpm = l.defaultRPM
	}
	if n := l.leaseSize(rpm); n > 1 {
		return l.allowLeased(ctx, keyID, rpm, n)
	}
	res, err := l.lim.Allow(ctx, l.prefix+"key:"+strconv.FormatInt(keyID, 10), redis_rate.PerMinute(rpm))
	if err != nil {
		return nil, err
	}
	out := &RateResult{Allowed: res.Allowed > 0, Limit: rpm, Remaining: res.Remaining, Reset: res.ResetAfter}
	if !out.Allowed {
		out.RetryAfter = res.RetryAfter
	}
	if out.Reset < 0 {
		out.Reset = 0
	}
	return out, nil
}

// AllowPerHour spends one request of an hourly budget named by bucket
// (e.g. a client address), with a burst of the whole hour's requests:
// for what is limited by who asks rather than by key, such as OAuth
// client registration.
func (l *RateLimiter) AllowPerHour(ctx context.Context, bucket string, perHour int) (*RateResult, error) {
	res, err := l.lim.Allow(ctx, l.prefix+bucket, redis_rate.PerHour(perHour))
	if err != nil {
		return nil, err
	}
	out := &RateResult{Allowed: res.Allowed > 0, Limit: perHour, Remaining: res.Remaining, Reset: max(res.ResetAfter, 0)}
	if !out.Allowed {
		out.RetryAfter = res.RetryAfter
	}
	return out, nil
}

// header writes OpenAI's rate limit headers.
func (r *RateResult) header(h http.Header) {
	h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(r.Limit))
	h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(r.Remaining))
	h.Set("X-Ratelimit-Reset-Requests", fmtReset(r.Reset))
}

// fmtReset formats a duration as OpenAI does in x-ratelimit-reset-*:
// "1s", "6m0s", "120ms".
func fmtReset(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(int64(math.Ceil(float64(d)/float64(time.Millisecond))), 10) + "ms"
	}
	return d.Round(time.Millisecond).String()
}

// rateLimited is the 429 of a key over its budget. retry-after-ms is
// exact (rounded up), retry-after is whole seconds (rounded up); the
// official SDKs wait that long and retry.
func rateLimited(r *RateResult) *Error {
	ms := int64(math.Ceil(float64(r.RetryAfter) / float64(time.Millisecond)))
	if ms < 1 {
		ms = 1
	}
	secs := (ms + 999) / 1000
	return &Error{Status: http.StatusTooManyRequests, Type: "requests", Code: "rate_limit_exceeded",
		Message: "Rate limit reached: " + strconv.Itoa(r.Limit) + " requests per minute for this key. Retry after " +
			strconv.FormatInt(ms, 10) + " ms.",
		Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}, "Retry-After-Ms": {strconv.FormatInt(ms, 10)}}}
}

// rateLimit spends one request of the caller's budget, sets the rate
// limit headers on the reply and refuses requests over the budget. When
// Redis fails the request goes through: a limiter outage must not take
// the API down with it.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := caller(r)
		if s.cfg.Limiter == nil || k == nil {
			next.ServeHTTP(w, r)
			return
		}
		res, err := s.cfg.Limiter.Allow(r.Context(), k.ID, k.RPM)
		if err != nil {
			s.log.Warn("rate limiter unavailable; request allowed", "key_id", k.ID, "err", err)
			next.ServeHTTP(w, r)
			return
		}
		res.header(w.Header())
		if !res.Allowed {
			s.writeError(w, r, rateLimited(res))
			return
		}
		next.ServeHTTP(w, r)
	})
}
