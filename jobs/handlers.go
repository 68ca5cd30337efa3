package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// Store is what the stages need from persistence.
type Store interface {
	JobStore
	StartStage(ctx context.Context, id, state string) (store.Attempt, bool, error)
	FailAttempt(ctx context.Context, id, code, msg string) error
	RefundAttempt(ctx context.Context, id, state string) error
	SetProgress(ctx context.Context, id string, pct float64) error
	SetVideo(ctx context.Context, id, videoKey, title string, duration float64) error
	SetTranscript(ctx context.Context, id string, transcriptID int64) error
	Hold(ctx context.Context, accountID int64, jobID string, seconds int64) error
	WithLock(ctx context.Context, key string, fn func(ctx context.Context) error) error
	SaveVideo(ctx context.Context, v *store.Video) error
	Video(ctx context.Context, key string) (*store.Video, error)
	SetVideoDuration(ctx context.Context, key string, d float64) error
	SaveTranscript(ctx context.Context, t *store.Transcript) error
	LatestTranscript(ctx context.Context, videoKey, language string) (*store.Transcript, error)
	Transcript(ctx context.Context, id int64) (*store.Transcript, error)
	SaveChunk(ctx context.Context, videoKey, language string, c store.Chunk) error
	Chunks(ctx context.Context, videoKey, language string) (map[int]store.Chunk, error)
	DeleteChunks(ctx context.Context, videoKey, language string) error
	FindSummary(ctx context.Context, transcriptID int64, promptHash, model, outputLanguage string) (*store.Summary, error)
	SaveSummary(ctx context.Context, sm *store.Summary) error
	Summary(ctx context.Context, id int64) (*store.Summary, error)
	StaleJobs(ctx context.Context, before time.Time, after store.StaleCursor, limit int) ([]store.Job, error)
}

// Media resolves videos and fetches their subtitles and audio.
type Media interface {
	Resolve(ctx context.Context, url string) (*media.Info, error)
	Subtitles(ctx context.Context, url string, info *media.Info, lang string) ([]media.Segment, media.SubtitleTrack, error)
	DownloadAudio(ctx context.Context, url, dir string, progress func(float64)) (string, error)
	Probe(ctx context.Context, path string) (float64, error)
	SplitAudio(ctx context.Context, path, dir string, maxChunk float64) ([]media.Chunk, error)
}

// Transcriber turns one audio file into timed segments.
type Transcriber interface {
	Transcribe(ctx context.Context, path, language string) ([]media.Segment, error)
}

// Summarizer writes summaries and answers questions about transcripts.
type Summarizer interface {
	Summarize(ctx context.Context, req summarize.Request, onDelta func(string)) (*summarize.Result, error)
	Answer(ctx context.Context, q summarize.Question, onDelta func(string)) (*summarize.Result, error)
	Model() string
}

// WorkerConfig configures the stage handlers.
type WorkerConfig struct {
	Store Store
	Media Media
	// Transcriber is nil when no speech-to-text service is configured.
	Transcriber Transcriber
	// Files reads uploaded files; nil when no BLOB_URL is configured.
	Files Files
	// LLM is nil when no LLM is configured; Extractive then answers.
	LLM        Summarizer
	Extractive Summarizer
	Events     *Events
	Asynq      *asynq.Client
	Logger     *slog.Logger

	QueuePrefix string
	Timeouts    Timeouts
	MaxRetry    int

	// MaxMediaSeconds refuses longer media before download (default 4h).
	MaxMediaSeconds float64
	// PriceCachedTranscript charges jobs whose transcript came from the cache.
	PriceCachedTranscript bool
	// TempDir holds per-job work directories.
	TempDir string
	// STTChunkSeconds and STTConcurrency shape speech-to-text.
	STTChunkSeconds float64
	STTConcurrency  int
	// WebhookSecret keys the webhook signatures.
	WebhookSecret []byte
	// AllowPrivateNetworks lets webhooks reach private addresses.
	AllowPrivateNetworks bool
	// AllowedNetworks are internal ranges webhooks may reach anyway
	// (EGRESS_ALLOW), as everything else Recap fetches.
	AllowedNetworks []netip.Prefix

	// Inspector lets the reconciler see which stage tasks exist.
	Inspector *asynq.Inspector
	// ReconcileGrace is how long a job must go unchanged before the
	// reconciler looks at it (default 2m).
	ReconcileGrace time.Duration
	// StuckFactor times a stage's time-out (plus the grace) is how long an
	// active stage may go without updating its job before the sweeper fails
	// the job (default 3).
	StuckFactor int
	// Metrics receives stage durations, media failures, tokens and audio
	// seconds; nil records nothing.
	Metrics *metrics.Metrics
	// StageConcurrency caps the concurrent runs of a stage (by task type)
	// in one worker pool; a missing or zero entry leaves it uncapped.
	StageConcurrency map[string]int
}

