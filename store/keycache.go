package store

import (
	"context"
	"log/slog"
	"time"
)

// KeyChannel is the Postgres channel every change to api_keys is announced
// on (trigger of sql/003_key_notify.sql).
const KeyChannel = "recap_api_keys"

// KeyCacheConfig configures a KeyCache.
type KeyCacheConfig struct {
	// Store looks keys up on a miss; its pool's settings open the
	// listening connection.
	Store *Store
	// TTL bounds how long a looked-up key is served from memory (default
	// 60 s). Revocations do not wait for it: they clear the cache when
	// their transaction commits.
	TTL time.Duration
	// MaxEntries bounds memory (default 100,000 keys); past it the cache
	// starts over.
	MaxEntries int
	// Logger reports the listening connection's failures.
	Logger *slog.Logger
	// Retry is the pause before re-opening a failed listening connection
	// (default 1 s).
	Retry time.Duration
	// OnReset, if set, is called each time the cache empties: live when
	// listening starts or a change is announced, not live when the
	// listening connection is lost (tests wait on it).
	OnReset func(live bool)
}

// KeyCacheStats counts lookups.
type KeyCacheStats = CacheStats

// KeyCache serves API-key lookups from memory. A key row changes only when
// it is revoked (or deleted), and every such change is announced by a
// trigger on the KeyChannel; the cache listens there and starts over on
// any announcement, so a revoked key stops working the moment its
// revocation commits, on every API replica. Keys are cached only while
// the listening connection is up: without it every lookup goes to
// Postgres, as without a cache.
type KeyCache struct {
	memo[string, APIKey]
	st    *Store
	retry time.Duration
	log   *slog.Logger
}

// NewKeyCache returns a cache that serves from memory once Run listens.
func NewKeyCache(cfg KeyCacheConfig) *KeyCache {
	c := &KeyCache{st: cfg.Store, retry: cfg.Retry, log: cfg.Logger}
	c.init(cfg.TTL, cfg.MaxEntries, cfg.OnReset, time.Minute, 100_000)
	if c.retry <= 0 {
		c.retry = time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// KeyBySecret is Store.KeyBySecret, from memory when it can be.
func (c *KeyCache) KeyBySecret(ctx context.Context, secret string) (*APIKey, error) {
	h := string(HashSecret(secret))
	now := time.Now()
	k, ok, t := c.get(h, now)
	if ok {
		return &k, nil
	}
	found, err := c.st.KeyBySecret(ctx, secret)
	if err != nil {
		return found, err
	}
	c.put(h, *found, t, now)
	return found, nil
}

// Run listens on KeyChannel until ctx ends, re-opening the connection
// after a failure. ready, if not nil, is closed the first time the cache
// listens.
func (c *KeyCache) Run(ctx context.Context, ready chan<- struct{}) {
	l := &listener{st: c.st, name: "recap-key-cache", channels: []string{KeyChannel}, retry: c.retry, log: c.log,
		live: func() { c.reset(true, nil) }, down: func() { c.reset(false, nil) },
		notify: func(string, string) { c.reset(true, nil) }}
	l.run(ctx, ready)
}
