// Package redistest connects tests to the machine's real Redis
// (TEST_REDIS_URL, default redis://127.0.0.1:6379/0) and keeps each test's
// keys apart under a prefix of its own, deleted when the test ends. It is
// the one place tests read TEST_REDIS_URL.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when TEST_REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the test Redis URL.
func URL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Options returns the parsed test Redis URL.
func Options(t testing.TB) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("redistest: TEST_REDIS_URL: %v", err)
	}
	return opt
}

// New returns a client of the test Redis, closed when the test ends.
func New(t testing.TB) *redis.Client {
	t.Helper()
	return NewNamed(t, "")
}

// NewNamed is New with a client name (CLIENT SETNAME), for tests that
// count their connections in CLIENT LIST.
func NewNamed(t testing.TB, name string) *redis.Client {
	t.Helper()
	opt := Options(t)
	opt.ClientName = name
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Asynq returns the test Redis as asynq's connection options.
func Asynq(t testing.TB) asynq.RedisConnOpt {
	t.Helper()
	opt, err := asynq.ParseRedisURI(URL())
	if err != nil {
		t.Fatalf("redistest: TEST_REDIS_URL: %v", err)
	}
	return opt
}

// Prefix returns a key prefix no other test uses: p, random hex and a
// colon. When the test ends, every key containing it is deleted: the
// keys made under it directly ("<prefix>…"), under a namespace
// ("recap:<prefix>…") and asynq's keys of queues named with it
// ("asynq:{<prefix>queue}:…").
func Prefix(t testing.TB, p string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := p + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteMatching(URL(), "*"+prefix+"*") })
	return prefix
}

// deleteMatching deletes the keys matching pattern, best effort: a test
// whose Redis is gone has failed already.
func deleteMatching(url, pattern string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Unlink(ctx, keys[:n]...)
		keys = keys[n:]
	}
}
