package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/jobs"
)

func newEvents(t *testing.T) *jobs.Events {
	t.Helper()
	ev := jobs.NewEvents(jobs.EventsConfig{Redis: redistest.New(t), Prefix: redistest.Prefix(t, "te")})
	t.Cleanup(ev.Close)
	return ev
}

func progress(t *testing.T, ev *jobs.Events, job, msg string) string {
	t.Helper()
	id, err := ev.Publish(context.Background(), job, recap.Event{Type: recap.EventProgress, Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func finish(t *testing.T, ev *jobs.Events, job string) {
	t.Helper()
	if _, err := ev.Publish(context.Background(), job, recap.Event{Type: recap.EventResult, Result: &recap.Result{Markdown: "done"}}); err != nil {
		t.Fatal(err)
	}
}

// follow runs Follow in the background and collects the messages of the
// events it gets; wait returns them (and Follow's error) once it ends.
// Its idle calls (every 10ms) tell that it is attached and has nothing
// to read.
type follow struct {
	mu   sync.Mutex
	msgs []string
	ids  []string
	done chan error
	// idle is closed at the first idle call.
	idle chan struct{}
	once sync.Once
}

func startFollow(ctx context.Context, ev *jobs.Events, job, after string) *follow {
	f := &follow{done: make(chan error, 1), idle: make(chan struct{})}
	onIdle := func() error {
		f.once.Do(func() { close(f.idle) })
		return nil
	}
	go func() {
		f.done <- ev.Follow(ctx, job, after, 10*time.Millisecond, onIdle, func(e recap.Event) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			m := e.Message
			if e.Terminal() {
				m = "end"
			}
			f.msgs, f.ids = append(f.msgs, m), append(f.ids, e.ID)
			return nil
		})
	}()
	return f
}

func (f *follow) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

func (f *follow) wait(t *testing.T) string {
	t.Helper()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Follow did not end")
	}
	return strings.Join(f.msgs, ",")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Followers of one job at different positions each get exactly the events
// after theirs, in order: a replay from "0", a resume from an id, "$" for
// only new ones, and a late joiner replaying while others follow live.
func TestFollowPositions(t *testing.T) {
	t.Parallel()
	ev := newEvents(t)
	ctx := context.Background()
	job := uuid.NewString()
	live := startFollow(ctx, ev, job, "0")
	id1 := progress(t, ev, job, "a")
	progress(t, ev, job, "b")
	waitFor(t, "the live follower to see two events", func() bool { return live.count() == 2 })

	replay := startFollow(ctx, ev, job, "0")
	resume := startFollow(ctx, ev, job, id1)
	waitFor(t, "the replay", func() bool { return replay.count() == 2 && resume.count() == 1 })
	newOnly := startFollow(ctx, ev, job, "$")
	<-newOnly.idle // "$" is resolved: the next event is its first
	progress(t, ev, job, "c")
	waitFor(t, "the third event everywhere", func() bool {
		return live.count() == 3 && replay.count() == 3 && resume.count() == 2 && newOnly.count() == 1
	})
	progress(t, ev, job, "d")
	finish(t, ev, job)
	for name, tc := range map[string]struct {
		f    *follow
		want string
	}{
		"live":   {live, "a,b,c,d,end"},
		"replay": {replay, "a,b,c,d,end"},
		"resume": {resume, "b,c,d,end"},
		"new":    {newOnly, "c,d,end"},
	} {
		if got := tc.f.wait(t); got != tc.want {
			t.Errorf("%s follower got %s, want %s", name, got, tc.want)
		}
	}
	// A follower after the end replays everything and ends at once.
	if got := startFollow(ctx, ev, job, "0").wait(t); got != "a,b,c,d,end" {
		t.Errorf("follower after the end got %s", got)
	}
	if got := startFollow(ctx, ev, job, live.ids[2]).wait(t); got != "d,end" {
		t.Errorf("resume after the end got %s", got)
	}
}

// idle runs whenever nothing arrived within every; its error, fn's error
// and the context's end each end Follow with that error. A malformed
// position is an error of that Follow alone.
func TestFollowIdleErrorsAndCancel(t *testing.T) {
	t.Parallel()
	ev := newEvents(t)
	job := uuid.NewString()
	ctx, cancel := context.WithCancel(context.Background())
	var idles atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- ev.Follow(ctx, job, "0", 20*time.Millisecond, func() error { idles.Add(1); return nil }, func(recap.Event) error { return nil })
	}()
	waitFor(t, "three idle calls", func() bool { return idles.Load() >= 3 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel: %v", err)
	}

	errIdle := errors.New("client gone")
	err := ev.Follow(context.Background(), job, "0", 20*time.Millisecond, func() error { return errIdle }, func(recap.Event) error { return nil })
	if !errors.Is(err, errIdle) {
		t.Fatalf("idle's error: %v", err)
	}

	other := startFollow(context.Background(), ev, job, "0")
	if err := ev.Follow(context.Background(), job, "not-an-id", time.Hour, nil, func(recap.Event) error { return nil }); err == nil {
		t.Fatal("a malformed position was accepted")
	}
	errFn := errors.New("write failed")
	progress(t, ev, job, "x")
	err = ev.Follow(context.Background(), job, "0", time.Hour, nil, func(recap.Event) error { return errFn })
	if !errors.Is(err, errFn) {
		t.Fatalf("fn's error: %v", err)
	}
	finish(t, ev, job)
	if got := other.wait(t); got != "x,end" {
		t.Fatalf("the other follower got %s", got)
	}
}