// Worker holds the stage handlers.
type Worker struct {
	cfg      WorkerConfig
	log      *slog.Logger
	webhooks *http.Client
	// markerSeen is set once the reconciler has seen its Redis marker
	// (see registerQueues).
	markerSeen atomic.Bool
}

// NewWorker returns the stage handlers.
func NewWorker(cfg WorkerConfig) *Worker {
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 5
	}
	if cfg.MaxMediaSeconds <= 0 {
		cfg.MaxMediaSeconds = 4 * 3600
	}
	if cfg.STTChunkSeconds <= 0 {
		cfg.STTChunkSeconds = 600
	}
	if cfg.STTConcurrency <= 0 {
		cfg.STTConcurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReconcileGrace <= 0 {
		cfg.ReconcileGrace = 2 * time.Minute
	}
	if cfg.StuckFactor <= 0 {
		cfg.StuckFactor = 3
	}
	cfg.instrument()
	return &Worker{cfg: cfg, log: cfg.Logger, webhooks: webhookClient(URLPolicy{AllowPrivate: cfg.AllowPrivateNetworks, Allow: cfg.AllowedNetworks})}
}

// Mux returns an asynq handler serving every stage.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.limit(), w.observe)
	mux.Handle(TypeResolve, w.stage(TypeResolve, w.resolve))
	mux.Handle(TypeTranscript, w.stage(TypeTranscript, w.transcript))
	mux.Handle(TypeSummary, w.stage(TypeSummary, w.summary))
	mux.HandleFunc(TypeWebhook, w.deliverWebhook)
	return mux
}

type stageFunc func(ctx context.Context, j *store.Job) error

// stageState is the job state a stage's run moves the job into.
func stageState(typ string) string {
	switch typ {
	case TypeResolve:
		return store.StateResolving
	case TypeTranscript:
		return store.StateTranscribing
	}
	return store.StateSummarizing
}

// callerCaused reports whether a permanent failure is the request's own
// doing (the video is gone, too long, not allowed, the balance too low):
// the job records it as its outcome, and the task ends as done rather
// than archived, so asynq's failure counts and archive hold only what went
// wrong on Recap's side or upstream.
func callerCaused(code string) bool {
	switch code {
	case CodeNoTranscript, CodeMediaTooLong, CodeLive, CodeUnavailable, CodeUnsupported,
		CodeURLNotAllowed, CodeInsufficientQuota, CodeTooLarge, CodeCanceled,
		CodeLoginRequired, CodeGeoRestricted, CodeDRMProtected: // the video's site said no
		return true
	}
	return false
}

