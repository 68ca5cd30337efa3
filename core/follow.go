package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Wait waits for a job's end, at most SyncWait: its result, the job's
// error, or a KindTimeout job_still_running that tells the caller how to
// wait on. It returns ctx's error when the caller left (the job goes on).
func (s *Service) Wait(ctx context.Context, jobID string, heartbeat time.Duration) (*jobs.Result, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.SyncWait)
	defer cancel()
	var final *jobs.Event
	err := s.Events().Follow(wctx, jobID, "0", heartbeat, nil, func(ev jobs.Event) error {
		if ev.Terminal() {
			final = &ev
		}
		return nil
	})
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
	if final.Type == jobs.EventError {
		return nil, JobError(final.Error)
	}
	return final.Result, nil
}

var errStop = errors.New("stop")

// Start is the beginning of a job's event stream, read before a door
// commits to a streamed reply.
type Start struct {
	// Backlog are the events so far; Last is the id to follow on from.
	Backlog []jobs.Event
	Last    string
}

// AwaitStart waits briefly (PricedWait) for a job's price or end, so that
// a refused hold or an early failure is still a plain error before any
// byte of a stream: it returns that error when the job failed before it
// produced any text.
func (s *Service) AwaitStart(ctx context.Context, jobID string) (*Start, error) {
	st := &Start{Last: "0"}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PricedWait)
	_ = s.Events().Follow(pctx, jobID, "0", s.cfg.PricedWait, nil, func(ev jobs.Event) error {
		st.Backlog = append(st.Backlog, ev)
		st.Last = ev.ID
		if ev.Type == jobs.EventPriced || ev.Terminal() {
			return errStop
		}
		return nil
	})
	cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := len(st.Backlog); n > 0 && st.Backlog[n-1].Type == jobs.EventError && !hasDelta(st.Backlog) {
		return nil, JobError(st.Backlog[n-1].Error)
	}
	return st, nil
}

func hasDelta(evs []jobs.Event) bool {
	for _, e := range evs {
		if e.Type == jobs.EventDelta {
			return true
		}
	}
	return false
}

// StateMessage is the progress line of a job state, "" for states that
// need none.
func StateMessage(state string) string {
	switch state {
	case store.StateQueued:
		return "Queued…"
	case store.StateResolving:
		return "Resolving the video…"
	case store.StateTranscribing:
		return "Getting the transcript…"
	case store.StateSummarizing:
		return "Summarizing…"
	}
	return ""
}
