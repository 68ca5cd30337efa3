package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/jobs/jobstest"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

const talkURL = "https://example.test/talk.html"

// stageCase is one run of one stage on the in-memory harness.
type stageCase struct {
	name string
	// edit changes the worker's config; arrange the fakes and the job
	// before the stage runs.
	edit    func(*jobs.WorkerConfig)
	arrange func(t *testing.T, w *jobstest.Worker, b *jobstest.Bundle, j *recap.Job)
	// wantErr: asynq retries (or, with SkipRetry, archives) the task.
	wantErr   bool
	skipRetry bool
	// state and code of the job afterwards.
	state, code string
	// next is the task type the stage must hand over to ("" for none).
	next  string
	check func(t *testing.T, b *jobstest.Bundle, j *recap.Job)
}

// runStageCases runs each case's stage after the stages before it.
func runStageCases(t *testing.T, stage string, before []string, cases []stageCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, b := jobstest.New(t, tt.edit)
			ctx := context.Background()
			j := b.NewJob(t, talkURL, nil)
			for _, typ := range before {
				if err := w.Work(ctx, typ, j.ID); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
			}
			if tt.arrange != nil {
				tt.arrange(t, w, b, j)
			}
			queued := len(b.Queue.Tasks())
			err := w.Work(ctx, stage, j.ID)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, asynq.SkipRetry); got != tt.skipRetry {
				t.Fatalf("SkipRetry = %v, want %v (err %v)", got, tt.skipRetry, err)
			}
			j = b.Job(t, j.ID)
			if j.State != tt.state || j.ErrorCode != tt.code {
				t.Fatalf("job %s/%q (%s), want %s/%q", j.State, j.ErrorCode, j.ErrorMessage, tt.state, tt.code)
			}
			var next []string
			for _, task := range b.Queue.Tasks()[queued:] {
				if task.JobID == j.ID && task.Type != jobs.TypeWebhook {
					next = append(next, task.Type)
				}
			}
			if want := []string{tt.next}; (tt.next == "" && len(next) != 0) || (tt.next != "" && fmt.Sprint(next) != fmt.Sprint(want)) {
				t.Fatalf("enqueued %v, want %v", next, tt.next)
			}
			if recap.Terminal(j.State) && j.State != recap.StateSucceeded {
				if avail, held := b.Store.Balance(b.AccountID); avail != 600*60 || held != 0 {
					t.Fatalf("credits not whole after %s: %d available, %d held", j.State, avail, held)
				}
			}
			if tt.check != nil {
				tt.check(t, b, j)
			}
		})
	}
}

// cancel ends the job as a client's cancel does.
func cancel(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, j *recap.Job) {
	t.Helper()
	if ok, err := b.Store.Finish(context.Background(), j.ID, store.Outcome{State: recap.StateCanceled, ErrorCode: recap.CodeCanceled}); !ok || err != nil {
		t.Fatalf("cancel: %v %v", ok, err)
	}
}

// finishedBefore runs a whole job for the same video first, filling the
// caches.
func finishedBefore(t *testing.T, w *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
	t.Helper()
	o := b.NewJob(t, talkURL, nil)
	for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript, jobs.TypeSummary} {
		if err := w.Work(context.Background(), typ, o.ID); err != nil {
			t.Fatalf("earlier job, %s: %v", typ, err)
		}
	}
}

