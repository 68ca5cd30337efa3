package store

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// CacheConfig configures a cache that serves from memory while it listens
// (KeyCache, SummaryCache).
type CacheConfig struct {
	// Store answers misses; its pool's settings open the listening
	// connection.
	Store *Store
	// TTL bounds how long a looked-up row is served from memory (default
	// 60 s). Announced changes do not wait for it: they drop what they
	// change when their transaction commits.
	TTL time.Duration
	// MaxEntries bounds memory (default 100,000 keys, 10,000 summary
	// answers); past it the cache starts over.
	MaxEntries int
	// Logger reports the listening connection's failures.
	Logger *slog.Logger
	// Retry is the pause before re-opening a failed listening connection
	// (default 1 s).
	Retry time.Duration
	// OnReset, if set, is called each time entries are dropped: live when
	// listening starts or a change is announced, not live when the
	// listening connection is lost (tests wait on it).
	OnReset func(live bool)
}

// CacheStats counts the lookups of a cache that serves from memory.
type CacheStats struct {
	// Hits were answered from memory, Misses by Postgres.
	Hits, Misses int64
}

// memo is what KeyCache and SummaryCache share: entries served only while
// the cache is live (its listener hears every change), each for at most
// ttl, and a generation that every announced change moves, so that a row
// read from Postgres while a change was announced is not kept.
type memo[K comparable, V any] struct {
	st      *Store
	retry   time.Duration
	log     *slog.Logger
	ttl     time.Duration
	max     int
	onReset func(live bool)
	hits    atomic.Int64
	misses  atomic.Int64

	mu      sync.RWMutex
	live    bool
	gen     uint64
	entries map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	v       V
	expires time.Time
}

// init applies cfg (defaults: 60 s, defMax entries, 1 s between
// reconnections) and starts the memo empty.
func (m *memo[K, V]) init(cfg CacheConfig, defMax int) {
	m.st, m.ttl, m.max, m.retry, m.log, m.onReset = cfg.Store, cfg.TTL, cfg.MaxEntries, cfg.Retry, cfg.Logger, cfg.OnReset
	if m.ttl <= 0 {
		m.ttl = time.Minute
	}
	if m.max <= 0 {
		m.max = defMax
	}
	if m.retry <= 0 {
		m.retry = time.Second
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.entries = map[K]memoEntry[V]{}
}

// listen runs the memo's listener on channel until ctx ends: live when it
// listens, not live while it is lost, notify for each announcement.
func (m *memo[K, V]) listen(ctx context.Context, ready chan<- struct{}, name, channel string, notify func(detail string)) {
	l := &listener{st: m.st, name: name, channels: []string{channel}, retry: m.retry, log: m.log,
		live: func() { m.reset(true, nil) }, down: func() { m.reset(false, nil) },
		notify: func(_, detail string) { notify(detail) }}
	l.run(ctx, ready)
}

// get returns k's value when the memo is live and it is fresh, counting a
// hit or a miss. A miss returns the ticket put needs.
func (m *memo[K, V]) get(k K, now time.Time) (v V, ok bool, t memoTicket) {
	m.mu.RLock()
	e, found := m.entries[k]
	t = memoTicket{live: m.live, gen: m.gen}
	m.mu.RUnlock()
	if found && t.live && now.Before(e.expires) {
		m.hits.Add(1)
		return e.v, true, t
	}
	m.misses.Add(1)
	return v, false, t
}

// memoTicket is the state a miss began in.
type memoTicket struct {
	live bool
	gen  uint64
}

// put keeps v for k, read from Postgres after the miss that gave t,
// unless the memo was not live then or a change was announced since.
func (m *memo[K, V]) put(k K, v V, t memoTicket, now time.Time) {
	if !t.live {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live || m.gen != t.gen {
		return
	}
	if len(m.entries) >= m.max {
		m.entries = map[K]memoEntry[V]{}
	}
	m.entries[k] = memoEntry[V]{v: v, expires: now.Add(m.ttl)}
}

// reset moves the generation, sets whether the memo may serve, and drops
// the entries drop selects (every entry when drop is nil or the memo is
// no longer live).
func (m *memo[K, V]) reset(live bool, drop func(K, V) bool) {
	m.mu.Lock()
	m.gen++
	m.live = live
	if drop == nil || !live {
		m.entries = map[K]memoEntry[V]{}
	} else {
		for k, e := range m.entries {
			if drop(k, e.v) {
				delete(m.entries, k)
			}
		}
	}
	m.mu.Unlock()
	if m.onReset != nil {
		m.onReset(live)
	}
}

// Stats returns how many lookups were answered from memory and how many
// by Postgres.
func (m *memo[K, V]) Stats() CacheStats {
	return CacheStats{Hits: m.hits.Load(), Misses: m.misses.Load()}
}

// Live reports whether the cache is listening (and so serving from memory).
func (m *memo[K, V]) Live() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.live
}