// stage wraps a stage: it loads the job, skips ended ones, moves the job
// into the stage's state and counts the attempt in Postgres, and turns a
// permanent error or the last attempt's error into the job's single
// terminal state (which settles its credit hold in the same transaction).
func (w *Worker) stage(typ string, fn stageFunc) asynq.Handler {
	state := stageState(typ)
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		// asynq retries or archives a task the moment its deadline passes,
		// without waiting for the handler. The stage works to a slightly
		// earlier deadline, so that on a last attempt it records the
		// failure itself (with its real cause) while the task is still
		// active, rather than leaving an archived task for the reconciler.
		if dl, ok := ctx.Deadline(); ok {
			margin := min(time.Until(dl)/10, 5*time.Second)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
			defer cancel()
		}
		var p payload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.JobID == "" {
			return fmt.Errorf("%s: bad payload: %w", typ, asynq.SkipRetry)
		}
		j, err := w.cfg.Store.Job(ctx, p.JobID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: job %s not found: %w", typ, p.JobID, asynq.SkipRetry)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		if store.Terminal(j.State) {
			return nil
		}
		log := w.log.With("job_id", j.ID, "video_key", j.VideoKey, "stage", typ)
		ctx = withLogger(ctx, log)
		attempt, ok, err := w.startStage(ctx, j, state)
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		if !ok {
			// Ended meanwhile, or past this stage: a duplicate task (the
			// reconciler's, after Redis lost the original) has nothing to do.
			return nil
		}
		retry, ok1 := asynq.GetRetryCount(ctx)
		maxRetry, ok2 := asynq.GetMaxRetry(ctx)
		if !ok2 {
			maxRetry = w.cfg.MaxRetry
		}
		budget := maxRetry + 1
		if attempt.N > budget {
			// Redis forgot this task's retries (a flush, a restart without
			// persistence) and it came back with a fresh count; Postgres
			// did not forget. The last attempt's failure was never recorded
			// (its worker died, or its task was lost): record it now.
			je := &Error{Code: CodeUpstream, Message: fmt.Sprintf("the %s stage gave up after %d attempts", typ, attempt.N-1)}
			if attempt.LastErrorCode != "" {
				je.Code = attempt.LastErrorCode
			}
			if attempt.LastError != "" {
				je.Message += ": " + attempt.LastError
			}
			log.Warn("stage over its attempt budget", "attempt", attempt.N, "budget", budget)
			w.fail(context.WithoutCancel(ctx), j.ID, je)
			return fmt.Errorf("%s: %s: %w", typ, je.Message, asynq.SkipRetry)
		}
		start := time.Now()
		err = fn(ctx, j)
		if err == nil {
			log.Info("stage done", "ms", time.Since(start).Milliseconds(), "attempt", attempt.N)
			return nil
		}
		je := asError(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && je.Code == CodeInternal {
			// The stage ran out of time somewhere that is not an upstream
			// call of its own (waiting for a lock a hung attempt still held,
			// say): say so rather than "processing failed".
			je = &Error{Code: CodeUpstream, Message: fmt.Sprintf("the %s stage timed out after %s", typ, w.cfg.Timeouts.of(typ)), Err: err}
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			// Not the job's doing: a cancel (the job has ended: done), a
			// shutdown (asynq puts the task back) or a lost lease (asynq
			// retries it). Failing the job here would turn a worker restart
			// into a failed job on its last attempt, and counting the run
			// would let restarts use up its attempts.
			bg := context.WithoutCancel(ctx)
			if cur, err2 := w.cfg.Store.Job(bg, j.ID); err2 == nil && store.Terminal(cur.State) {
				return nil
			}
			if err2 := w.cfg.Store.RefundAttempt(bg, j.ID, state); err2 != nil {
				log.Warn("refund interrupted attempt", "err", err2)
			}
			log.Info("stage interrupted", "err", err, "retry", retry)
			return fmt.Errorf("%s: interrupted: %w", typ, err)
		}
		last := je.Permanent || attempt.N >= budget || (ok1 && retry >= maxRetry)
		if ctx.Err() != nil && !last {
			// Canceled or timed out: the job row tells which. A canceled job
			// is already terminal; a time-out is retried.
			if cur, err2 := w.cfg.Store.Job(context.WithoutCancel(ctx), j.ID); err2 == nil && store.Terminal(cur.State) {
				return nil
			}
		}
		log.Warn("stage failed", "err", err, "code", je.Code, "attempt", attempt.N, "retry", retry, "final", last)
		if !last {
			if err2 := w.cfg.Store.FailAttempt(context.WithoutCancel(ctx), j.ID, je.Code, je.Message); err2 != nil {
				log.Warn("record failed attempt", "err", err2)
			}
			w.publish(ctx, j.ID, Event{Type: EventProgress, Message: "Retrying after an error: " + je.Message})
			return err
		}
		w.fail(context.WithoutCancel(ctx), j.ID, je)
		if je.Permanent && callerCaused(je.Code) {
			// A recorded outcome, not a queue failure (see callerCaused).
			setOutcome(ctx, outcomeFailed)
			return nil
		}
		return fmt.Errorf("%s: %w: %w", typ, err, asynq.SkipRetry)
	})
}

