package store

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
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
type KeyCacheStats struct {
	// Hits were answered from memory, Misses by Postgres.
	Hits, Misses int64
}

// KeyCache serves API-key lookups from memory. A key row changes only when
// it is revoked (or deleted), and every such change is announced by a
// trigger on the KeyChannel; the cache listens there and starts over on
// any announcement, so a revoked key stops working the moment its
// revocation commits, on every API replica. Keys are cached only while
// the listening connection is up: without it every lookup goes to
// Postgres, as without a cache.
type KeyCache struct {
	st         *Store
	ttl, retry time.Duration
	max        int
	log        *slog.Logger
	onReset    func(live bool)
	hits       atomic.Int64
	misses     atomic.Int64

	mu      sync.RWMutex
	live    bool
	gen     uint64
	entries map[string]keyEntry
}

type keyEntry struct {
	key     APIKey
	expires time.Time
}

// NewKeyCache returns a cache that serves from memory once Run listens.
func NewKeyCache(cfg KeyCacheConfig) *KeyCache {
	c := &KeyCache{st: cfg.Store, ttl: cfg.TTL, retry: cfg.Retry, max: cfg.MaxEntries, log: cfg.Logger,
		onReset: cfg.OnReset, entries: map[string]keyEntry{}}
	if c.ttl <= 0 {
		c.ttl = time.Minute
	}
	if c.retry <= 0 {
		c.retry = time.Second
	}
	if c.max <= 0 {
		c.max = 100_000
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
	c.mu.RLock()
	live, gen := c.live, c.gen
	if e, ok := c.entries[h]; ok && live && now.Before(e.expires) {
		c.mu.RUnlock()
		c.hits.Add(1)
		k := e.key
		return &k, nil
	}
	c.mu.RUnlock()
	c.misses.Add(1)
	k, err := c.st.KeyBySecret(ctx, secret)
	if err != nil || !live {
		return k, err
	}
	c.mu.Lock()
	// A change announced while the row was read may postdate it: keep the
	// row only if nothing was announced since the lookup began.
	if c.live && c.gen == gen {
		if len(c.entries) >= c.max {
			c.entries = map[string]keyEntry{}
		}
		c.entries[h] = keyEntry{key: *k, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return k, nil
}

// reset forgets every key and sets whether the cache may serve.
func (c *KeyCache) reset(live bool) {
	c.mu.Lock()
	c.gen++
	c.live = live
	c.entries = map[string]keyEntry{}
	c.mu.Unlock()
	if c.onReset != nil {
		c.onReset(live)
	}
}

// Stats returns how many lookups were answered from memory and how many
// by Postgres.
func (c *KeyCache) Stats() KeyCacheStats {
	return KeyCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// Live reports whether the cache is listening (and so serving from memory).
func (c *KeyCache) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Run listens on KeyChannel until ctx ends, re-opening the connection
// after a failure. ready, if not nil, is closed the first time the cache
// listens.
func (c *KeyCache) Run(ctx context.Context, ready chan<- struct{}) {
	l := &listener{st: c.st, name: "recap-key-cache", channels: []string{KeyChannel}, retry: c.retry, log: c.log,
		live: func() { c.reset(true) }, down: func() { c.reset(false) },
		notify: func(string, string) { c.reset(true) }}
	l.run(ctx, ready)
}
