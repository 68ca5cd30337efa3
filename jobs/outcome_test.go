package jobs_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// waitTerminal polls the job row until it has ended.
func waitTerminal(t *testing.T, s *store.Store, id string, timeout time.Duration) *recap.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := mustJob(t, s, id)
		if recap.Terminal(j.State) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.State, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stageRuns is how many runs of a stage ended with outcome, from the
// recap_stage_duration_seconds histogram.
func stageRuns(t *testing.T, m *metrics.Metrics, stage, outcome string) uint64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "recap_stage_duration_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["stage"] == stage && labels["outcome"] == outcome {
				return mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// Failures the caller caused (the video is gone, the balance is too low)
// end as the job's recorded outcome: asynq sees a task that is done, so
// its archive and failure counts hold only Recap's and upstream's faults.
// A provider refusing the request is such a fault and is archived.
func TestCallerFailuresAreNotQueueFailures(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	aopt := redistest.Asynq(t)
	in := asynq.NewInspector(aopt)
	t.Cleanup(func() { in.Close() })
	w, b := setup(t, func(c *jobs.WorkerConfig) {
		c.Inspector = in
		c.Metrics = m
	})
	ctx := context.Background()
	queue := b.cfg.QueuePrefix + jobs.QueueInteractive

	// The provider refuses every chat call: a permanent upstream error.
	b.fake.SetChatError(http.StatusBadRequest)
	gone := b.newJob(t, b.host.URL("/missing.html"))
	poorKey, _, err := b.store.CreateKey(ctx, store.NewKey{Name: "poor", Seconds: 0})
	if err != nil {
		t.Fatal(err)
	}
	poorURL := b.host.PageURL()
	poorVideo, err := jobs.VideoKey(poorURL)
	if err != nil {
		t.Fatal(err)
	}
	poor := &recap.Job{AccountID: poorKey.AccountID, APIKeyID: poorKey.ID, URL: poorURL, VideoKey: poorVideo, Model: "fake-model"}
	if err := b.store.CreateJob(ctx, poor); err != nil {
		t.Fatal(err)
	}
	refused := b.newJob(t, b.host.NoSubsPageURL())

	srv := asynq.NewServer(aopt, w.ServerConfig(asynq.Config{Queues: jobs.Queues(b.cfg.QueuePrefix), Concurrency: 3, Logger: quietLogger{},
		TaskCheckInterval: 50 * time.Millisecond}))
	if err := srv.Start(w.Mux()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for _, j := range []*recap.Job{gone, poor, refused} {
		if err := b.client.Start(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	want := map[string]string{gone.ID: recap.CodeVideoUnavailable, poor.ID: recap.CodeInsufficientQuota, refused.ID: recap.CodeUpstreamRejected}
	for id, code := range want {
		j := waitTerminal(t, b.store, id, 2*time.Minute)
		if j.State != recap.StateFailed || j.ErrorCode != code {
			t.Errorf("job %s: %s %s (%s), want failed %s", id, j.State, j.ErrorCode, j.ErrorMessage, code)
		}
	}
	// Nothing of the caller-caused failures is archived or left to retry;
	// the provider's refusal is archived (the check can fail).
	for _, id := range []string{gone.ID, poor.ID} {
		for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript, jobs.TypeSummary} {
			if info, err := in.GetTaskInfo(queue, jobs.TaskID(id, typ)); err == nil {
				t.Errorf("task %s is %v, want done and gone", info.ID, info.State)
			}
		}
	}
	archived, err := in.ListArchivedTasks(queue)
	if err != nil {
		t.Fatal(err)
	}
	if len(archived) != 1 || archived[0].ID != jobs.TaskID(refused.ID, jobs.TypeSummary) {
		var ids []string
		for _, a := range archived {
			ids = append(ids, a.ID)
		}
		t.Errorf("archived tasks %v, want only the refused summary %s", ids, jobs.TaskID(refused.ID, jobs.TypeSummary))
	}
	// The metrics still count them as failed runs, not successes (the
	// unavailable video fails its resolve, the unpaid one its transcript
	// stage, where its price becomes known).
	if r, tr := stageRuns(t, m, jobs.TypeResolve, "failed"), stageRuns(t, m, jobs.TypeTranscript, "failed"); r+tr != 2 {
		t.Errorf("%d failed resolve and %d failed transcript runs in the metrics, want 2 in all", r, tr)
	}
	if n := stageRuns(t, m, jobs.TypeSummary, "failed"); n != 1 {
		t.Errorf("%d failed summary runs in the metrics, want 1", n)
	}
	storetest.CheckLedger(t, b.store)
}

// A stage whose attempts Postgres counts as spent (its last run died
// before recording its failure, and Redis, having lost the task, handed
// it out again with a fresh retry count) fails the job with the last
// recorded cause instead of running again; the hold is released.
func TestStageOverItsAttemptBudget(t *testing.T) {
	t.Parallel()
	w, b := setup(t, func(c *jobs.WorkerConfig) { c.MaxRetry = 2 })
	ctx := context.Background()
	j := b.newJob(t, b.host.PageURL())
	if err := b.store.Hold(ctx, b.key.AccountID, j.ID, 60); err != nil {
		t.Fatal(err)
	}
	for range 3 { // three attempts: the budget of MaxRetry 2
		if _, ok, err := b.store.StartStage(ctx, j.ID, recap.StateSummarizing); err != nil || !ok {
			t.Fatalf("start: %v %v", ok, err)
		}
	}
	if err := b.store.FailAttempt(ctx, j.ID, recap.CodeUpstream, "the language model failed: 503"); err != nil {
		t.Fatal(err)
	}
	calls := b.fake.ChatCalls()
	err := run(w, j.ID, jobs.TypeSummary)
	if err == nil || !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("an over-budget run: %v, want a failure asynq does not retry", err)
	}
	if n := b.fake.ChatCalls(); n != calls {
		t.Fatalf("an over-budget run called the model (%d calls)", n-calls)
	}
	got := mustJob(t, b.store, j.ID)
	if got.State != recap.StateFailed || got.ErrorCode != recap.CodeUpstream ||
		!strings.Contains(got.ErrorMessage, "3 attempts") || !strings.Contains(got.ErrorMessage, "503") {
		t.Fatalf("job %s %s %q", got.State, got.ErrorCode, got.ErrorMessage)
	}
	bal, err := b.store.Balance(ctx, b.key.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Held != 0 {
		t.Fatalf("%d seconds still held", bal.Held)
	}
	storetest.CheckLedger(t, b.store)
}