// fail ends a job as failed and tells its followers, once. It reports
// whether this call ended the job. When the store is unreachable the job
// stays as it is and the reconciler fails it later.
func (w *Worker) fail(ctx context.Context, jobID string, je *Error) bool {
	ok, err := w.cfg.Store.Finish(ctx, jobID, store.Outcome{State: store.StateFailed, ErrorCode: je.Code, ErrorMessage: je.Message})
	if err != nil {
		w.logger(ctx, jobID).Error("finish failed job", "err", err)
		return false
	}
	if ok {
		w.cfg.Metrics.JobFinished(store.StateFailed, je.Code)
		w.publish(ctx, jobID, Event{Type: EventError, State: store.StateFailed, Error: &ErrorInfo{Code: je.Code, Message: je.Message}})
		w.ended(ctx, jobID)
	}
	return ok
}

// ended runs what follows a job's terminal state: its webhook.
func (w *Worker) ended(ctx context.Context, jobID string) {
	j, err := w.cfg.Store.Job(ctx, jobID)
	if err != nil {
		w.logger(ctx, jobID).Error("ended job", "err", err)
		return
	}
	if err := enqueueWebhook(ctx, w.cfg.Asynq, w.cfg.QueuePrefix, j); err != nil {
		w.logger(ctx, jobID).Error("ended job", "err", err)
	}
}

func (w *Worker) publish(ctx context.Context, jobID string, ev Event) {
	if _, err := w.cfg.Events.Publish(context.WithoutCancel(ctx), jobID, ev); err != nil {
		w.logger(ctx, jobID).Warn("publish event", "err", err)
	}
}

// startStage moves the job into a stage's state, counting the attempt,
// and tells its followers when the state changed.
func (w *Worker) startStage(ctx context.Context, j *store.Job, state string) (store.Attempt, bool, error) {
	a, ok, err := w.cfg.Store.StartStage(ctx, j.ID, state)
	if err != nil || !ok {
		return a, ok, err
	}
	if j.State != state {
		w.publish(ctx, j.ID, Event{Type: EventState, State: state})
		j.State = state
	}
	return a, true, nil
}

func (w *Worker) next(ctx context.Context, j *store.Job, typ string) error {
	return enqueue(ctx, w.cfg.Asynq, w.cfg.QueuePrefix, w.cfg.Timeouts, w.cfg.MaxRetry, j, typ)
}

// resolve learns the video's metadata (once per canonical key), refuses
// what cannot be processed, and places the credit hold when the
// duration is known.
func (w *Worker) resolve(ctx context.Context, j *store.Job) error {
	if j.URL == "" { // images only: straight to the model
		w.publish(ctx, j.ID, Event{Type: EventPriced})
		return w.next(ctx, j, TypeSummary)
	}
	v, err := w.video(ctx, j)
	if err != nil {
		return err
	}
	if v.IsLive {
		return permanent(CodeLive, "live streams cannot be summarized; try again once the broadcast has ended", nil)
	}
	if v.Duration > w.cfg.MaxMediaSeconds {
		return permanent(CodeMediaTooLong, fmt.Sprintf("the media is %s long; this server accepts at most %s",
			fmtDuration(v.Duration), fmtDuration(w.cfg.MaxMediaSeconds)), nil)
	}
	if err := w.cfg.Store.SetVideo(ctx, j.ID, v.Key, v.Title, v.Duration); err != nil {
		return err
	}
	j.Duration, j.Title = v.Duration, v.Title
	if err := w.price(ctx, j, v.Duration); err != nil {
		return err
	}
	return w.next(ctx, j, TypeTranscript)
}

