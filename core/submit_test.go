package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/core/coretest"
	"github.com/recap/recap/jobs"
)

// These tests run Submit's admission, credit and cache rules on
// coretest's in-memory store; app's end-to-end tests cover the same
// paths over Postgres, Redis and the worker.

func submit(t *testing.T, svc *core.Service, b *coretest.Bundle, r core.SummarizeRequest) (*core.Submission, error) {
	t.Helper()
	r.Caller = b.Caller
	return svc.Submit(context.Background(), r)
}

func mustSubmit(t *testing.T, svc *core.Service, b *coretest.Bundle, r core.SummarizeRequest) *core.Submission {
	t.Helper()
	sub, err := submit(t, svc, b, r)
	if err != nil {
		t.Fatalf("Submit(%s): %v", r.URL, err)
	}
	return sub
}

func wantQuota(t *testing.T, err error) {
	t.Helper()
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Kind != core.KindQuota || ce.Code != recap.CodeInsufficientQuota {
		t.Fatalf("err = %v, want insufficient_quota", err)
	}
}

func TestSubmitStartsAdmittedJob(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(600, nil)
	sub := mustSubmit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(1), Prompt: "summarize"})
	if sub.CacheHit || sub.Result != nil || sub.Job.State != recap.StateQueued || sub.Job.VideoKey == "" {
		t.Fatalf("submission = %+v, job %+v", sub, sub.Job)
	}
	if got := b.Queue.Started(); !slices.Equal(got, []string{sub.Job.ID}) {
		t.Fatalf("started %v, want the job once", got)
	}
	// A video job is priced by its media later: nothing is held yet.
	if bal, _ := b.Store.Balance(context.Background(), b.Caller.AccountID); bal.Available != 600 || bal.Held != 0 || bal.Unpriced != 1 {
		t.Fatalf("balance %+v", bal)
	}
}

func TestSubmitEmptyBalance(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(0, nil)
	_, err := submit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(1)})
	wantQuota(t, err)
	if len(b.Store.Jobs()) != 0 || len(b.Queue.Started()) != 0 {
		t.Fatalf("a refused request left jobs %v, started %v", b.Store.Jobs(), b.Queue.Started())
	}
}

// Each running job not priced yet keeps MinPrice of the balance aside, so
// a burst of new videos cannot all start downloads the balance will
// refuse afterwards.
func TestSubmitUnpricedJobsKeepMinPriceAside(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(2*core.MinPrice+30, nil)
	first := mustSubmit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(1)})
	mustSubmit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(2)})
	_, err := submit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(3)})
	wantQuota(t, err)
	if n := len(b.Store.Jobs()); n != 2 {
		t.Fatalf("%d jobs, want 2", n)
	}
	// Once a job has ended, its MinPrice is free again.
	b.Store.SetState(first.Job.ID, recap.StateFailed)
	mustSubmit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(3)})
}

// The same request again while its job runs attaches to that job: one
// job, started once, charged once.
func TestSubmitAttachesToRunningJob(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(600, nil)
	r := core.SummarizeRequest{URL: coretest.VideoURL(1), Prompt: "p"}
	first := mustSubmit(t, svc, b, r)
	again := mustSubmit(t, svc, b, r)
	if again.Job.ID != first.Job.ID {
		t.Fatalf("the repeat got job %s, the first %s", again.Job.ID, first.Job.ID)
	}
	if got := b.Queue.Started(); len(got) != 1 {
		t.Fatalf("started %v, want one job", got)
	}
	// Another prompt is another request.
	if other := mustSubmit(t, svc, b, core.SummarizeRequest{URL: r.URL, Prompt: "q"}); other.Job.ID == first.Job.ID {
		t.Fatal("another prompt attached to the first job")
	}
	// A finished job is left to the caches: the repeat starts a new one.
	b.Store.SetState(first.Job.ID, recap.StateSucceeded)
	if later := mustSubmit(t, svc, b, r); later.Job.ID == first.Job.ID {
		t.Fatal("attached to a finished job")
	}
}

// A summary made before answers at once and free, even on an empty
// balance, recorded as a job of its own; refresh skips the cache.
func TestSubmitSummaryCacheHit(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(0, nil)
	url := coretest.VideoURL(1)
	key, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	sm := b.Store.AddSummary(key, "", jobs.PromptHash("p", nil), "fake-model", "", "# cached")
	sub := mustSubmit(t, svc, b, core.SummarizeRequest{URL: url, Prompt: "p"})
	if !sub.CacheHit || sub.Result == nil || sub.Result.Markdown != "# cached" || !sub.Result.Cached {
		t.Fatalf("submission = %+v", sub)
	}
	if sub.Job.State != recap.StateSucceeded || sub.Job.SummaryID == nil || *sub.Job.SummaryID != sm.ID || sub.Job.CostSeconds != 0 {
		t.Fatalf("recorded job = %+v", sub.Job)
	}
	if len(b.Queue.Started()) != 0 || b.Store.Calls("Balance") != 0 {
		t.Fatalf("a cache hit started %v and read the balance %d times", b.Queue.Started(), b.Store.Calls("Balance"))
	}
	// Every part of the key counts: another prompt, output language or a
	// range (part of the video) misses.
	for _, r := range []core.SummarizeRequest{{URL: url, Prompt: "other"}, {URL: url, Prompt: "p", OutputLanguage: "de"},
		{URL: url, Prompt: "p", Refresh: true}, {URL: url, Prompt: "p", Start: json.RawMessage(`30`), End: json.RawMessage(`90`)}} {
		_, err := submit(t, svc, b, r)
		wantQuota(t, err) // a miss is new paid work, which the empty balance refuses
	}
}

// A question about images is priced by tokens: the most it can use is
// held when it is admitted, and a balance below that refuses it.
func TestSubmitImageQuestionHoldsTokens(t *testing.T) {
	t.Parallel()
	images := []string{"http://127.0.0.1:9/a.png"}
	svc, b := coretest.New(600, nil)
	sub := mustSubmit(t, svc, b, core.SummarizeRequest{Prompt: "what is this?", Images: images})
	j := sub.Job
	if j.CostSeconds <= 0 || j.TokenPrice <= 0 {
		t.Fatalf("job %+v holds nothing", j)
	}
	bal, _ := b.Store.Balance(context.Background(), b.Caller.AccountID)
	if bal.Available != 600-j.CostSeconds || bal.Held != j.CostSeconds {
		t.Fatalf("balance %+v after a hold of %d", bal, j.CostSeconds)
	}
	poor, pb := coretest.New(j.CostSeconds-1, nil)
	_, err := submit(t, poor, pb, core.SummarizeRequest{Prompt: "what is this?", Images: images})
	wantQuota(t, err)
	if len(pb.Store.Jobs()) != 0 {
		t.Fatal("a refused question left a job")
	}
}

// A URL the network policy refuses is refused before any job exists.
func TestSubmitPolicyRefusesPrivateURL(t *testing.T) {
	t.Parallel()
	svc, b := coretest.New(600, func(c *core.Config) { c.Policy = core.Policy{} })
	_, err := submit(t, svc, b, core.SummarizeRequest{URL: coretest.VideoURL(1)})
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Code != "url_not_allowed" {
		t.Fatalf("err = %v, want url_not_allowed", err)
	}
	if len(b.Store.Jobs()) != 0 || len(b.Queue.Started()) != 0 {
		t.Fatal("a refused URL left a job")
	}
}
