package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
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
type RateLimiter struct {
	lim        *redis_rate.Limiter
	prefix     string
	defaultRPM int
}

// NewRateLimiter returns a limiter whose Redis keys start with prefix
// (after redis_rate's own "rate:"): deployments and tests sharing one
// Redis keep separate budgets by giving different prefixes.
func NewRateLimiter(rdb redis.UniversalClient, prefix string, defaultRPM int) *RateLimiter {
	if defaultRPM <= 0 {
		defaultRPM = DefaultRPM
	}
	return &RateLimiter{lim: redis_rate.NewLimiter(rdb), prefix: prefix, defaultRPM: defaultRPM}
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
