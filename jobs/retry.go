package jobs

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/recap/recap/textclean"
)

// Retry and interrupt rules. A stage run (see stage) ends one of five ways,
// and asynq is told which by the error alone:
//
//   - done: nil. A caller-caused failure (callerCaused) is the job's recorded
//     outcome, not a failed task, so it ends here too.
//   - failed, retried: a *stageError; asynq retries it with backoff and
//     ErrorHandler records the failed attempt.
//   - failed, final: a *stageError wrapping asynq.SkipRetry; asynq archives
//     it and ErrorHandler ends the job as failed.
//   - interrupted: errInterrupted (the stage's context was canceled: a
//     shutdown, a cancel, a lost lease), or asynq's own context.Canceled
//     when it stops waiting for the handler. IsFailure says it is not a
//     failure, so the re-run does not use up a retry; the stage has already
//     given the attempt back in Postgres (it must do so itself: on shutdown
//     asynq puts the task back without calling ErrorHandler).
//   - anything else (a bad payload, the store unreachable before the stage
//     began): asynq's defaults, nothing recorded on the job.

// errInterrupted marks a stage run stopped by its context being canceled.
var errInterrupted = errors.New("interrupted")

// stageError is a stage run that failed, as the stage returns it to asynq:
// what ErrorHandler needs to record it. Its text and what it wraps are
// those of ret, the error asynq acts on.
type stageError struct {
	jobID string
	log   *slog.Logger
	je    *Error
	err   error // the stage's own error (nil when the budget ran out before it ran)
	ret   error
	// attempt is the Postgres attempt number, retry asynq's retry count.
	attempt, retry int
	final          bool
}

func (e *stageError) Error() string { return e.ret.Error() }
func (e *stageError) Unwrap() error { return e.ret }

// IsFailure is asynq's Config.IsFailure: whether a handler's error counts
// against the task's retries. An interruption does not.
func IsFailure(err error) bool {
	//nolint:errorlint // asynq passes its context's error itself when it stops waiting
	return err != context.Canceled && !errors.Is(err, errInterrupted)
}

// HandleError is asynq's Config.ErrorHandler, the one place a stage's
// failed run is recorded: a retried one as a failed attempt (with a
// progress event saying so), a final one as the job's failure, which
// settles its credit hold and tells its followers. Other errors are left
// to asynq's log.
func (w *Worker) HandleError(ctx context.Context, _ *asynq.Task, err error) {
	var se *stageError
	if errors.As(err, &se) {
		w.record(ctx, se)
	}
}

// record logs a failed stage run and records it on the job.
func (w *Worker) record(ctx context.Context, se *stageError) {
	ctx = withLogger(context.WithoutCancel(ctx), se.log)
	if se.err != nil {
		se.log.Warn("stage failed", "err", se.err, "code", se.je.Code, "attempt", se.attempt, "retry", se.retry, "final", se.final)
	}
	if se.final {
		w.fail(ctx, se.jobID, se.je)
		return
	}
	if err := w.cfg.Store.FailAttempt(ctx, se.jobID, se.je.Code, textclean.String(se.je.Message)); err != nil {
		se.log.Warn("record failed attempt", "err", err)
	}
	w.publish(ctx, se.jobID, Event{Type: EventProgress, Message: "Retrying after an error: " + se.je.Message})
}

// ServerConfig returns cfg with this worker's retry and interrupt rules
// (IsFailure, ErrorHandler): every asynq server running Mux needs them.
func (w *Worker) ServerConfig(cfg asynq.Config) asynq.Config {
	cfg.IsFailure = IsFailure
	cfg.ErrorHandler = asynq.ErrorHandlerFunc(w.HandleError)
	return cfg
}

// Process runs a task through Mux as an asynq server with ServerConfig
// does, outside asynq's retry bookkeeping: a failed run goes to
// HandleError. Stage tests and chained stages run tasks this way.
func (w *Worker) Process(ctx context.Context, h asynq.Handler, t *asynq.Task) error {
	err := h.ProcessTask(ctx, t)
	if err != nil {
		w.HandleError(ctx, t, err)
	}
	return err
}
