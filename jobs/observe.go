package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/summarize"
)

// Outcomes of a stage run in recap_stage_duration_seconds.
const (
	outcomeOK     = "ok"
	outcomeRetry  = "retry"
	outcomeFailed = "failed"
)

// observe is asynq middleware timing every stage run by its outcome.
func (w *Worker) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if w.cfg.Metrics == nil || !isStage(t.Type()) {
			return next.ProcessTask(ctx, t)
		}
		start := time.Now()
		var set string
		err := next.ProcessTask(context.WithValue(ctx, outcomeKey{}, &set), t)
		if errors.Is(err, errAccountBusy) {
			return err // not a run: it waits for its account's slot (recap_account_slots_waiting_total)
		}
		outcome := outcomeOK
		switch {
		case set != "":
			outcome = set
		case errors.Is(err, asynq.SkipRetry):
			outcome = outcomeFailed
		case err != nil:
			outcome = outcomeRetry
		}
		w.cfg.Metrics.ObserveStage(t.Type(), outcome, time.Since(start))
		return err
	})
}

type outcomeKey struct{}

// setOutcome tells observe how a stage run ended when its error does not
// say: a failure recorded as the job's outcome returns nil to asynq (so it
// is not a queue failure) but is still a failed run in the metrics.
func setOutcome(ctx context.Context, outcome string) {
	if p, ok := ctx.Value(outcomeKey{}).(*string); ok {
		*p = outcome
	}
}

// limit is asynq middleware capping how many runs of each stage this
// worker pool does at once (WorkerConfig.StageConcurrency). A capped run
// waits for a slot; its time-out keeps running while it waits. Each call
// makes new slots, so every pool (Mux) has its own.
func (w *Worker) limit() asynq.MiddlewareFunc {
	slots := map[string]chan struct{}{}
	for typ, n := range w.cfg.StageConcurrency {
		if n > 0 {
			slots[typ] = make(chan struct{}, n)
		}
	}
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			sem := slots[t.Type()]
			if sem == nil {
				return next.ProcessTask(ctx, t)
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-sem }()
			return next.ProcessTask(ctx, t)
		})
	}
}

// Tools in recap_media_failures_total.
const (
	toolYtDlp  = "yt-dlp"
	toolFFmpeg = "ffmpeg"
)

// observedMedia counts failed yt-dlp and ffmpeg runs by cause. A missing
// subtitle track is an answer, not a failure, and a canceled job's
// interrupted run is not counted either.
type observedMedia struct {
	Media
	m *metrics.Metrics
}

func (o observedMedia) fail(ctx context.Context, tool string, err error) {
	if err == nil || errors.Is(err, media.ErrNoSubtitles) || (errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return
	}
	o.m.MediaFailure(tool, mediaCause(err))
	var ue *media.UpstreamError
	if errors.As(err, &ue) {
		site := ue.Site
		if site == "" {
			site = "unknown"
		}
		o.m.UpstreamFailure(site, string(ue.Code))
	}
}

func (o observedMedia) Resolve(ctx context.Context, url string) (*media.Info, error) {
	info, err := o.Media.Resolve(ctx, url)
	o.fail(ctx, toolYtDlp, err)
	return info, err
}

func (o observedMedia) Subtitles(ctx context.Context, url string, info *media.Info, lang string) ([]recap.Segment, media.SubtitleTrack, error) {
	segs, tr, err := o.Media.Subtitles(ctx, url, info, lang)
	o.fail(ctx, toolYtDlp, err)
	return segs, tr, err
}

func (o observedMedia) DownloadAudio(ctx context.Context, url string, info *media.Info, dir string, progress func(float64)) (string, error) {
	p, err := o.Media.DownloadAudio(ctx, url, info, dir, progress)
	o.fail(ctx, toolYtDlp, err)
	return p, err
}

func (o observedMedia) Probe(ctx context.Context, path string) (float64, error) {
	d, err := o.Media.Probe(ctx, path)
	o.fail(ctx, toolFFmpeg, err)
	return d, err
}

func (o observedMedia) SplitAudio(ctx context.Context, path, dir string, maxChunk float64, section recap.Range) ([]media.Chunk, error) {
	cs, err := o.Media.SplitAudio(ctx, path, dir, maxChunk, section)
	o.fail(ctx, toolFFmpeg, err)
	return cs, err
}

// observedTranscriber counts the seconds of audio transcribed (the end of
// each chunk's last segment).
type observedTranscriber struct {
	Transcriber
	m *metrics.Metrics
}

func (o observedTranscriber) Transcribe(ctx context.Context, path, language string) ([]recap.Segment, error) {
	segs, err := o.Transcriber.Transcribe(ctx, path, language)
	if err == nil && len(segs) > 0 {
		o.m.AudioTranscribed(segs[len(segs)-1].End)
	}
	return segs, err
}

// observedSummarizer counts the tokens each summary and answer used.
type observedSummarizer struct {
	Summarizer
	m *metrics.Metrics
}

func (o observedSummarizer) Summarize(ctx context.Context, req summarize.Request, onDelta func(string)) (*summarize.Result, error) {
	res, err := o.Summarizer.Summarize(ctx, req, onDelta)
	o.tokens(res, req.Model)
	return res, err
}

func (o observedSummarizer) Answer(ctx context.Context, q summarize.Question, onDelta func(string)) (*summarize.Result, error) {
	res, err := o.Summarizer.Answer(ctx, q, onDelta)
	o.tokens(res, q.Model)
	return res, err
}

func (o observedSummarizer) tokens(res *summarize.Result, model string) {
	if res == nil {
		return
	}
	if res.Model != "" {
		model = res.Model
	}
	o.m.Tokens(model, res.Usage.PromptTokens, res.Usage.CompletionTokens)
}

// instrument wraps the worker's dependencies so they report to Metrics.
func (cfg *WorkerConfig) instrument() {
	m := cfg.Metrics
	if m == nil {
		return
	}
	if cfg.Media != nil {
		cfg.Media = observedMedia{cfg.Media, m}
	}
	if cfg.Transcriber != nil {
		cfg.Transcriber = observedTranscriber{cfg.Transcriber, m}
	}
	if cfg.LLM != nil {
		cfg.LLM = observedSummarizer{cfg.LLM, m}
	}
	if cfg.Extractive != nil {
		cfg.Extractive = observedSummarizer{cfg.Extractive, m}
	}
}

type logKey struct{}

// withLogger carries a stage's logger (with its job_id, video_key and
// stage) to the helpers the stage calls, so their lines carry them too.
func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// logger is the stage's logger, or one naming the job outside a stage.
func (w *Worker) logger(ctx context.Context, jobID string) *slog.Logger {
	if l, ok := ctx.Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return w.log.With("job_id", jobID)
}
