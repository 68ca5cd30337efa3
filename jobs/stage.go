package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

type stageFunc func(ctx context.Context, j *recap.Job) error

// callerCaused reports whether a permanent failure is the request's own
// doing (the video is gone, too long, not allowed, the balance too low):
// the job records it as its outcome, and the task ends as done rather
// than archived, so asynq's failure counts and archive hold only what went
// wrong on Recap's side or upstream.
func callerCaused(code string) bool {
	switch code {
	case recap.CodeNoTranscript, recap.CodeMediaTooLong, recap.CodeLiveNotSupported, recap.CodeVideoUnavailable, recap.CodeUnsupportedURL,
		recap.CodeURLNotAllowed, recap.CodeInsufficientQuota, recap.CodeTooLarge, recap.CodeCanceled, recap.CodeInvalidImage, recap.CodeInvalidRange,
		recap.CodeLoginRequired, recap.CodeGeoRestricted, recap.CodeDRMProtected, // the video's site said no
		recap.CodeSchemaValidationFailed, recap.CodeResponseFormatUnsupported, // the caller's response format
		recap.CodeFileNotFound, recap.CodeContextLength: // the caller's upload expired; the caller's text too long for the model
		return true
	}
	return false
}

// stage wraps a stage: it loads the job, skips ended ones, moves the job
// into the stage's state and counts the attempt in Postgres, and tells
// asynq how the run ended (see retry.go): a permanent error or the last
// attempt's error is final, and HandleError turns it into the job's single
// terminal state (which settles its credit hold in the same transaction).
func (w *Worker) stage(st *task, fn stageFunc) asynq.Handler {
	typ, state := st.typ, st.state
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		w.running.Add(1)
		defer w.running.Done()
		// asynq retries or archives a task the moment its deadline passes,
		// without waiting for the handler. The stage works to a slightly
		// earlier deadline, so that on a last attempt it records the
		// failure itself (with its real cause) while the task is still
		// active, rather than leaving an archived task for the reconciler.
		if dl, ok := ctx.Deadline(); ok {
			margin := min(time.Until(dl)/10, 5*time.Second)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
			defer cancel()
		}
		var p payload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.JobID == "" {
			return fmt.Errorf("%s: bad payload: %w", typ, asynq.SkipRetry)
		}
		j, err := w.cfg.Store.Job(ctx, p.JobID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: job %s not found: %w", typ, p.JobID, asynq.SkipRetry)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		if recap.Terminal(j.State) {
			return nil
		}
		log := w.log.With("job_id", j.ID, "video_key", j.VideoKey, "stage", typ)
		ctx = withLogger(ctx, log)
		release, err := w.takeSlot(ctx, j, st) // see fairness.go
		if err != nil {
			return err
		}
		defer release()
		attempt, ok, err := w.startStage(ctx, j, state)
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		if !ok {
			// Ended meanwhile, or past this stage: a duplicate task (the
			// reconciler's, after Redis lost the original) has nothing to do.
			return nil
		}
		retry, ok1 := asynq.GetRetryCount(ctx)
		maxRetry, ok2 := asynq.GetMaxRetry(ctx)
		if !ok2 {
			maxRetry = w.cfg.MaxRetry
		}
		budget := maxRetry + 1
		if attempt.N > budget {
			// Redis forgot this task's retries (a flush, a restart without
			// persistence) and it came back with a fresh count; Postgres
			// did not forget. The last attempt's failure was never recorded
			// (its worker died, or its task was lost): record it now.
			je := &Error{Code: recap.CodeUpstream, Message: fmt.Sprintf("the %s stage gave up after %d attempts", typ, attempt.N-1)}
			if attempt.LastErrorCode != "" {
				je.Code = attempt.LastErrorCode
			}
			if attempt.LastError != "" {
				je.Message += ": " + attempt.LastError
			}
			log.Warn("stage over its attempt budget", "attempt", attempt.N, "budget", budget)
			return &stageError{jobID: j.ID, log: log, je: je, attempt: attempt.N, retry: retry, final: true,
				ret: fmt.Errorf("%s: %s: %w", typ, je.Message, asynq.SkipRetry)}
		}
		start := time.Now()
		slot := &chainSlot{}
		err = fn(context.WithValue(ctx, chainKey{}, slot), j)
		if err == nil {
			log.Info("stage done", "ms", time.Since(start).Milliseconds(), "attempt", attempt.N)
			if slot.next != nil {
				w.deferChain(ctx, j, slot.next)
			}
			return nil
		}
		je := asError(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && je.Code == recap.CodeInternal {
			// The stage ran out of time somewhere that is not an upstream
			// call of its own (waiting for a lock a hung attempt still held,
			// say): say so rather than "processing failed".
			je = &Error{Code: recap.CodeUpstream, Message: fmt.Sprintf("the %s stage timed out after %s", typ, st.timeout(w.cfg.Timeouts)), Err: err}
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			// Not the job's doing: a cancel (the job has ended: done), a
			// shutdown (asynq puts the task back) or a lost lease (asynq
			// retries it). Failing the job here would turn a worker restart
			// into a failed job on its last attempt, and counting the run
			// would let restarts use up its attempts.
			bg := context.WithoutCancel(ctx)
			if cur, err2 := w.cfg.Store.Job(bg, j.ID); err2 == nil && recap.Terminal(cur.State) {
				return nil
			}
			if err2 := w.cfg.Store.RefundAttempt(bg, j.ID, state); err2 != nil {
				log.Warn("refund interrupted attempt", "err", err2)
			}
			log.Info("stage interrupted", "err", err, "retry", retry)
			return fmt.Errorf("%s: %w: %w", typ, errInterrupted, err)
		}
		last := je.Permanent || attempt.N >= budget || (ok1 && retry >= maxRetry)
		if ctx.Err() != nil && !last {
			// Canceled or timed out: the job row tells which. A canceled job
			// is already terminal; a time-out is retried.
			if cur, err2 := w.cfg.Store.Job(context.WithoutCancel(ctx), j.ID); err2 == nil && recap.Terminal(cur.State) {
				return nil
			}
		}
		se := &stageError{jobID: j.ID, log: log, je: je, err: err, attempt: attempt.N, retry: retry, budget: budget, final: last, ret: err}
		if !last {
			return se // retried; HandleError records the attempt
		}
		if je.Permanent && callerCaused(je.Code) {
			// A recorded outcome, not a queue failure (see callerCaused):
			// asynq sees the task done, so it is recorded here.
			w.record(ctx, se)
			setOutcome(ctx, outcomeFailed)
			return nil
		}
		se.ret = fmt.Errorf("%s: %w: %w", typ, err, asynq.SkipRetry)
		return se // archived; HandleError fails the job
	})
}

// startStage moves the job into a stage's state, counting the attempt,
// and tells its followers when the state changed.
func (w *Worker) startStage(ctx context.Context, j *recap.Job, state string) (store.Attempt, bool, error) {
	a, ok, err := w.cfg.Store.StartStage(ctx, j.ID, state)
	if err != nil || !ok {
		return a, ok, err
	}
	if j.State != state {
		w.publish(ctx, j.ID, recap.Event{Type: recap.EventState, State: state})
		j.State = state
	}
	return a, true, nil
}
