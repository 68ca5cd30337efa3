package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/recap/recap"
)

// Wait waits for a job's end, at most SyncWait: its result, the job's
// error, or a KindTimeout job_still_running that tells the caller how to
// wait on. A job its video site has refused for BlockedWait (in retry
// backoff for upstream_blocked) answers sooner: KindUnavailable
// upstream_blocked with RetryAfter the seconds until its next attempt.
// It returns ctx's error when the caller left (the job goes on).
func (s *Service) Wait(ctx context.Context, jobID string, heartbeat time.Duration) (*recap.Result, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.SyncWait)
	defer cancel()
	bctx, bw, done := s.watchBlocked(wctx)
	defer done()
	var final *recap.Event
	err := s.Follow(bctx, jobID, "0", heartbeat, nil, func(ev recap.Event) error {
		bw.see(ev)
		if ev.Terminal() {
			final = &ev
		}
		return nil
	})
	if final == nil && ctx.Err() == nil && errors.Is(context.Cause(bctx), errBlockedBound) {
		ev := s.blockedEnd(ctx, jobID, bw)
		if ev.Type == recap.EventResult {
			return ev.Result, nil
		}
		if ev.Retry != nil {
			return nil, bw.err(jobID)
		}
		final = &ev
	}
	if final == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &Error{Kind: KindTimeout, Code: "job_still_running", RetryAfter: 5,
				Message: fmt.Sprintf("Job %s is still running. Send the same request again to wait for it, or follow GET /api/v1/jobs/%s.", jobID, jobID)}
		}
		return nil, fmt.Errorf("follow job %s: %w", jobID, err)
	}
	if final.Type == recap.EventError {
		return nil, JobError(final.Error)
	}
	return final.Result, nil
}

var errStop = errors.New("stop")

// Start is the beginning of a job's event stream, read before a door
// commits to a streamed reply.
type Start struct {
	// Backlog are the events so far; Last is the id to follow on from.
	Backlog []recap.Event
	Last    string
}

// AwaitStart waits briefly (PricedWait) for a job's price or end, so that
// a refused hold or an early failure is still a plain error before any
// byte of a stream: it returns that error when the job failed before it
// produced any text.
func (s *Service) AwaitStart(ctx context.Context, jobID string) (*Start, error) {
	st := &Start{Last: "0"}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PricedWait)
	_ = s.Events().Follow(pctx, jobID, "0", s.cfg.PricedWait, nil, func(ev recap.Event) error {
		st.Backlog = append(st.Backlog, ev)
		st.Last = ev.ID
		if ev.Type == recap.EventPriced || ev.Terminal() {
			return errStop
		}
		return nil
	})
	cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := len(st.Backlog); n > 0 && st.Backlog[n-1].Type == recap.EventError && !hasDelta(st.Backlog) {
		return nil, JobError(st.Backlog[n-1].Error)
	}
	return st, nil
}

func hasDelta(evs []recap.Event) bool {
	for _, e := range evs {
		if e.Type == recap.EventDelta {
			return true
		}
	}
	return false
}

// StateMessage is the progress line of a job state, "" for states that
// need none.
func StateMessage(state string) string {
	switch state {
	case recap.StateQueued:
		return "Queued…"
	case recap.StateResolving:
		return "Resolving the video…"
	case recap.StateTranscribing:
		return "Getting the transcript…"
	case recap.StateSummarizing:
		return "Summarizing…"
	}
	return ""
}

// errFinalLost stops a follow whose terminal event will not come.
var errFinalLost = errors.New("the job's final event was lost")

// Follow relays a job's events from after on, like jobs.Events.Follow,
// and stands in for a terminal event that never arrives. Postgres, not
// the event stream, is the truth about a job's end: a final event written
// to a Redis master in the moment before a failover (or evicted, or
// flushed) is gone, while the job row says how the job ended. So whenever
// the stream has been idle for every, Follow reads the job row; a job
// that ended at least every ago without its final event reaching this
// follower gets one made from the row (result or error, without an
// event id), and the follow ends as if it had arrived.
func (s *Service) Follow(ctx context.Context, jobID, after string, every time.Duration, idle func() error, fn func(recap.Event) error) error {
	if every <= 0 {
		every = 15 * time.Second
	}
	var stand *recap.Event
	check := func() error {
		if idle != nil {
			if err := idle(); err != nil {
				return err
			}
		}
		j, err := s.cfg.Store.Job(ctx, jobID)
		if err != nil || !recap.Terminal(j.State) {
			// Not ended, or Postgres did not answer: keep following; the
			// next idle period asks again.
			return nil
		}
		if j.FinishedAt != nil && time.Since(*j.FinishedAt) < every {
			// Ended just now: its final event is most likely on its way.
			return nil
		}
		ev, err := s.FinalEvent(ctx, j)
		if err != nil {
			return nil
		}
		stand = &ev
		return errFinalLost
	}
	err := s.Events().Follow(ctx, jobID, after, every, check, fn)
	if stand != nil && errors.Is(err, errFinalLost) {
		return fn(*stand)
	}
	return err
}

// FinalEvent is the terminal event of an ended job, made from its row:
// what the worker published when it ended it.
func (s *Service) FinalEvent(ctx context.Context, j *recap.Job) (recap.Event, error) {
	v, err := s.View(ctx, j)
	if err != nil {
		return recap.Event{}, err
	}
	if v.Result == nil {
		e := v.Error
		if e == nil {
			e = &recap.ErrorInfo{Code: recap.CodeInternal, Message: "the job ended without a result"}
		}
		return recap.Event{Type: recap.EventError, State: j.State, Error: e}, nil
	}
	r := &recap.Result{Markdown: v.Result.Summary, Model: v.Result.Model, Chapters: v.Result.Chapters,
		PromptTokens: v.Result.PromptTokens, CompletionTokens: v.Result.CompletionTokens, Truncated: v.Result.Truncated}
	return recap.Event{Type: recap.EventResult, State: j.State, Result: r}, nil
}
