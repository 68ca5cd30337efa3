package jobs

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
	"github.com/recap/recap/textclean"
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
	ClaimVideo(ctx context.Context, v *store.Video, extractorKey, id string) (string, error)
	VideoAlias(ctx context.Context, key string) (string, error)
	SetVideoDuration(ctx context.Context, key string, d float64) error
	SaveTranscript(ctx context.Context, t *recap.Transcript) error
	LatestTranscript(ctx context.Context, videoKey, language string) (*recap.Transcript, error)
	LatestRangeTranscript(ctx context.Context, videoKey, language string, r recap.Range) (*recap.Transcript, error)
	Transcript(ctx context.Context, id int64) (*recap.Transcript, error)
	SaveChunk(ctx context.Context, videoKey, language string, r recap.Range, c store.Chunk) error
	Chunks(ctx context.Context, videoKey, language string, r recap.Range) (map[int]store.Chunk, error)
	DeleteChunks(ctx context.Context, videoKey, language string, r recap.Range) error
	FindSummary(ctx context.Context, transcriptID int64, promptHash, model, outputLanguage string) (*store.Summary, error)
	SaveGroundedSummary(ctx context.Context, sm *store.Summary, g store.SummaryGrounding) error
	Summary(ctx context.Context, id int64) (*store.Summary, error)
	StaleJobs(ctx context.Context, before time.Time, after store.StaleCursor, limit int) ([]recap.Job, error)
}

// Enqueuer puts tasks on the queue (*asynq.Client; jobstest.Queue in
// stage tests).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Publisher carries a job's events to its followers (*Events;
// jobstest.Events in stage tests).
type Publisher interface {
	Publish(ctx context.Context, jobID string, ev recap.Event) (string, error)
}

// Media resolves videos and fetches their subtitles and audio.
type Media interface {
	Resolve(ctx context.Context, url string) (*media.Info, error)
	Subtitles(ctx context.Context, url string, info *media.Info, lang string) ([]recap.Segment, media.SubtitleTrack, error)
	// DownloadAudio downloads the audio of the video info describes (info
	// may be nil: url is extracted again).
	DownloadAudio(ctx context.Context, url string, info *media.Info, dir string, progress func(float64)) (string, error)
	Probe(ctx context.Context, path string) (float64, error)
	// SplitAudio cuts the section of the audio a ranged job works on (the
	// zero Range: all of it) into chunks at their offsets in the file.
	SplitAudio(ctx context.Context, path, dir string, maxChunk float64, section recap.Range) ([]media.Chunk, error)
}

// Transcriber turns one audio file into timed segments.
type Transcriber interface {
	Transcribe(ctx context.Context, path, language string) ([]recap.Segment, error)
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
	// Frames makes the frames of jobs that ask for them; nil makes none.
	Frames FrameMaker
	// Transcriber is nil when no speech-to-text service is configured.
	Transcriber Transcriber
	// Files reads uploaded files; nil when no BLOB_URL is configured.
	Files Files
	// LLM is nil when no LLM is configured; Extractive then answers.
	LLM        Summarizer
	Extractive Summarizer
	Events     *Events
	// Publisher carries the stages' events; nil means Events.
	Publisher Publisher
	Asynq     Enqueuer
	Logger    *slog.Logger

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
	// ChainStages runs a job's next stage in the same slot as soon as a
	// stage finishes, instead of through the queue (see chain.go).
	ChainStages bool
	// StageConcurrency caps the concurrent runs of a stage (by task type)
	// in one worker pool; a missing or zero entry leaves it uncapped.
	StageConcurrency map[string]int
	// Slots caps each account's running stages across every worker
	// (MAX_ACTIVE_JOBS_PER_KEY, see fairness.go); nil caps nothing.
	Slots *AccountSlots
}