func (w *Worker) video(ctx context.Context, j *store.Job) (*store.Video, error) {
	var v *store.Video
	err := w.cfg.Store.WithLock(ctx, "video:"+j.VideoKey, func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			v, err = w.cfg.Store.Video(ctx, j.VideoKey)
			if err == nil {
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		info, err := w.resolveInfo(ctx, j)
		if err != nil {
			return err
		}
		raw, _ := json.Marshal(info)
		v = &store.Video{Key: j.VideoKey, URL: j.URL, Title: info.Title, Duration: info.Duration, IsLive: info.IsLive, Info: raw}
		return w.cfg.Store.SaveVideo(ctx, v)
	})
	return v, err
}

// price places the job's hold once its duration is known: whole minutes,
// rounded up. A job whose duration is not known yet is priced later.
//
// Free: a follow-up question about a video whose transcript is stored, a
// summary already in the cache (the job will do no work), and, with
// PriceCachedTranscript off, a transcript that was in the cache before
// the job was created. "Before the job" keeps the
// decision the same on every retry and makes jobs that share one fresh
// download all pay for it.
func (w *Worker) price(ctx context.Context, j *store.Job, duration float64) error {
	if duration <= 0 {
		return nil
	}
	if !j.Refresh {
		free, err := w.cachedForFree(ctx, j)
		if err != nil {
			return err
		}
		if free {
			w.publish(ctx, j.ID, Event{Type: EventPriced})
			return nil
		}
	}
	cost := int64(math.Ceil(duration/60)) * 60
	if err := w.cfg.Store.Hold(ctx, j.AccountID, j.ID, cost); err != nil {
		if errors.Is(err, store.ErrInsufficientCredits) {
			return permanent(CodeInsufficientQuota, fmt.Sprintf("this video costs %d minutes of credit and the balance does not cover it", cost/60), err)
		}
		return err
	}
	j.CostSeconds = cost
	w.publish(ctx, j.ID, Event{Type: EventPriced, CostSeconds: cost})
	return nil
}

// cachedForFree reports whether the caches make the job free (see price).
func (w *Worker) cachedForFree(ctx context.Context, j *store.Job) (bool, error) {
	t, err := w.cfg.Store.LatestTranscript(ctx, j.VideoKey, j.AudioLanguage)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if j.Kind == "answer" {
		return true, nil
	}
	if _, err := w.cfg.Store.FindSummary(ctx, t.ID, PromptHash(j.Prompt, j.Images), w.summaryModel(j), j.OutputLanguage); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return !w.cfg.PriceCachedTranscript && t.CreatedAt.Before(j.CreatedAt), nil
}

// transcript gets the job's transcript: from the cache, from subtitles,
// or from speech-to-text, once per video and language.
func (w *Worker) transcript(ctx context.Context, j *store.Job) error {
	var t *store.Transcript
	lang := j.AudioLanguage
	err := w.cfg.Store.WithLock(ctx, "transcript:"+j.VideoKey+":"+lang, func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			t, err = w.cfg.Store.LatestTranscript(ctx, j.VideoKey, lang)
			if err == nil {
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		t, err = w.fetchTranscript(ctx, j)
		if err != nil {
			return err
		}
		if err := w.cfg.Store.SaveTranscript(ctx, t); err != nil {
			return err
		}
		return w.cfg.Store.DeleteChunks(ctx, j.VideoKey, lang)
	})
	if err != nil {
		return err
	}
	if j.CostSeconds == 0 && j.Duration <= 0 {
		d := t.Duration
		if d > w.cfg.MaxMediaSeconds {
			return permanent(CodeMediaTooLong, fmt.Sprintf("the media is %s long; this server accepts at most %s",
				fmtDuration(d), fmtDuration(w.cfg.MaxMediaSeconds)), nil)
		}
		// Price before recording the duration: a retry after a failed
		// hold must still see an unpriced job.
		if err := w.price(ctx, j, d); err != nil {
			return err
		}
		if err := w.cfg.Store.SetVideo(ctx, j.ID, j.VideoKey, j.Title, d); err != nil {
			return err
		}
		j.Duration = d
	}
	if err := w.cfg.Store.SetTranscript(ctx, j.ID, t.ID); err != nil {
		return err
	}
	if j.Kind == KindTranscript {
		return w.finishTranscript(ctx, j)
	}
	return w.next(ctx, j, TypeSummary)
}

