package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// TestRedisPoolIdleAfterBurst: a burst of 300 clients each holding a
// connection of the API's Redis pool (as followers of job streams do
// while they read) leaves about RedisMaxIdleConns idle connections
// behind once it is over, not the 300 it opened.
func TestRedisPoolIdleAfterBurst(t *testing.T) {
	t.Parallel()
	target, err := app.ParseRedisURL(apptest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.Client(1024) // as app.Connect opens it
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	key := "recap:test:poolburst:" + hex.EncodeToString(b)
	const burst = 300
	// Each BLPOP holds its connection until the list gets an element:
	// all 300 are open at once.
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rdb.BLPop(ctx, 0, key).Err(); err != nil {
				errs <- err
			}
		}()
	}
	apptest.Poll(t, 30*time.Second, "300 connections open", func() bool { return rdb.PoolStats().TotalConns >= burst })
	// Another connection releases them, one element per push: the burst's
	// connections come back in quick succession, as followers' do when
	// their streams end, rather than in the same instant (go-redis checks
	// its idle cap without a lock, and hundreds of returns in one instant
	// under -race overshoot it by a scheduler's whim).
	other := target.Client(1)
	defer other.Close()
	for i := range burst {
		if err := other.RPush(ctx, key, i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := rdb.PoolStats()
	t.Logf("after the burst: %d connections, %d idle", st.TotalConns, st.IdleConns)
	// go-redis compares the idle count with its cap without a lock, so
	// connections returned at the same moment may overshoot it by a few;
	// without the cap all 300 stay.
	if limit := uint32(2 * app.RedisMaxIdleConns); st.IdleConns > limit || st.TotalConns > limit {
		t.Fatalf("after a burst of %d: %d connections, %d idle; want about %d", burst, st.TotalConns, st.IdleConns, app.RedisMaxIdleConns)
	}
	if st.IdleConns == 0 {
		t.Fatalf("no idle connection kept: %+v", st)
	}
}
