package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// age makes a job look untouched for an hour.
func age(t *testing.T, s *store.Store, id string) {
	t.Helper()
	if _, err := s.Pool().Exec(context.Background(), `UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

func setState(t *testing.T, s *store.Store, id, state string) {
	t.Helper()
	if _, err := s.Pool().Exec(context.Background(), `UPDATE jobs SET state = $2 WHERE id = $1`, id, state); err != nil {
		t.Fatal(err)
	}
}

func taskState(t *testing.T, in *asynq.Inspector, queue, id string) asynq.TaskState {
	t.Helper()
	info, err := in.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	aopt := redistest.Asynq(t)
	in := asynq.NewInspector(aopt)
	t.Cleanup(func() { in.Close() })
	w, b := setup(t, func(c *jobs.WorkerConfig) {
		c.Inspector = in
		c.ReconcileGrace = time.Minute
		// A tiny summary time-out as the sweeper sees it, while the task
		// itself was enqueued with the default: the active one below looks
		// stuck without asynq timing it out first.
		c.Timeouts.Summary = time.Millisecond
	})
	ctx := context.Background()
	queue := b.cfg.QueuePrefix + jobs.QueueInteractive

	// 1. Accepted, never enqueued (a crash between the commit and the
	// enqueue, or a Redis that lost it).
	lost := b.newJob(t, b.host.PageURL())
	age(t, b.store, lost.ID)
	// 2. Lost mid-pipeline: its transcript stage vanished.
	mid := b.newJob(t, b.host.PageURL())
	setState(t, b.store, mid.ID, recap.StateTranscribing)
	age(t, b.store, mid.ID)
	// 3. Queued and fine, just waiting behind a backlog.
	waiting := b.newJob(t, b.host.PageURL())
	if err := b.client.Enqueue(ctx, waiting, jobs.TypeResolve); err != nil {
		t.Fatal(err)
	}
	age(t, b.store, waiting.ID)
	// 4. Its stage gave up (archived) but the failure was never recorded,
	// with a hold to release.
	gaveUp := b.newJob(t, b.host.PageURL())
	if err := b.store.Hold(ctx, b.key.AccountID, gaveUp.ID, 120); err != nil {
		t.Fatal(err)
	}
	if err := b.client.Enqueue(ctx, gaveUp, jobs.TypeResolve); err != nil {
		t.Fatal(err)
	}
	if err := in.ArchiveTask(queue, jobs.TaskID(gaveUp.ID, jobs.TypeResolve)); err != nil {
		t.Fatal(err)
	}
	age(t, b.store, gaveUp.ID)
	// 5. Fresh: not the reconciler's business yet.
	fresh := b.newJob(t, b.host.PageURL())

	st, err := w.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Checked != 4 || st.Requeued != 2 || st.Failed != 1 {
		t.Errorf("stats %+v, want 4 checked, 2 requeued, 1 failed", st)
	}
	if got := taskState(t, in, queue, jobs.TaskID(lost.ID, jobs.TypeResolve)); got != asynq.TaskStatePending {
		t.Errorf("lost job's resolve task: %v, want pending", got)
	}
	if got := taskState(t, in, queue, jobs.TaskID(mid.ID, jobs.TypeTranscript)); got != asynq.TaskStatePending {
		t.Errorf("mid job's transcript task: %v, want pending", got)
	}
	if got := taskState(t, in, queue, jobs.TaskID(mid.ID, jobs.TypeResolve)); got != 0 {
		t.Errorf("mid job's resolve was enqueued again: %v", got)
	}
	if got := taskState(t, in, queue, jobs.TaskID(fresh.ID, jobs.TypeResolve)); got != 0 {
		t.Errorf("fresh job touched: %v", got)
	}
	j := mustJob(t, b.store, gaveUp.ID)
	if j.State != recap.StateFailed || j.ErrorCode != recap.CodeInternal || j.ErrorMessage == "" {
		t.Errorf("gave-up job: %s %s %q", j.State, j.ErrorCode, j.ErrorMessage)
	}

	// A second pass finds everything queued: nothing is enqueued twice.
	age(t, b.store, lost.ID)
	st, err = w.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Requeued != 0 || st.Failed != 0 {
		t.Errorf("second pass %+v, want nothing to do", st)
	}
	qi, err := in.GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	if qi.Pending != 3 { // lost, mid, waiting
		t.Errorf("%d pending tasks, want 3", qi.Pending)
	}

	// 6. A stage active far past its time-out: a worker that hangs.
	hung := b.newJob(t, b.host.PageURL())
	setState(t, b.store, hung.ID, recap.StateSummarizing)
	if err := b.store.Hold(ctx, b.key.AccountID, hung.ID, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.client.Enqueue(ctx, hung, jobs.TypeSummary); err != nil {
		t.Fatal(err)
	}
	// Leave only the summary task to the hanging server.
	for _, id := range []*recap.Job{lost, mid, waiting} {
		for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript} {
			_ = in.DeleteTask(queue, jobs.TaskID(id.ID, typ))
		}
	}
	started := make(chan struct{})
	srv := asynq.NewServer(aopt, asynq.Config{Queues: map[string]int{queue: 1}, Logger: quietLogger{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeSummary, func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	<-started
	age(t, b.store, hung.ID)
	st, err = w.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j = mustJob(t, b.store, hung.ID)
	if j.State != recap.StateFailed || st.Failed < 1 {
		t.Errorf("hung job: %s (stats %+v), want failed", j.State, st)
	}
	storetest.CheckLedger(t, b.store)
	for _, id := range []string{gaveUp.ID, hung.ID} {
		var n int
		if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE job_id = $1 AND kind = 'release'`, id).Scan(&n); err != nil || n != 1 {
			t.Errorf("job %s: %d releases (%v), want 1", id, n, err)
		}
	}
}

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}