func (w *Worker) fetchTranscript(ctx context.Context, j *store.Job) (*store.Transcript, error) {
	v, err := w.cfg.Store.Video(ctx, j.VideoKey)
	if err != nil {
		return nil, err
	}
	if isFileJob(j) {
		return w.fileTranscript(ctx, j, v)
	}
	var info media.Info
	if err := json.Unmarshal(v.Info, &info); err != nil {
		return nil, fmt.Errorf("video info: %w", err)
	}
	w.publish(ctx, j.ID, Event{Type: EventProgress, Message: "Fetching subtitles…"})
	segs, track, err := w.cfg.Media.Subtitles(ctx, j.URL, &info, j.AudioLanguage)
	if err == nil && len(segs) > 0 {
		source := "subtitles"
		if track.Auto {
			source = "auto_captions"
		}
		return &store.Transcript{VideoKey: j.VideoKey, Language: j.AudioLanguage, Source: source,
			Segments: toStoreSegments(segs, 0), Duration: transcriptDuration(v.Duration, segs)}, nil
	}
	if err != nil && !errors.Is(err, media.ErrNoSubtitles) {
		return nil, mediaError(err)
	}
	if w.cfg.Transcriber == nil {
		return nil, permanent(CodeNoTranscript, "this video has no subtitles"+langNote(j.AudioLanguage)+
			" and no speech-to-text service is configured: set STT_BASE_URL (and STT_API_KEY) on the worker, or choose a video with subtitles", nil)
	}
	return w.speechToText(ctx, j, v)
}

func langNote(lang string) string {
	if lang == "" {
		return ""
	}
	return " in " + lang
}

func transcriptDuration(known float64, segs []media.Segment) float64 {
	if known > 0 {
		return known
	}
	if len(segs) == 0 {
		return 0
	}
	return segs[len(segs)-1].End
}

func toStoreSegments(segs []media.Segment, offset float64) []store.Segment {
	out := make([]store.Segment, 0, len(segs))
	for _, s := range segs {
		out = append(out, store.Segment{Start: s.Start + offset, End: s.End + offset, Text: s.Text})
	}
	return out
}

