package jobstest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/summarize"
)

// Bundle holds the fakes a Worker runs on.
type Bundle struct {
	Store  *Store
	Media  *Media
	LLM    *Summarizer
	Queue  *Queue
	Events *Events
	// AccountID is the account NewJob's jobs belong to (600 minutes of
	// credit).
	AccountID int64
}

// Worker runs a jobs.Worker's stages on in-memory fakes.
type Worker struct {
	*jobs.Worker
	mux *asynq.ServeMux
}

// Talk is what the default Media resolves every URL to: a 90-second video
// with English subtitles.
var Talk = media.Info{ID: "talk", Extractor: "generic", ExtractorKey: "Generic", Title: "A talk", Duration: 90,
	Subtitles: []media.SubtitleTrack{{Lang: "en", Ext: "vtt", URL: "http://example.test/talk.en.vtt"}}}

// TalkSegments are the default Media's subtitles.
var TalkSegments = []recap.Segment{{Start: 0, End: 30, Text: "Welcome to the talk."}, {Start: 30, End: 60, Text: "The middle part."},
	{Start: 60, End: 90, Text: "Thank you."}}

// New returns a worker over fresh fakes; edit may change the config
// (swap a fake, set limits) before the worker is made.
func New(t testing.TB, edit func(*jobs.WorkerConfig)) (*Worker, *Bundle) {
	t.Helper()
	b := &Bundle{Store: NewStore(), LLM: &Summarizer{}, Queue: &Queue{}, Events: &Events{}, AccountID: 1,
		Media: &Media{
			ResolveFunc: func(context.Context, string) (*media.Info, error) { info := Talk; return &info, nil },
			SubtitlesFunc: func(context.Context, string, *media.Info, string) ([]recap.Segment, media.SubtitleTrack, error) {
				return TalkSegments, Talk.Subtitles[0], nil
			},
		}}
	b.Store.Grant(b.AccountID, 600*60)
	cfg := jobs.WorkerConfig{Store: b.Store, Media: b.Media, LLM: b.LLM, Extractive: summarize.NewExtractive(summarize.ExtractiveConfig{}),
		Publisher: b.Events, Asynq: b.Queue, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if edit != nil {
		edit(&cfg)
	}
	w := jobs.NewWorker(cfg)
	return &Worker{Worker: w, mux: w.Mux()}, b
}

// Work runs one stage of a job as asynq runs a task outside its retry
// bookkeeping: the attempt budget is the store's count, and a failed run
// goes to the worker's ErrorHandler (jobs.Worker.Process).
func (w *Worker) Work(ctx context.Context, typ, jobID string) error {
	return w.Process(ctx, w.mux, asynq.NewTask(typ, []byte(`{"job_id":"`+jobID+`"}`)))
}

// NewJob stores a queued summary job for url.
func (b *Bundle) NewJob(t testing.TB, url string, edit func(*recap.Job)) *recap.Job {
	t.Helper()
	key, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	j := &recap.Job{AccountID: b.AccountID, URL: url, VideoKey: key, Model: "fake-model"}
	if edit != nil {
		edit(j)
	}
	if err := b.Store.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// Job returns a job's current row.
func (b *Bundle) Job(t testing.TB, id string) *recap.Job {
	t.Helper()
	j, err := b.Store.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
