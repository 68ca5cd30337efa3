package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/openai/openai-go/v3"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
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
	// attempt is the Postgres attempt number, retry asynq's retry count,
	// budget the stage's attempts (MaxRetry+1).
	attempt, retry, budget int
	final                  bool
	// delay is how long asynq waits before the next attempt, decided
	// before ErrorHandler records the attempt (see ServerConfig); 0 when
	// unknown (Process).
	delay time.Duration
}

func (e *stageError) Error() string { return e.ret.Error() }
func (e *stageError) Unwrap() error { return e.ret }

// IsFailure is asynq's Config.IsFailure: whether a handler's error counts
// against the task's retries. An interruption does not, nor a run put
// back for want of an account slot (see fairness.go).
func IsFailure(err error) bool {
	//nolint:errorlint // asynq passes its context's error itself when it stops waiting
	return err != context.Canceled && !errors.Is(err, errInterrupted) && !errors.Is(err, errAccountBusy)
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
	now := time.Now()
	rt := &recap.RetryInfo{Code: se.je.Code, Message: se.je.Message, Attempt: se.attempt, MaxAttempts: se.budget, At: now, Next: now.Add(se.delay)}
	w.publish(ctx, se.jobID, recap.Event{Type: recap.EventProgress, Message: retryLine(se, rt), Retry: rt})
}

// retryLine is the progress line of a failed attempt: a site's refusal
// named as such ("Bilibili refused (412); next try in 40 s, 2 of 5"),
// anything else with its message.
func retryLine(se *stageError, rt *recap.RetryInfo) string {
	next := ""
	if se.delay > 0 {
		next = fmt.Sprintf("next try in %s, ", fmtWait(se.delay))
	}
	next += fmt.Sprintf("%d of %d", rt.Attempt+1, rt.MaxAttempts)
	var ue *media.UpstreamError
	if rt.Code == recap.CodeUpstreamBlocked && errors.As(se.err, &ue) {
		site := ue.SiteName()
		what := strings.ToUpper(site[:1]) + site[1:] + " refused"
		if m := httpStatusRE.FindStringSubmatch(ue.Reason); m != nil {
			what += " (" + m[1] + ")"
		}
		return what + "; " + next
	}
	return "Retrying after an error (" + next + "): " + se.je.Message
}

// httpStatusRE finds the HTTP status in yt-dlp's "HTTP Error 412: …".
var httpStatusRE = regexp.MustCompile(`(?i)http error (\d{3})`)

// fmtWait is a wait as a progress line says it: "40 s", "3 min".
func fmtWait(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%d s", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d min", int((d+time.Minute/2)/time.Minute))
}

// ServerConfig returns cfg with this worker's retry and interrupt rules
// (IsFailure, ErrorHandler, and RetryDelayFunc's delay for a stage waiting
// for its account's slot): every asynq server running Mux needs them.
//
// It also wraps cfg.RetryDelayFunc (asynq's default when nil): the delay
// of a retried stage is decided in ErrorHandler, which asynq calls first,
// so that the attempt's progress event can say when the next one runs;
// the delay function then returns that same delay.
func (w *Worker) ServerConfig(cfg asynq.Config) asynq.Config {
	// retryDelay answers a stage waiting for its account's slot (busyError)
	// with that wait, and others with the configured delay.
	delay := retryDelay(cfg.RetryDelayFunc)
	cfg.IsFailure = IsFailure
	cfg.ErrorHandler = asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		var se *stageError
		if errors.As(err, &se) && !se.final && IsFailure(err) {
			se.delay = delay(se.retry, err, t)
		}
		w.HandleError(ctx, t, err)
	})
	cfg.RetryDelayFunc = func(n int, err error, t *asynq.Task) time.Duration {
		var se *stageError
		if errors.As(err, &se) && se.delay > 0 {
			return se.delay
		}
		return delay(n, err, t)
	}
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

// providerRefused is the job error of a provider's 4xx answer other than
// 408, 409 and 429 (what summarize.ErrPermanent marks): the same request
// fails the same way, so it is permanent (the job fails at once, and the
// code table tells clients not to retry). A context too small for the
// text is named as such: a range or another model may fit.
func providerRefused(what string, err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && (apiErr.Code == recap.CodeContextLength ||
		strings.Contains(strings.ToLower(apiErr.Message), "context length") || strings.Contains(strings.ToLower(apiErr.Message), "context window")) {
		return permanent(recap.CodeContextLength, what+" cannot take this much text at once: "+err.Error(), err)
	}
	return permanent(recap.CodeUpstreamRejected, what+" refused the request: "+err.Error(), err)
}
