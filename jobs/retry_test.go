package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/jobs/jobstest"
	"github.com/recap/recap/media"
)

// TestRetryRules shows how a stage run's end reaches asynq: whether
// IsFailure counts it against the task's retries, whether asynq retries
// or archives it (SkipRetry), and what ErrorHandler recorded on the job.
func TestRetryRules(t *testing.T) {
	t.Parallel()
	resolveErr := func(err error) func(*testing.T, context.CancelFunc, *jobstest.Bundle) {
		return func(_ *testing.T, _ context.CancelFunc, b *jobstest.Bundle) {
			b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) { return nil, err }
		}
	}
	for _, tt := range []struct {
		name string
		// maxRetry is the worker's (0: the default); before runs the stage
		// that many times first.
		maxRetry, before int
		arrange          func(t *testing.T, cancel context.CancelFunc, b *jobstest.Bundle)
		// err: the run returns an error; failure: IsFailure counts it;
		// skip: asynq archives rather than retries it.
		err, failure, skip bool
		// state and code of the job, attempts left counted in the store,
		// and failed attempts ErrorHandler recorded.
		state, code      string
		attempts, failed int
	}{
		{name: "done", state: recap.StateResolving, attempts: 1},
		{name: "upstream error, retried", arrange: resolveErr(jobstest.ErrTransient),
			err: true, failure: true, state: recap.StateResolving, attempts: 1, failed: 1},
		{name: "upstream error on the last attempt, archived", maxRetry: 1, before: 1, arrange: resolveErr(jobstest.ErrTransient),
			err: true, failure: true, skip: true, state: recap.StateFailed, code: recap.CodeUpstream, attempts: 2, failed: 1},
		{name: "caller-caused, recorded outcome and done", arrange: resolveErr(media.ErrUnavailable),
			state: recap.StateFailed, code: recap.CodeVideoUnavailable, attempts: 1},
		{name: "interrupted, re-run without counting", arrange: func(_ *testing.T, cancel context.CancelFunc, b *jobstest.Bundle) {
			b.Media.ResolveFunc = func(ctx context.Context, _ string) (*media.Info, error) {
				cancel() // a shutdown or a lost lease
				<-ctx.Done()
				return nil, ctx.Err()
			}
		}, err: true, state: recap.StateResolving, attempts: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, b := jobstest.New(t, func(c *jobs.WorkerConfig) { c.MaxRetry = tt.maxRetry })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.arrange != nil {
				tt.arrange(t, cancel, b)
			}
			j := b.NewJob(t, talkURL, nil)
			for range tt.before {
				if err := w.Work(context.Background(), jobs.TypeResolve, j.ID); err == nil {
					t.Fatal("an earlier attempt succeeded")
				}
			}
			err := w.Work(ctx, jobs.TypeResolve, j.ID)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				if got := jobs.IsFailure(err); got != tt.failure {
					t.Errorf("IsFailure(%v) = %v, want %v", err, got, tt.failure)
				}
				if got := errors.Is(err, asynq.SkipRetry); got != tt.skip {
					t.Errorf("SkipRetry = %v, want %v (err %v)", got, tt.skip, err)
				}
			}
			j = b.Job(t, j.ID)
			if j.State != tt.state || j.ErrorCode != tt.code {
				t.Errorf("job %s/%q (%s), want %s/%q", j.State, j.ErrorCode, j.ErrorMessage, tt.state, tt.code)
			}
			if n := b.Store.Attempts(j.ID); n != tt.attempts {
				t.Errorf("%d attempts counted, want %d", n, tt.attempts)
			}
			if n := b.Store.Calls("FailAttempt"); n != tt.failed {
				t.Errorf("%d failed attempts recorded, want %d", n, tt.failed)
			}
		})
	}
}

// TestIsFailure covers the errors asynq itself hands IsFailure: its own
// context's when it stops waiting for a handler, and its lease's.
func TestIsFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{context.Canceled, false},                                // a cancel or shutdown: re-run
		{context.DeadlineExceeded, true},                         // the attempt timed out
		{asynq.ErrLeaseExpired, true},                            // asynq's default for a lost lease
		{errors.New("boom"), true},                               // anything else
		{errors.Join(errors.New("llm"), context.Canceled), true}, // a stage's own error that wraps Canceled
	} {
		if got := jobs.IsFailure(tt.err); got != tt.want {
			t.Errorf("IsFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
