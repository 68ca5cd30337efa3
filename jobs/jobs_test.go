package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
	"github.com/recap/recap/summarize"
	"github.com/recap/recap/summarize/summarizetest"
)

// bundle is what a jobs test works with besides the worker.
type bundle struct {
	store  *store.Store
	fake   *summarizetest.Server
	host   *mediatest.Host
	client *jobs.Client
	events *jobs.Events
	key    *recap.Caller
	media  *media.Client
	cfg    jobs.WorkerConfig
}

// setup returns a worker on real Postgres, Redis, yt-dlp and ffmpeg, with
// the fake OpenAI-compatible server for the LLM and speech-to-text. Tests
// drive its stages directly through the mux, so they control each run.
func setup(t *testing.T, edit func(*jobs.WorkerConfig)) (*jobs.Worker, *bundle) {
	t.Helper()
	st := storetest.New(t)
	fake := summarizetest.New(t, summarizetest.Options{})
	rdb := redistest.New(t)
	ac := asynq.NewClient(redistest.Asynq(t))
	t.Cleanup(func() { ac.Close() })
	prefix := redistest.Prefix(t, "tj")
	ev := jobs.NewEvents(jobs.EventsConfig{Redis: rdb, Prefix: "recap:" + prefix})
	m, err := media.New(media.Config{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := st.CreateKey(context.Background(), store.NewKey{Name: "t", Seconds: 600 * 60})
	if err != nil {
		t.Fatal(err)
	}
	cfg := jobs.WorkerConfig{
		Store: st, Media: m, Events: ev, Asynq: ac, QueuePrefix: prefix, TempDir: t.TempDir(),
		LLM:                   summarize.New(summarize.Config{BaseURL: fake.URL(), APIKey: "x", Model: "fake-model"}),
		Extractive:            summarize.NewExtractive(summarize.ExtractiveConfig{}),
		Transcriber:           media.NewTranscriber(media.TranscriberConfig{BaseURL: fake.URL(), APIKey: "x"}),
		Logger:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		PriceCachedTranscript: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	bd := &bundle{store: st, fake: fake, host: mediatest.NewHost(t), events: ev, key: k, media: m, cfg: cfg,
		client: jobs.NewClient(jobs.ClientConfig{Store: st, Asynq: ac, Events: ev, QueuePrefix: prefix})}
	return jobs.NewWorker(cfg), bd
}

func (b *bundle) newJob(t *testing.T, url string) *recap.Job {
	t.Helper()
	key, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	j := &recap.Job{AccountID: b.key.AccountID, APIKeyID: b.key.ID, URL: url, VideoKey: key, Model: "fake-model"}
	if err := b.store.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// run processes one stage of a job as asynq would (without a retry count,
// so only permanent errors end the job), failures going to HandleError.
func run(w *jobs.Worker, jobID, typ string) error {
	return w.Process(context.Background(), w.Mux(), asynq.NewTask(typ, []byte(`{"job_id":"`+jobID+`"}`)))
}

func mustJob(t *testing.T, s *store.Store, id string) *recap.Job {
	t.Helper()
	j, err := s.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// checkCoverage asserts segments are ordered, do not overlap and cover
// [0, duration] within a second.
func checkCoverage(t *testing.T, segs []recap.Segment, duration float64) {
	t.Helper()
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].Start < segs[i-1].End-1e-6 {
			t.Fatalf("segment %d [%.2f,%.2f] overlaps %d [%.2f,%.2f]", i, segs[i].Start, segs[i].End, i-1, segs[i-1].Start, segs[i-1].End)
		}
		if gap := segs[i].Start - segs[i-1].End; gap > 1 {
			t.Fatalf("gap of %.2fs before segment %d at %.2f", gap, i, segs[i].Start)
		}
	}
	if segs[0].Start > 1 || math.Abs(segs[len(segs)-1].End-duration) > 1 {
		t.Fatalf("segments cover [%.2f, %.2f], media is %.2fs", segs[0].Start, segs[len(segs)-1].End, duration)
	}
}

func TestSpeechToTextLongAudio(t *testing.T) {
	t.Parallel()
	w, b := setup(t, func(c *jobs.WorkerConfig) { c.STTChunkSeconds = 300 })
	audio := mediatest.GenerateLongAudio(t, 22)
	b.host.Serve("/lecture.ogg", mediatest.FileHandler(audio, "audio/ogg"))
	j := b.newJob(t, b.host.URL("/lecture.ogg"))
	for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript} {
		if err := run(w, j.ID, typ); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	j = mustJob(t, b.store, j.ID)
	if j.TranscriptID == nil {
		t.Fatalf("no transcript; job %+v", j)
	}
	tr, err := b.store.Transcript(context.Background(), *j.TranscriptID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Source != "speech_to_text" {
		t.Fatalf("source %s", tr.Source)
	}
	if math.Abs(tr.Duration-22*60) > 1 {
		t.Fatalf("duration %.1f", tr.Duration)
	}
	checkCoverage(t, tr.Segments, tr.Duration)
	// 22 minutes in chunks of at most 5: at least 5 calls, one per chunk.
	if n := b.fake.TranscriptionCalls(); n < 5 || n > 6 {
		t.Fatalf("%d transcription calls for 22 minutes in ≤5-minute chunks", n)
	}
	// Priced from the measured duration (the direct file had no metadata duration).
	if j.CostSeconds != 23*60 {
		t.Fatalf("cost %d s, want %d", j.CostSeconds, 23*60)
	}
	// The summary's timestamps come from the transcribed segments.
	if err := run(w, j.ID, jobs.TypeSummary); err != nil {
		t.Fatal(err)
	}
	j = mustJob(t, b.store, j.ID)
	sm, err := b.store.Summary(context.Background(), *j.SummaryID)
	if err != nil {
		t.Fatal(err)
	}
	last := tr.Segments[len(tr.Segments)-1]
	if ts := summarize.FormatTimestamp(last.Start); !contains(sm.Markdown, ts) {
		t.Fatalf("summary lacks the last segment's timestamp %s:\n%s", ts, sm.Markdown)
	}
	storetest.CheckLedger(t, b.store)
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// crashingTranscriber passes calls through until it has let `ok` succeed,
// then fails every call, as a worker dying mid-stage would.
type crashingTranscriber struct {
	next jobs.Transcriber
	ok   int32
	n    atomic.Int32
}

func (c *crashingTranscriber) Transcribe(ctx context.Context, path, lang string) ([]recap.Segment, error) {
	if c.n.Add(1) > c.ok {
		return nil, errors.New("worker crashed")
	}
	return c.next.Transcribe(ctx, path, lang)
}

func TestSpeechToTextResumesOnlyMissingChunks(t *testing.T) {
	t.Parallel()
	real := media.NewTranscriber(media.TranscriberConfig{})
	crash := &crashingTranscriber{ok: 2}
	var w1 *jobs.Worker
	w1, b := setup(t, func(c *jobs.WorkerConfig) {
		c.STTChunkSeconds = 120
		c.STTConcurrency = 1
		real = c.Transcriber.(*media.Transcriber)
		crash.next = real
		c.Transcriber = crash
	})
	audio := mediatest.GenerateLongAudio(t, 10)
	b.host.Serve("/talk10.ogg", mediatest.FileHandler(audio, "audio/ogg"))
	j := b.newJob(t, b.host.URL("/talk10.ogg"))
	if err := run(w1, j.ID, jobs.TypeResolve); err != nil {
		t.Fatal(err)
	}
	if err := run(w1, j.ID, jobs.TypeTranscript); err == nil {
		t.Fatal("the crashing stage succeeded")
	}
	stored, err := b.store.Chunks(context.Background(), j.VideoKey, "", recap.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || b.fake.TranscriptionCalls() != 2 {
		t.Fatalf("after the crash: %d chunks stored, %d calls", len(stored), b.fake.TranscriptionCalls())
	}
	// The retry runs on a healthy worker and sends only the missing chunks.
	cfg := b.cfg
	cfg.Transcriber = real
	w2 := jobs.NewWorker(cfg)
	if err := run(w2, j.ID, jobs.TypeTranscript); err != nil {
		t.Fatal(err)
	}
	j = mustJob(t, b.store, j.ID)
	tr, err := b.store.Transcript(context.Background(), *j.TranscriptID)
	if err != nil {
		t.Fatal(err)
	}
	chunks := int(math.Ceil(tr.Duration / 120))
	if got := b.fake.TranscriptionCalls(); got != chunks {
		t.Fatalf("%d transcription calls in all for %d chunks: finished chunks were sent again", got, chunks)
	}
	checkCoverage(t, tr.Segments, tr.Duration)
}

func TestPermanentFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*jobs.WorkerConfig)
		path  func(b *bundle) string
		stage string
		code  string
	}{
		{"too long from subtitles", func(c *jobs.WorkerConfig) { c.MaxMediaSeconds = 10 }, func(b *bundle) string { return b.host.PageURL() }, jobs.TypeTranscript, recap.CodeMediaTooLong},
		{"too long measured", func(c *jobs.WorkerConfig) { c.MaxMediaSeconds = 10 }, func(b *bundle) string { return b.host.NoSubsPageURL() }, jobs.TypeTranscript, recap.CodeMediaTooLong},
		{"no subtitles, no stt", func(c *jobs.WorkerConfig) { c.Transcriber = nil }, func(b *bundle) string { return b.host.NoSubsPageURL() }, jobs.TypeTranscript, recap.CodeNoTranscript},
		{"page not found", nil, func(b *bundle) string { return b.host.URL("/missing.html") }, jobs.TypeResolve, recap.CodeVideoUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, b := setup(t, tt.edit)
			j := b.newJob(t, tt.path(b))
			var err error
			for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript} {
				err = run(w, j.ID, typ)
				if err != nil || typ == tt.stage || recap.Terminal(mustJob(t, b.store, j.ID).State) {
					break
				}
			}
			j = mustJob(t, b.store, j.ID)
			if j.State != recap.StateFailed {
				t.Fatalf("state %s (%v)", j.State, err)
			}
			// The caller's failure is the job's recorded outcome; for asynq
			// the task is done, not failed (nothing to archive).
			if err != nil {
				t.Fatalf("a caller-caused failure (%s) failed the task: %v", j.ErrorCode, err)
			}
			if j.ErrorCode != tt.code {
				t.Fatalf("code %s, want %s: %s", j.ErrorCode, tt.code, j.ErrorMessage)
			}
			bal, _ := b.store.Balance(context.Background(), b.key.AccountID)
			if bal.Held != 0 || bal.Available != 600*60 {
				t.Fatalf("credits not whole after failure: %+v", bal)
			}
			storetest.CheckLedger(t, b.store)
		})
	}
}
