package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/recap/recap"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap/internal/redistest"
)

func randName(t *testing.T, p string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return p + hex.EncodeToString(b)
}

// namedConns counts the server's connections of a client name (CLIENT
// LIST); with blocked set, only those waiting in a blocking command.
func namedConns(t *testing.T, admin redis.UniversalClient, name string, blocked bool) int {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && (!blocked || strings.Contains(line, " flags=b ")) {
			n++
		}
	}
	return n
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// state reads the reader's state under its lock.
func (f *fanout) state() (topics int, blocking, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.topics), f.blocking, f.running
}

// 300 idle followers hold one Redis connection between them (the shared
// reader's XREAD), where each used to hold its own; all of them still get
// their job's events.
func TestFollowersShareOneConnection(t *testing.T) {
	t.Parallel()
	const followers = 300
	name := randName(t, "recap-fanout-")
	rdb := redistest.NewNamed(t, name)
	admin := redistest.NewNamed(t, name+"-admin")
	prefix := randName(t, "tf") + ":"
	ev := NewEvents(EventsConfig{Redis: rdb, Prefix: prefix})
	pub := NewEvents(EventsConfig{Redis: admin, Prefix: prefix})
	ctx := context.Background()

	// The count works: five blocking reads of their own (what each
	// follower did before) hold five connections.
	var wg sync.WaitGroup
	direct := make([]string, 5)
	other := NewEvents(EventsConfig{Redis: redistest.NewNamed(t, name+"-direct"), Prefix: prefix})
	for i := range direct {
		direct[i] = uuid.NewString()
		wg.Go(func() {
			if _, err := other.Read(ctx, direct[i], "0", 30*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	poll(t, 10*time.Second, "five blocked XREADs", func() bool { return namedConns(t, admin, name+"-direct", true) == 5 })
	for _, id := range direct {
		if _, err := pub.Publish(ctx, id, recap.Event{Type: recap.EventState, State: "queued"}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	ids := make([]string, followers)
	got := make([][]recap.Event, followers)
	errs := make([]error, followers)
	for i := range ids {
		ids[i] = uuid.NewString()
		wg.Go(func() {
			errs[i] = ev.Follow(ctx, ids[i], "0", time.Hour, nil, func(e recap.Event) error {
				got[i] = append(got[i], e)
				return nil
			})
		})
	}
	poll(t, 30*time.Second, "every follower attached to a blocked reader", func() bool {
		n, blocking, _ := ev.fan.state()
		return n == followers && blocking && namedConns(t, admin, name, true) == 1
	})
	idle := namedConns(t, admin, name, false)
	// The reader's connection and the one or two that sent wake-ups:
	// nothing per follower.
	if idle > 3 {
		t.Fatalf("%d connections for %d idle followers", idle, followers)
	}
	t.Logf("%d followers: %d connections named %s", followers, idle, name)

	for i, id := range ids {
		if _, err := pub.Publish(ctx, id, recap.Event{Type: recap.EventProgress, Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := pub.Publish(ctx, id, recap.Event{Type: recap.EventError, Error: &recap.ErrorInfo{Code: recap.CodeCanceled, Message: "done"}}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("follower %d: %v", i, errs[i])
		}
		if len(got[i]) != 2 || got[i][0].Message != fmt.Sprint(i) || !got[i][1].Terminal() {
			t.Fatalf("follower %d got %+v", i, got[i])
		}
	}
	if n := namedConns(t, admin, name, false); n > idle+2 {
		t.Errorf("%d connections after the events, %d before", n, idle)
	}
	poll(t, fanoutBlock+5*time.Second, "the reader to end with nobody to serve", func() bool {
		_, _, running := ev.fan.state()
		return !running
	})
}

// A follower that does not keep up (its client reads slowly) is let go by
// the reader, catches up with reads of its own and joins again: it gets
// every event once and in order, and the reader never waits for it.
func TestSlowFollowerCatchesUp(t *testing.T) {
	t.Parallel()
	rdb := redistest.NewNamed(t, randName(t, "recap-slow-"))
	prefix := randName(t, "tf") + ":"
	ev := NewEvents(EventsConfig{Redis: rdb, Prefix: prefix})
	ev.fan.buffer = 1
	ctx := context.Background()
	job, other := uuid.NewString(), uuid.NewString()

	release := make(chan struct{})
	var got []string
	slow := make(chan error, 1)
	go func() {
		slow <- ev.Follow(ctx, job, "0", time.Hour, nil, func(e recap.Event) error {
			if len(got) == 0 {
				<-release
			}
			got = append(got, e.Message)
			return nil
		})
	}()
	// A second follower of another job shows the reader goes on.
	var fast []string
	fastDone := make(chan error, 1)
	go func() {
		fastDone <- ev.Follow(ctx, other, "0", time.Hour, nil, func(e recap.Event) error {
			fast = append(fast, e.Message)
			return nil
		})
	}()
	poll(t, 10*time.Second, "both followers attached", func() bool { n, _, _ := ev.fan.state(); return n == 2 })

	var want []string
	publish := func(id, msg string) string {
		t.Helper()
		eid, err := ev.Publish(ctx, id, recap.Event{Type: recap.EventProgress, Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		return eid
	}
	// One entry per read: wait until the reader has moved past each.
	for i := range 6 {
		msg := fmt.Sprint(i)
		want = append(want, msg)
		eid := publish(job, msg)
		publish(other, msg)
		target, _ := parseStreamID(eid)
		poll(t, 10*time.Second, "the reader to read entry "+msg, func() bool {
			ev.fan.mu.Lock()
			defer ev.fan.mu.Unlock()
			tp := ev.fan.topics[ev.key(job)]
			return tp == nil || !tp.cursor.less(target)
		})
	}
	// The slow follower's buffer of one was full: the reader let go of it.
	ev.fan.mu.Lock()
	_, attached := ev.fan.topics[ev.key(job)]
	ev.fan.mu.Unlock()
	if attached {
		t.Fatal("the reader still serves a follower that stopped reading")
	}
	if _, err := ev.Publish(ctx, other, recap.Event{Type: recap.EventResult, Result: &recap.Result{}}); err != nil {
		t.Fatal(err)
	}
	if err := <-fastDone; err != nil || len(fast) != 7 {
		t.Fatalf("the other follower: %v, %d events", err, len(fast))
	}

	close(release)
	// Events after it caught up come through the reader again.
	poll(t, 10*time.Second, "the slow follower to rejoin", func() bool {
		ev.fan.mu.Lock()
		defer ev.fan.mu.Unlock()
		_, ok := ev.fan.topics[ev.key(job)]
		return ok
	})
	want = append(want, "late", "")
	publish(job, "late")
	if _, err := ev.Publish(ctx, job, recap.Event{Type: recap.EventResult, Result: &recap.Result{}}); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("slow follower got %q, want %q", got, want)
	}
}

// Close lets go of every follower; a new Follow is refused.
func TestEventsClose(t *testing.T) {
	t.Parallel()
	rdb := redistest.NewNamed(t, randName(t, "recap-close-"))
	ev := NewEvents(EventsConfig{Redis: rdb, Prefix: randName(t, "tf") + ":"})
	done := make(chan error, 1)
	go func() {
		done <- ev.Follow(context.Background(), uuid.NewString(), "0", time.Hour, nil, func(recap.Event) error { return nil })
	}()
	poll(t, 10*time.Second, "the follower attached to a blocked reader", func() bool {
		n, blocking, _ := ev.fan.state()
		return n == 1 && blocking
	})
	ev.Close()
	if err := <-done; !errors.Is(err, ErrEventsClosed) {
		t.Fatalf("Follow after Close: %v", err)
	}
	if _, _, running := ev.fan.state(); running {
		t.Fatal("the reader outlived Close")
	}
	if err := ev.Follow(context.Background(), uuid.NewString(), "0", time.Hour, nil, func(recap.Event) error { return nil }); !errors.Is(err, ErrEventsClosed) {
		t.Fatalf("Follow on closed Events: %v", err)
	}
}