func TestResolveStage(t *testing.T) {
	t.Parallel()
	runStageCases(t, jobs.TypeResolve, nil, []stageCase{
		{name: "success", state: recap.StateResolving, next: jobs.TypeTranscript, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			if j.CostSeconds != 120 || j.Duration != 90 || j.Title != jobstest.Talk.Title {
				t.Fatalf("job after resolve: cost %d, duration %v, title %q", j.CostSeconds, j.Duration, j.Title)
			}
			if _, err := b.Store.Video(context.Background(), j.VideoKey); err != nil {
				t.Fatalf("video not saved: %v", err)
			}
		}},
		{name: "permanent failure", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) { return nil, media.ErrUnavailable }
		}, state: recap.StateFailed, code: recap.CodeVideoUnavailable},
		{name: "too long", edit: func(c *jobs.WorkerConfig) { c.MaxMediaSeconds = 60 }, state: recap.StateFailed, code: recap.CodeMediaTooLong},
		{name: "balance too low", edit: func(c *jobs.WorkerConfig) { c.MaxMediaSeconds = 24 * 3600 }, arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) {
				info := jobstest.Talk
				info.Duration = 601 * 60
				return &info, nil
			}
		}, state: recap.StateFailed, code: recap.CodeInsufficientQuota},
		{name: "retryable failure", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) { return nil, jobstest.ErrTransient }
		}, wantErr: true, state: recap.StateResolving, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			if b.Store.Calls("FailAttempt") != 1 {
				t.Fatal("the failed attempt was not recorded")
			}
		}},
		{name: "last attempt", edit: func(c *jobs.WorkerConfig) { c.MaxRetry = 1 }, arrange: func(t *testing.T, w *jobstest.Worker, b *jobstest.Bundle, j *recap.Job) {
			b.Media.ResolveFunc = func(context.Context, string) (*media.Info, error) { return nil, jobstest.ErrTransient }
			if err := w.Work(context.Background(), jobs.TypeResolve, j.ID); err == nil {
				t.Fatal("first attempt succeeded")
			}
		}, wantErr: true, skipRetry: true, state: recap.StateFailed, code: recap.CodeUpstream},
		{name: "cache hit", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, j *recap.Job) {
			if err := b.Store.SaveVideo(context.Background(), &store.Video{Key: j.VideoKey, URL: talkURL, Title: "Cached", Duration: 30}); err != nil {
				t.Fatal(err)
			}
		}, state: recap.StateResolving, next: jobs.TypeTranscript, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			if n := b.Media.Calls("Resolve"); n != 0 || j.Title != "Cached" || j.CostSeconds != 60 {
				t.Fatalf("cached video: %d resolves, title %q, cost %d", n, j.Title, j.CostSeconds)
			}
		}},
		{name: "canceled", arrange: cancel, state: recap.StateCanceled, code: recap.CodeCanceled, check: func(t *testing.T, b *jobstest.Bundle, _ *recap.Job) {
			if n := b.Media.Calls("Resolve"); n != 0 {
				t.Fatalf("a canceled job was resolved %d times", n)
			}
		}},
	})
}

func TestTranscriptStage(t *testing.T) {
	t.Parallel()
	runStageCases(t, jobs.TypeTranscript, []string{jobs.TypeResolve}, []stageCase{
		{name: "success", state: recap.StateTranscribing, next: jobs.TypeSummary, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			tr, err := b.Store.Transcript(context.Background(), *j.TranscriptID)
			if err != nil || tr.Source != "subtitles" || len(tr.Segments) != len(jobstest.TalkSegments) {
				t.Fatalf("transcript %+v, %v", tr, err)
			}
		}},
		{name: "permanent failure", edit: func(c *jobs.WorkerConfig) { c.Transcriber = nil }, arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Media.SubtitlesFunc = func(context.Context, string, *media.Info, string) ([]recap.Segment, media.SubtitleTrack, error) {
				return nil, media.SubtitleTrack{}, media.ErrNoSubtitles
			}
		}, state: recap.StateFailed, code: recap.CodeNoTranscript},
		{name: "retryable failure", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Media.SubtitlesFunc = func(context.Context, string, *media.Info, string) ([]recap.Segment, media.SubtitleTrack, error) {
				return nil, media.SubtitleTrack{}, jobstest.ErrTransient
			}
		}, wantErr: true, state: recap.StateTranscribing},
		{name: "store down", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.Store.Fail("SaveTranscript", jobstest.ErrInjected)
		}, wantErr: true, state: recap.StateTranscribing},
		{name: "cache hit", arrange: finishedBefore, state: recap.StateTranscribing, next: jobs.TypeSummary, check: func(t *testing.T, b *jobstest.Bundle, _ *recap.Job) {
			if n := b.Media.Calls("Subtitles"); n != 1 {
				t.Fatalf("%d subtitle fetches for one video", n)
			}
		}},
		{name: "canceled", arrange: cancel, state: recap.StateCanceled, code: recap.CodeCanceled, check: func(t *testing.T, b *jobstest.Bundle, _ *recap.Job) {
			if n := b.Media.Calls("Subtitles"); n != 0 {
				t.Fatalf("a canceled job fetched subtitles %d times", n)
			}
		}},
	})
}

