package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/recap/recap"
)

// errBlockedBound cancels a wait whose job has been refused by its video
// site for BlockedWait.
var errBlockedBound = errors.New("the site refused for the whole blocked wait")

// blockWatch watches a followed job's failed attempts (the progress events
// with a Retry) for a site's refusal (upstream_blocked). From the first
// refusal it arms a timer of BlockedWait; when it fires while the latest
// failed attempt is still a refusal, it cancels the follow: the waiting
// caller gets a prompt 503 rather than minutes of silence, and the job
// keeps retrying. Another kind of failure in between disarms it.
type blockWatch struct {
	bound  time.Duration
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	timer *time.Timer
	first time.Time
	last  *recap.RetryInfo
}

func newBlockWatch(bound time.Duration, cancel context.CancelCauseFunc) *blockWatch {
	return &blockWatch{bound: bound, cancel: cancel}
}

// see takes in one of the job's events, backlog or live.
func (b *blockWatch) see(ev recap.Event) {
	if ev.Type != recap.EventProgress || ev.Retry == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.Retry.Code != recap.CodeUpstreamBlocked {
		// Not a refusal: the site let the worker through. A timer that
		// already fired has canceled the follow; its refusal stands.
		if b.timer == nil || b.timer.Stop() {
			b.timer, b.first, b.last = nil, time.Time{}, nil
		}
		return
	}
	b.last = ev.Retry
	if b.timer == nil {
		b.first = ev.Retry.At
		b.timer = time.AfterFunc(time.Until(b.first.Add(b.bound)), func() { b.cancel(errBlockedBound) })
	}
}

func (b *blockWatch) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
	}
}

// err is the error of a wait the bound cut short: 503 upstream_blocked,
// Retry-After the seconds until the next attempt.
func (b *blockWatch) err(jobID string) *Error {
	b.mu.Lock()
	rt := b.last
	b.mu.Unlock()
	wait := max(1, int(math.Ceil(time.Until(rt.Next).Seconds())))
	msg := strings.TrimRight(capitalize(rt.Message), ".")
	return &Error{Kind: KindUnavailable, Code: recap.CodeUpstreamBlocked, RetryAfter: wait,
		Message: fmt.Sprintf("%s. Job %s keeps trying: attempt %d of %d runs in about %d s; send the same request again then to attach to it, or follow GET /api/v1/jobs/%s.",
			msg, jobID, rt.Attempt+1, rt.MaxAttempts, wait, jobID)}
}

// watchBlocked returns ctx canceled (cause errBlockedBound) when the
// job's site has refused it for BlockedWait, and the watch to feed the
// job's events to.
func (s *Service) watchBlocked(ctx context.Context) (context.Context, *blockWatch, func()) {
	bctx, cancel := context.WithCancelCause(ctx)
	bw := newBlockWatch(s.cfg.BlockedWait, cancel)
	return bctx, bw, func() { bw.stop(); cancel(nil) }
}

// blockedEnd is how a wait cut short by the bound ends: the job's own end
// when it ended meanwhile (its final event may not have reached this
// follower yet), else the refusal.
func (s *Service) blockedEnd(ctx context.Context, jobID string, bw *blockWatch) recap.Event {
	if j, err := s.cfg.Store.Job(ctx, jobID); err == nil && recap.Terminal(j.State) {
		if ev, err := s.FinalEvent(ctx, j); err == nil {
			return ev
		}
	}
	e := bw.err(jobID)
	return recap.Event{Type: recap.EventError, Error: &recap.ErrorInfo{Code: e.Code, Message: e.Message}, Retry: bw.last}
}

// FollowStart relays a job's events to a stream: the backlog AwaitStart
// read, then the live stream (as Follow). A job its video site has refused
// for BlockedWait ends the relay with a terminal error event made for it
// (the upstream_blocked error Wait answers with); the job goes on. It
// returns nil when the relay reached the end (the job's or that one).
func (s *Service) FollowStart(ctx context.Context, jobID string, st *Start, every time.Duration, idle func() error, fn func(recap.Event) error) error {
	bctx, bw, done := s.watchBlocked(ctx)
	defer done()
	for _, ev := range st.Backlog {
		bw.see(ev)
		if err := fn(ev); err != nil {
			return err
		}
		if ev.Terminal() {
			return nil
		}
	}
	err := s.Follow(bctx, jobID, st.Last, every, idle, func(ev recap.Event) error {
		bw.see(ev)
		return fn(ev)
	})
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(bctx), errBlockedBound) {
		return fn(s.blockedEnd(ctx, jobID, bw))
	}
	return err
}