// Worker holds the stage handlers.
type Worker struct {
	cfg      WorkerConfig
	log      *slog.Logger
	q        queueing
	webhooks *http.Client
	// images fetches the images a job names, under the network policy.
	images *media.ImageFetcher
	// handlers are the stage handlers by task type, for chained runs.
	handlers map[string]asynq.Handler
	// markerSeen is set once the reconciler has seen its Redis marker
	// (see registerQueues).
	markerSeen atomic.Bool
	// running counts the stage handlers still running (see Drain).
	running sync.WaitGroup
}

// Drain waits until no stage handler of this worker is running, or ctx
// ends. A worker's shutdown calls it after asynq's and before it closes
// Redis and Postgres: asynq stops waiting for handlers after its shutdown
// timeout and puts back only the task it ran, but an interrupted chained
// stage has to put its own stage back on the queue (and refund its
// attempt), which needs both still open.
func (w *Worker) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		w.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewWorker returns the stage handlers.
func NewWorker(cfg WorkerConfig) *Worker {
	q := newQueueing(cfg.Asynq, cfg.QueuePrefix, cfg.Timeouts, cfg.MaxRetry)
	cfg.Timeouts, cfg.MaxRetry = q.timeouts, q.maxRetry
	if cfg.MaxMediaSeconds <= 0 {
		cfg.MaxMediaSeconds = 4 * 3600
	}
	if cfg.STTChunkSeconds <= 0 {
		cfg.STTChunkSeconds = 600
	}
	if cfg.STTConcurrency <= 0 {
		cfg.STTConcurrency = 4
	}
	if cfg.Publisher == nil && cfg.Events != nil {
		cfg.Publisher = cfg.Events
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
	policy := URLPolicy{AllowPrivate: cfg.AllowPrivateNetworks, Allow: cfg.AllowedNetworks}
	w := &Worker{cfg: cfg, log: cfg.Logger, q: q, webhooks: webhookClient(policy),
		images: media.NewImageFetcher(media.ImageFetcherConfig{Policy: policy})}
	w.handlers = map[string]asynq.Handler{TypeResolve: w.stage(&resolveTask, w.resolve),
		TypeTranscript: w.stage(&transcriptTask, w.transcript), TypeSummary: w.stage(&summaryTask, w.summary)}
	return w
}

// Mux returns an asynq handler serving every stage.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.chained, w.limit(), w.observe)
	for typ, h := range w.handlers {
		mux.Handle(typ, h)
	}
	mux.HandleFunc(TypeWebhook, w.deliverWebhook)
	return mux
}

// fail ends a job as failed and tells its followers, once. It reports
// whether this call ended the job. When the store is unreachable the job
// stays as it is and the reconciler fails it later.
func (w *Worker) fail(ctx context.Context, jobID string, je *Error) bool {
	ok, err := w.cfg.Store.Finish(ctx, jobID, store.Outcome{State: recap.StateFailed, ErrorCode: je.Code, ErrorMessage: textclean.String(je.Message)})
	if err != nil {
		w.logger(ctx, jobID).Error("finish failed job", "err", err)
		return false
	}
	if ok {
		w.cfg.Metrics.JobFinished(recap.StateFailed, je.Code)
		w.publish(ctx, jobID, recap.Event{Type: recap.EventError, State: recap.StateFailed, Error: &recap.ErrorInfo{Code: je.Code, Message: je.Message}})
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
	if err := enqueueWebhook(ctx, w.q, j); err != nil {
		w.logger(ctx, jobID).Error("ended job", "err", err)
	}
}

func (w *Worker) publish(ctx context.Context, jobID string, ev recap.Event) {
	if _, err := w.cfg.Publisher.Publish(context.WithoutCancel(ctx), jobID, ev); err != nil {
		w.logger(ctx, jobID).Warn("publish event", "err", err)
	}
}

// next hands a job over to its next stage: chained in this slot (see
// chain.go), or as a queued task.
func (w *Worker) next(ctx context.Context, j *recap.Job, t *task) error {
	if w.handOver(ctx, j, t) {
		return nil
	}
	return w.q.enqueue(ctx, j, t)
}
