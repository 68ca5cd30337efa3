package app_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
)

// submitTo stores and starts a job on a queue, as the API does.
func submitTo(t *testing.T, e *apptest.Env, queue, url string) *recap.Job {
	t.Helper()
	vk, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	j := &recap.Job{AccountID: e.KeyRow.AccountID, APIKeyID: e.KeyRow.ID, Queue: queue, URL: url, VideoKey: vk, Model: e.Config.LLMModel}
	if err := e.Deps.Jobs.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// taskState is a task's asynq state, or 0 when Redis has no record of it
// (asynq's TaskState has no name for 0: print it with %d, not %v).
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

// Redis loses everything (FLUSHALL) while one job's stage is active, one
// job waits in the queue and one job's failing stage waits for its next
// retry. The reconciler re-registers asynq's queues (the inspector would
// otherwise answer "queue not found" for good), leaves the active stage to
// the worker that reports it in its heartbeat, requeues the other two, and
// the failing stage gets only the attempts it had left: Postgres counts
// them, not the task Redis lost. Each job ends once, no hold is left.
func TestFaultRedisFlushedMidJob(t *testing.T) {
	t.Parallel()
	redisURL := apptest.StartRedis(t)
	e := apptest.Start(t, apptest.Options{STT: true, NoWorker: true, Configure: func(c *app.Config) {
		fast(c)
		c.RedisURL = redisURL
		// A failing stage sits in the retry set long enough to be caught there.
		c.RetryDelay = 1500 * time.Millisecond
		// One slot per pool: the gated job holds the interactive one, so the
		// next interactive job waits; the batch pool runs the failing job.
		c.WorkerConcurrency = 1
		c.BatchConcurrency = 1
		// The test catches each stage's own task in Redis (active,
		// pending, in the retry set): stages hand over through the queue.
		c.ChainStages = false
	}})
	ctx := context.Background()
	in := e.Deps.Inspector
	interactive, batch := e.Config.QueuePrefix+jobs.QueueInteractive, e.Config.QueuePrefix+jobs.QueueBatch
	budget := e.Config.MaxRetry + 1

	// The provider fails every call until the failing job has ended; the
	// other jobs reach their summaries only after that.
	e.Fake.SetChatError(http.StatusInternalServerError)
	e.StartWorker(t)
	failing := submitTo(t, e, jobs.QueueBatch, e.Host.PageURL())
	page, _, gate := slowVideo(t, e)
	active := submitTo(t, e, jobs.QueueInteractive, page)
	select {
	case <-gate.started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the gated download never started")
	}
	queued := submitTo(t, e, jobs.QueueInteractive, e.Host.PageURL())

	// Catch the failing job's summary in the retry set after its second
	// failed attempt.
	apptest.Poll(t, 2*time.Minute, "the failing summary waiting for its third attempt", func() bool {
		n, err := e.Store.Attempts(ctx, failing.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j, _ := e.Store.Job(ctx, failing.ID); j != nil && recap.Terminal(j.State) {
			t.Fatalf("the failing job ended (%s %s) before the flush", j.State, j.ErrorMessage)
		}
		return n == 2 && taskState(t, in, batch, jobs.TaskID(failing.ID, jobs.TypeSummary)) == asynq.TaskStateRetry
	})
	callsPerAttempt := e.Fake.ChatCalls() / 2
	if callsPerAttempt == 0 || e.Fake.ChatCalls()%2 != 0 {
		t.Fatalf("%d chat calls in two attempts", e.Fake.ChatCalls())
	}
	if got := taskState(t, in, interactive, jobs.TaskID(active.ID, jobs.TypeTranscript)); got != asynq.TaskStateActive {
		t.Fatalf("gated job's transcript task is state %d, want active", got)
	}
	if got := taskState(t, in, interactive, jobs.TaskID(queued.ID, jobs.TypeResolve)); got != asynq.TaskStatePending {
		t.Fatalf("queued job's resolve task is state %d, want pending", got)
	}

	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	// The failing job gets the attempts it had left, not a new budget.
	fj := e.WaitJobs(t, 2*time.Minute, failing.ID)[0]
	if fj.State != recap.StateFailed || fj.ErrorCode != recap.CodeUpstream {
		t.Errorf("failing job: %s %s %s", fj.State, fj.ErrorCode, fj.ErrorMessage)
	}
	if n, err := e.Store.Attempts(ctx, failing.ID); err != nil || n != budget {
		t.Errorf("failing job made %d attempts at its summary (%v), want %d", n, err, budget)
	}
	if got, want := e.Fake.ChatCalls(), budget*callsPerAttempt; got != want {
		t.Errorf("%d chat calls, want %d (%d attempts of %d): the flush granted extra attempts", got, want, budget, callsPerAttempt)
	}
	// The queues are registered again, so the inspector sees tasks...
	qs, err := in.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{interactive, batch} {
		if !slices.Contains(qs, q) {
			t.Errorf("queue %s not registered after the flush (queues %v)", q, qs)
		}
	}
	// ...the queued job is back in its queue (a pass requeues each job once
	// it has been stale for the grace period, so the queued job, younger
	// than the failing one, may come back a pass later)...
	apptest.Poll(t, 2*time.Minute, "the queued job's resolve task pending again after the flush", func() bool {
		return taskState(t, in, interactive, jobs.TaskID(queued.ID, jobs.TypeResolve)) == asynq.TaskStatePending
	})
	// ...and the stage its worker still runs was not queued a second time.
	if got := taskState(t, in, interactive, jobs.TaskID(active.ID, jobs.TypeTranscript)); got != 0 {
		t.Errorf("the running transcript stage was requeued (state %d) while its worker ran it", got)
	}
	if j, _ := e.Store.Job(ctx, active.ID); j.State != recap.StateTranscribing {
		t.Errorf("gated job is %s, want still transcribing", j.State)
	}

	e.Fake.SetChatError(0)
	close(gate.open)
	js := e.WaitJobs(t, 3*time.Minute, active.ID, queued.ID)
	for _, j := range js {
		if j.State != recap.StateSucceeded {
			t.Errorf("job %s: %s %s %s", j.ID, j.State, j.ErrorCode, j.ErrorMessage)
		}
	}
	e.CheckInvariants(t, failing.ID, active.ID, queued.ID)
	for id, settle := range map[string]string{failing.ID: "release", active.ID: "capture", queued.ID: "capture"} {
		if k := e.LedgerKinds(t, id); k["hold"] != 1 || k[settle] != 1 {
			t.Errorf("job %s ledger %v, want one hold and one %s", id, k, settle)
		}
	}
	bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Held != 0 {
		t.Errorf("%d seconds still held after every job ended", bal.Held)
	}
}
