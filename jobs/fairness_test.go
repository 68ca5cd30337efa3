package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/jobs/jobstest"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
)

// slotsSetup is a harness worker whose accounts may run max stages at once
// (real Redis), with its metrics.
func slotsSetup(t *testing.T, max int) (*jobstest.Worker, *jobstest.Bundle, *jobs.AccountSlots, *metrics.Metrics) {
	t.Helper()
	rdb := redistest.New(t)
	slots := jobs.NewAccountSlots(jobs.AccountSlotsConfig{Redis: rdb, Prefix: "recap:" + redistest.Prefix(t, "tf"), Max: max})
	m := metrics.New()
	w, bundle := jobstest.New(t, func(c *jobs.WorkerConfig) {
		c.Slots = slots
		c.Metrics = m
	})
	return w, bundle, slots, m
}

// usage is an account's slot use, failing the test on error.
func usage(t *testing.T, s *jobs.AccountSlots, account int64) jobs.SlotUsage {
	t.Helper()
	u, err := s.Usage(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestStageReleasesAccountSlot: a stage run holds its account's slot while
// it runs and gives it back however it ends: success, a retried failure,
// a permanent failure, a panic.
func TestStageReleasesAccountSlot(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		resolve func(context.Context, string) (*media.Info, error)
		state   string
	}{
		{"success", nil, recap.StateResolving},
		{"retried failure", func(context.Context, string) (*media.Info, error) { return nil, errors.New("network down") }, recap.StateResolving},
		{"permanent failure", func(context.Context, string) (*media.Info, error) { return nil, media.ErrUnavailable }, recap.StateFailed},
		{"panic", func(context.Context, string) (*media.Info, error) { panic("resolver bug") }, recap.StateResolving},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, b, slots, _ := slotsSetup(t, 1)
			held := make(chan jobs.SlotUsage, 1)
			b.Media.ResolveFunc = func(ctx context.Context, url string) (*media.Info, error) {
				held <- usage(t, slots, b.AccountID)
				if tt.resolve != nil {
					return tt.resolve(ctx, url)
				}
				info := jobstest.Talk
				return &info, nil
			}
			j := b.NewJob(t, talkURL, nil)
			func() {
				defer func() { _ = recover() }() // asynq recovers a handler's panic the same way
				_ = w.Work(context.Background(), jobs.TypeResolve, j.ID)
			}()
			if u := <-held; u.Active != 1 {
				t.Fatalf("while the stage ran: %+v, want its slot held", u)
			}
			if u := usage(t, slots, b.AccountID); u != (jobs.SlotUsage{}) {
				t.Fatalf("after the run: %+v, want the slot given back", u)
			}
			if got := b.Job(t, j.ID).State; got != tt.state {
				t.Fatalf("job %s, want %s", got, tt.state)
			}
		})
	}
}

// TestStageWaitsForAccountSlot: a stage whose account has every slot
// taken ends at once without running: no attempt counted, the job as it
// was, nothing enqueued, and an error asynq does not count as a failure
// and retries after a short delay. Once a slot is free, it runs.
func TestStageWaitsForAccountSlot(t *testing.T) {
	t.Parallel()
	w, b, slots, m := slotsSetup(t, 1)
	ctx := context.Background()
	other, _, err := slots.Acquire(ctx, b.AccountID, "another-job:"+jobs.TypeTranscript)
	if err != nil || other == nil {
		t.Fatalf("hold the account's slot: %v", err)
	}
	ran := false
	b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) {
		ran = true
		info := jobstest.Talk
		return &info, nil
	}
	j := b.NewJob(t, talkURL, nil)
	queued := len(b.Queue.Tasks())
	err = w.Work(ctx, jobs.TypeResolve, j.ID)
	if err == nil || ran {
		t.Fatalf("stage at its account's cap: err %v, ran %v; want an error before running", err, ran)
	}
	if jobs.IsFailure(err) {
		t.Errorf("IsFailure(%v) = true: waiting would use up the task's retries", err)
	}
	if errors.Is(err, asynq.SkipRetry) || errors.Is(err, asynq.RevokeTask) {
		t.Errorf("%v would end the task", err)
	}
	delay := w.ServerConfig(asynq.Config{}).RetryDelayFunc(0, err, nil)
	if delay <= 0 || delay > 5*time.Second {
		t.Errorf("put back for %v, want a short while", delay)
	}
	if got := b.Job(t, j.ID); got.State != recap.StateQueued || b.Store.Attempts(j.ID) != 0 {
		t.Fatalf("job %s with %d attempts, want queued with none", got.State, b.Store.Attempts(j.ID))
	}
	if n := len(b.Queue.Tasks()) - queued; n != 0 {
		t.Fatalf("%d tasks enqueued by a stage that did not run", n)
	}
	if avail, held := b.Store.Balance(b.AccountID); avail != 600*60 || held != 0 {
		t.Fatalf("credits touched: %d available, %d held", avail, held)
	}
	if u := usage(t, slots, b.AccountID); u != (jobs.SlotUsage{Active: 1, Waiting: 1}) {
		t.Fatalf("usage %+v, want 1 active, 1 waiting", u)
	}
	want := `
# HELP recap_account_slots_waiting_total Stage runs put back without running because their account was at its cap (they come back shortly, no retry used), by stage.
# TYPE recap_account_slots_waiting_total counter
recap_account_slots_waiting_total{stage="media:resolve"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "recap_account_slots_waiting_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_stage_duration_seconds"); err != nil || n != 0 {
		t.Errorf("a run that waited is in recap_stage_duration_seconds (%d series)", n)
	}

	other.Release()
	if err := w.Work(ctx, jobs.TypeResolve, j.ID); err != nil || !ran {
		t.Fatalf("with a slot free: %v, ran %v", err, ran)
	}
	if got := b.Job(t, j.ID); got.State != recap.StateResolving || b.Store.Attempts(j.ID) != 1 {
		t.Fatalf("job %s with %d attempts, want resolving with 1", got.State, b.Store.Attempts(j.ID))
	}
	if u := usage(t, slots, b.AccountID); u != (jobs.SlotUsage{}) {
		t.Fatalf("usage %+v after the run, want none", u)
	}
}