// summary summarizes the transcript (once per transcript, prompt, model
// and output language), or answers the job's question, or describes its
// images, streaming the text to the job's followers.
func (w *Worker) summary(ctx context.Context, j *store.Job) error {
	sum := w.summarizer(j.Model)
	model := w.summaryModel(j)
	deltas := &deltaPublisher{publish: func(text string) { w.publish(ctx, j.ID, Event{Type: EventDelta, Text: text}) }}
	defer deltas.flush()
	onDelta := deltas.add
	if j.TranscriptID == nil { // images only
		res, err := sum.Summarize(ctx, summarize.Request{Prompt: j.Prompt, Model: model, OutputLanguage: j.OutputLanguage, Images: j.Images}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		return w.succeed(ctx, j, nil, resultOf(res, model, false))
	}
	t, err := w.cfg.Store.Transcript(ctx, *j.TranscriptID)
	if err != nil {
		return err
	}
	segs := toSummarizeSegments(t.Segments)
	if j.Kind == "answer" {
		hist := make([]summarize.Message, 0, len(j.History))
		for _, m := range j.History {
			hist = append(hist, summarize.Message{Role: m.Role, Content: m.Content})
		}
		res, err := sum.Answer(ctx, summarize.Question{Title: j.Title, Segments: segs, History: hist, Question: j.Prompt,
			Model: model, OutputLanguage: j.OutputLanguage}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		return w.succeed(ctx, j, nil, resultOf(res, model, false))
	}
	hash := PromptHash(j.Prompt, j.Images)
	var sm *store.Summary
	cached := false
	err = w.cfg.Store.WithLock(ctx, fmt.Sprintf("summary:%d:%s:%s:%s", t.ID, hash, model, j.OutputLanguage), func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			sm, err = w.cfg.Store.FindSummary(ctx, t.ID, hash, model, j.OutputLanguage)
			if err == nil {
				cached = true
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		w.publish(ctx, j.ID, Event{Type: EventProgress, Message: "Summarizing…"})
		res, err := sum.Summarize(ctx, summarize.Request{Title: j.Title, Duration: t.Duration, Segments: segs, Prompt: j.Prompt,
			Model: model, OutputLanguage: j.OutputLanguage, Images: j.Images}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		sm = &store.Summary{TranscriptID: t.ID, PromptHash: hash, Model: model, OutputLanguage: j.OutputLanguage,
			Markdown: res.Markdown, Chapters: toStoreChapters(res.Chapters), PromptTokens: res.Usage.PromptTokens,
			CompletionTokens: res.Usage.CompletionTokens, Truncated: res.Truncated}
		return w.cfg.Store.SaveSummary(ctx, sm)
	})
	if err != nil {
		return err
	}
	r := &Result{Markdown: sm.Markdown, Model: sm.Model, PromptTokens: sm.PromptTokens, CompletionTokens: sm.CompletionTokens,
		Cached: cached, Truncated: sm.Truncated}
	for _, c := range sm.Chapters {
		r.Chapters = append(r.Chapters, Chapter(c))
	}
	return w.succeed(ctx, j, &sm.ID, r)
}

// deltaWindow is the longest a summary's text waits before it goes out.
// An LLM streams a token every few milliseconds; one event (a Redis round
// trip) per token would make the stream the summary stage's main cost.
const deltaWindow = 40 * time.Millisecond

// deltaPublisher coalesces the LLM's text deltas into one event per
// deltaWindow, in order.
type deltaPublisher struct {
	publish func(text string)

	pubMu sync.Mutex // orders publishes: the timer's and flush's
	mu    sync.Mutex
	buf   strings.Builder
	timer *time.Timer
}

// add buffers text and makes sure it goes out within deltaWindow.
func (d *deltaPublisher) add(text string) {
	if text == "" {
		return
	}
	d.mu.Lock()
	d.buf.WriteString(text)
	if d.timer == nil {
		d.timer = time.AfterFunc(deltaWindow, d.flush)
	}
	d.mu.Unlock()
}

// flush publishes what is buffered now.
func (d *deltaPublisher) flush() {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	d.mu.Lock()
	text := d.buf.String()
	d.buf.Reset()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
	if text != "" {
		d.publish(text)
	}
}

func (w *Worker) succeed(ctx context.Context, j *store.Job, summaryID *int64, r *Result) error {
	o := store.Outcome{State: store.StateSucceeded, SummaryID: summaryID, ResultModel: r.Model,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens}
	if summaryID == nil {
		o.ResultMarkdown = r.Markdown
	}
	ok, err := w.cfg.Store.Finish(ctx, j.ID, o)
	if err != nil {
		return err
	}
	if ok {
		w.cfg.Metrics.JobFinished(store.StateSucceeded, "")
		w.publish(ctx, j.ID, Event{Type: EventResult, State: store.StateSucceeded, Result: r})
		if j.WebhookURL != "" {
			w.ended(ctx, j.ID)
		}
	}
	return nil
}

// summaryModel is the model name a job's summary is made and cached under.
func (w *Worker) summaryModel(j *store.Job) string {
	sum := w.summarizer(j.Model)
	if j.Model == "" || sum != w.cfg.LLM {
		return sum.Model()
	}
	return j.Model
}

// summarizer picks the model's implementation: the offline extractive
// summarizer when asked for by name or when no LLM is configured.
func (w *Worker) summarizer(model string) Summarizer {
	if w.cfg.LLM == nil || model == summarize.ExtractiveModel {
		return w.cfg.Extractive
	}
	return w.cfg.LLM
}

func resultOf(res *summarize.Result, model string, cached bool) *Result {
	r := &Result{Markdown: res.Markdown, Model: res.Model, PromptTokens: res.Usage.PromptTokens,
		CompletionTokens: res.Usage.CompletionTokens, Cached: cached, Truncated: res.Truncated}
	if r.Model == "" {
		r.Model = model
	}
	for _, c := range res.Chapters {
		r.Chapters = append(r.Chapters, Chapter{Start: c.Start, End: c.End, Title: c.Title})
	}
	return r
}

func toSummarizeSegments(segs []store.Segment) []summarize.Segment {
	out := make([]summarize.Segment, len(segs))
	for i, s := range segs {
		out[i] = summarize.Segment{Start: s.Start, End: s.End, Text: s.Text}
	}
	return out
}

func toStoreChapters(cs []summarize.Chapter) []store.Chapter {
	out := make([]store.Chapter, len(cs))
	for i, c := range cs {
		out[i] = store.Chapter{Start: c.Start, End: c.End, Title: c.Title}
	}
	return out
}

// PromptHash identifies a custom prompt (and images) for the summary cache.
func PromptHash(prompt string, images []string) string {
	h := sha256.New()
	h.Write([]byte(strings.TrimSpace(prompt)))
	for _, im := range images {
		h.Write([]byte{0})
		h.Write([]byte(im))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// mediaError classifies a media failure: what cannot succeed on retry is
// permanent, the rest is retried.
func mediaError(err error) error {
	// A site's refusal: its own code, message and retry rule (only a block
	// that may lift is retried, with asynq's backoff; its last attempt
	// records upstream_blocked).
	var ue *media.UpstreamError
	if errors.As(err, &ue) {
		if ue.Retry {
			return &Error{Code: string(ue.Code), Message: ue.Message(), Err: err}
		}
		return permanent(string(ue.Code), ue.Message(), err)
	}
	switch {
	case errors.Is(err, media.ErrURLNotAllowed):
		return permanent(CodeURLNotAllowed, "the video URL points at an address this server may not contact", err)
	case errors.Is(err, media.ErrUnsupported), errors.Is(err, media.ErrBadURL):
		return permanent(CodeUnsupported, "no video was found at this URL", err)
	case errors.Is(err, media.ErrUnavailable):
		return permanent(CodeUnavailable, "the video is unavailable (removed, private or blocked)", err)
	case errors.Is(err, media.ErrMediaTooLong):
		return permanent(CodeMediaTooLong, "the media is longer than this server accepts", err)
	case errors.Is(err, media.ErrLive):
		return permanent(CodeLive, "live streams cannot be summarized", err)
	case errors.Is(err, media.ErrTooLarge):
		return permanent(CodeTooLarge, "the media file is larger than this server accepts", err)
	case errors.Is(err, media.ErrUnconfinable):
		return permanent(CodeUnsupported, "the video is only offered in a form this server will not download "+
			"(RTMP, RTSP, or an HLS stream only ffmpeg can read, which is kept off the network); try another URL", err)
	}
	return &Error{Code: CodeUpstream, Message: "fetching the video failed: " + err.Error(), Err: err}
}

func llmError(err error) error {
	if errors.Is(err, summarize.ErrPermanent) {
		return permanent(CodeUpstream, "the language model refused the request: "+err.Error(), err)
	}
	return &Error{Code: CodeUpstream, Message: "the language model failed: " + err.Error(), Err: err}
}

func fmtDuration(sec float64) string {
	return (time.Duration(sec) * time.Second).String()
}
