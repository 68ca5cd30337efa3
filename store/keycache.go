package store

import (
	"context"
	"time"

	"github.com/recap/recap"
)

// KeyChannel is the Postgres channel every change to api_keys is announced
// on (trigger of sql/003_key_notify.sql).
const KeyChannel = "recap_api_keys"

// KeyCacheConfig configures a KeyCache.
type KeyCacheConfig = CacheConfig

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
	memo[string, recap.Caller]
}

// NewKeyCache returns a cache that serves from memory once Run listens.
func NewKeyCache(cfg KeyCacheConfig) *KeyCache {
	c := &KeyCache{}
	c.init(cfg, 100_000)
	return c
}

// KeyBySecret is Store.KeyBySecret, from memory when it can be.
func (c *KeyCache) KeyBySecret(ctx context.Context, secret string) (*recap.Caller, error) {
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
	// Any change to api_keys starts over.
	c.listen(ctx, ready, "recap-key-cache", KeyChannel, func(string) { c.reset(true, nil) })
}