func TestSummaryStage(t *testing.T) {
	t.Parallel()
	runStageCases(t, jobs.TypeSummary, []string{jobs.TypeResolve, jobs.TypeTranscript}, []stageCase{
		{name: "success", state: recap.StateSucceeded, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			sm, err := b.Store.Summary(context.Background(), *j.SummaryID)
			if err != nil || sm.Markdown != "[00:00] "+jobstest.TalkSegments[0].Text {
				t.Fatalf("summary %+v, %v", sm, err)
			}
			if got := b.Store.Captured(j.ID); got != 120 {
				t.Fatalf("captured %d s, want 120", got)
			}
		}},
		{name: "permanent failure", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.LLM.SummarizeFunc = func(context.Context, summarize.Request) (*summarize.Result, error) {
				return nil, fmt.Errorf("400 bad request: %w", summarize.ErrPermanent)
			}
		}, wantErr: true, skipRetry: true, state: recap.StateFailed, code: recap.CodeUpstreamRejected},
		{name: "retryable failure", arrange: func(t *testing.T, _ *jobstest.Worker, b *jobstest.Bundle, _ *recap.Job) {
			b.LLM.SummarizeFunc = func(context.Context, summarize.Request) (*summarize.Result, error) { return nil, jobstest.ErrTransient }
		}, wantErr: true, state: recap.StateSummarizing},
		{name: "cache hit", arrange: finishedBefore, state: recap.StateSucceeded, check: func(t *testing.T, b *jobstest.Bundle, j *recap.Job) {
			if n := b.LLM.Calls(); n != 1 {
				t.Fatalf("%d model calls for one summary", n)
			}
			var cached bool
			for _, ev := range b.Events.Of(j.ID) {
				if ev.Type == recap.EventResult && ev.Result != nil {
					cached = ev.Result.Cached
				}
			}
			if !cached {
				t.Fatal("the result does not say it came from the cache")
			}
		}},
		{name: "canceled", arrange: cancel, state: recap.StateCanceled, code: recap.CodeCanceled, check: func(t *testing.T, b *jobstest.Bundle, _ *recap.Job) {
			if n := b.LLM.Calls(); n != 0 {
				t.Fatalf("a canceled job called the model %d times", n)
			}
		}},
	})
}

func TestChainedStages(t *testing.T) {
	t.Parallel()
	chain := func(c *jobs.WorkerConfig) { c.ChainStages = true }
	tests := []struct {
		name    string
		edit    func(*jobs.WorkerConfig)
		arrange func(b *jobstest.Bundle, j *recap.Job)
		state   string
		queued  []string // stage tasks left in the queue
		llm     int
	}{
		{"one slot runs the whole job", chain, nil, recap.StateSucceeded, nil, 1},
		{"without chaining each stage is queued", nil, nil, recap.StateResolving, []string{jobs.TypeTranscript}, 0},
		{"a capped stage is queued", func(c *jobs.WorkerConfig) {
			c.ChainStages = true
			c.StageConcurrency = map[string]int{jobs.TypeSummary: 1}
		}, nil, recap.StateTranscribing, []string{jobs.TypeSummary}, 0},
		{"a retryable failure becomes a queued task", chain, func(b *jobstest.Bundle, _ *recap.Job) {
			b.LLM.SummarizeFunc = func(context.Context, summarize.Request) (*summarize.Result, error) { return nil, jobstest.ErrTransient }
		}, recap.StateSummarizing, []string{jobs.TypeSummary}, 1},
		{"a job canceled mid-chain stops", chain, func(b *jobstest.Bundle, j *recap.Job) {
			b.Media.SubtitlesFunc = func(ctx context.Context, _ string, _ *media.Info, _ string) ([]recap.Segment, media.SubtitleTrack, error) {
				_, _ = b.Store.Finish(ctx, j.ID, store.Outcome{State: recap.StateCanceled, ErrorCode: recap.CodeCanceled})
				return jobstest.TalkSegments, jobstest.Talk.Subtitles[0], nil
			}
		}, recap.StateCanceled, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, b := jobstest.New(t, tt.edit)
			j := b.NewJob(t, talkURL, nil)
			if tt.arrange != nil {
				tt.arrange(b, j)
			}
			if err := w.Work(context.Background(), jobs.TypeResolve, j.ID); err != nil {
				t.Fatal(err)
			}
			j = b.Job(t, j.ID)
			var queued []string
			for _, task := range b.Queue.Tasks() {
				if task.Type != jobs.TypeWebhook {
					queued = append(queued, task.Type)
				}
			}
			if j.State != tt.state || fmt.Sprint(queued) != fmt.Sprint(tt.queued) || b.LLM.Calls() != tt.llm {
				t.Fatalf("job %s (%s), queued %v, %d model calls; want %s, %v, %d", j.State, j.ErrorMessage, queued, b.LLM.Calls(), tt.state, tt.queued, tt.llm)
			}
		})
	}
}

// TestBatchJobsAreNotChained: a batch job's stages go through the queue
// even with chaining on, so the interactive queue gets a slot at every
// stage boundary of a long batch.
func TestBatchJobsAreNotChained(t *testing.T) {
	t.Parallel()
	w, b := jobstest.New(t, func(c *jobs.WorkerConfig) { c.ChainStages = true })
	j := b.NewJob(t, talkURL, func(j *recap.Job) { j.Queue = jobs.QueueBatch })
	if err := w.Work(context.Background(), jobs.TypeResolve, j.ID); err != nil {
		t.Fatal(err)
	}
	if j = b.Job(t, j.ID); j.State != recap.StateResolving {
		t.Fatalf("state %s after the resolve stage, want %s (the rest queued)", j.State, recap.StateResolving)
	}
	tasks := b.Queue.Tasks()
	if len(tasks) != 1 || tasks[0].Type != jobs.TypeTranscript {
		t.Fatalf("queued %+v, want the transcript stage", tasks)
	}
}
