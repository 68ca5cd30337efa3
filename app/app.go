package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap/api"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// NewLogger builds the process logger: JSON unless LOG_FORMAT=text.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Deps are the connections both binaries share.
type Deps struct {
	Store     *store.Store
	Redis     redis.UniversalClient
	RedisOpt  asynq.RedisConnOpt
	Asynq     *asynq.Client
	Inspector *asynq.Inspector
	Events    *jobs.Events
	Jobs      *jobs.Client
	Log       *slog.Logger
	// Metrics is this process's Prometheus series (served at /metrics).
	Metrics *metrics.Metrics

	closers []func() error
}

// Connect opens Postgres (applying migrations) and Redis, failing fast
// with a clear message when either is unreachable.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Deps, error) {
	if err := cfg.RequireServices(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, MaxConns: int32(2*cfg.WorkerConcurrency + 16)})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Every streaming client holds a connection in XREAD BLOCK.
	ropt.PoolSize = 1024
	rdb := redis.NewClient(ropt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		st.Close()
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable at %s: %w", ropt.Addr, err)
	}
	aopt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		st.Close()
		rdb.Close()
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	d := &Deps{Store: st, Redis: rdb, RedisOpt: aopt, Log: log, Metrics: metrics.New(),
		Asynq:     asynq.NewClient(aopt),
		Inspector: asynq.NewInspector(aopt),
		Events:    jobs.NewEvents(jobs.EventsConfig{Redis: rdb, Prefix: "recap:" + cfg.QueuePrefix}),
	}
	d.Jobs = jobs.NewClient(jobs.ClientConfig{Store: st, Asynq: d.Asynq, Events: d.Events, Inspector: d.Inspector, QueuePrefix: cfg.QueuePrefix,
		Metrics: d.Metrics})
	watch(cfg, d)
	return d, nil
}

// Close releases every connection.
func (d *Deps) Close() {
	for _, c := range d.closers {
		c() //nolint:errcheck
	}
	d.Asynq.Close()
	d.Inspector.Close()
	d.Redis.Close()
	d.Store.Close()
}

// NewAPI builds the HTTP API.
func NewAPI(cfg Config, d *Deps) *api.Server {
	s := api.New(api.Config{
		Store:                d.Store,
		Jobs:                 d.Jobs,
		Logger:               d.Log,
		AllowPrivateNetworks: cfg.AllowPrivateNetworks,
		DefaultModel:         cfg.LLMModel,
		Models:               cfg.LLMModels,
		SyncWait:             cfg.SyncWait,
		Limiter:              api.NewRateLimiter(d.Redis, "recap:"+cfg.QueuePrefix, cfg.RateLimitRPM),
		Metrics:              d.Metrics,
	})
	mountOps(cfg, d, s)
	return s
}

// NewWorker builds the asynq server and its stage handlers.
func NewWorker(cfg Config, d *Deps) (*asynq.Server, *jobs.Worker, error) {
	m, err := media.New(media.Config{YtDlpPath: cfg.YtDlpPath, FFmpegPath: cfg.FFmpegPath, FFprobePath: cfg.FFprobePath,
		TempDir: cfg.TempDir, MaxFileSize: cfg.MaxDownloadBytes, MaxDuration: time.Duration(cfg.MaxMediaSeconds) * time.Second, Logger: d.Log})
	if err != nil {
		return nil, nil, err
	}
	wc := jobs.WorkerConfig{
		Store: d.Store, Media: m, Events: d.Events, Asynq: d.Asynq, Logger: d.Log,
		Extractive:            summarize.NewExtractive(summarize.ExtractiveConfig{}),
		QueuePrefix:           cfg.QueuePrefix,
		MaxMediaSeconds:       cfg.MaxMediaSeconds,
		PriceCachedTranscript: cfg.PriceCachedTranscript,
		TempDir:               cfg.TempDir,
		STTChunkSeconds:       cfg.STTChunkSeconds,
		STTConcurrency:        cfg.STTConcurrency,
		WebhookSecret:         []byte(cfg.WebhookSecret),
		AllowPrivateNetworks:  cfg.AllowPrivateNetworks,
		Metrics:               d.Metrics,
		StageConcurrency: map[string]int{jobs.TypeResolve: cfg.ResolveConcurrency,
			jobs.TypeTranscript: cfg.TranscriptConcurrency, jobs.TypeSummary: cfg.SummaryConcurrency},
	}
	if cfg.LLMBaseURL != "" {
		wc.LLM = summarize.New(summarize.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel,
			Concurrency: cfg.LLMConcurrency, ContextTokens: cfg.LLMContextTokens,
			HTTPClient: &http.Client{Transport: d.Metrics.Transport(metrics.ServiceLLM, nil)}})
	}
	if cfg.STTBaseURL != "" {
		wc.Transcriber = media.NewTranscriber(media.TranscriberConfig{BaseURL: cfg.STTBaseURL, APIKey: cfg.STTAPIKey, Model: cfg.STTModel,
			HTTPClient: &http.Client{Transport: d.Metrics.Transport(metrics.ServiceSTT, nil)}})
	}
	w := jobs.NewWorker(wc)
	return newServer(cfg, d, cfg.WorkerConcurrency, mainQueues(cfg)), w, nil
}

// mainQueues are the queues of the main worker pool: all of them, weighed,
// unless batch jobs have a pool of their own (BATCH_CONCURRENCY).
func mainQueues(cfg Config) map[string]int {
	q := jobs.Queues(cfg.QueuePrefix)
	if cfg.BatchConcurrency > 0 {
		delete(q, cfg.QueuePrefix+jobs.QueueBatch)
	}
	return q
}

func newServer(cfg Config, d *Deps, concurrency int, queues map[string]int) *asynq.Server {
	acfg := asynq.Config{
		Concurrency:     concurrency,
		Queues:          queues,
		ShutdownTimeout: 30 * time.Second,
		Logger:          asynqLogger{d.Log},
		LogLevel:        asynq.WarnLevel,
	}
	if cfg.RetryDelay > 0 {
		acfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return cfg.RetryDelay }
	}
	return asynq.NewServer(d.RedisOpt, acfg)
}

// asynqLogger routes asynq's logs through slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// WorkerHandle is a started worker.
type WorkerHandle struct {
	srv *asynq.Server
	// batch is the batch pool when BATCH_CONCURRENCY gives it its own.
	batch *asynq.Server
	// Worker is the stage handlers.
	Worker *jobs.Worker
}

// StartWorker builds and starts a worker; Stop shuts it down gracefully.
func StartWorker(cfg Config, d *Deps) (*WorkerHandle, error) {
	srv, w, err := NewWorker(cfg, d)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(w.Mux()); err != nil {
		return nil, err
	}
	h := &WorkerHandle{srv: srv, Worker: w}
	if cfg.BatchConcurrency > 0 {
		// Its own Mux gives the batch pool its own stage caps too.
		h.batch = newServer(cfg, d, cfg.BatchConcurrency, map[string]int{cfg.QueuePrefix + jobs.QueueBatch: 1})
		if err := h.batch.Start(w.Mux()); err != nil {
			srv.Shutdown()
			return nil, err
		}
	}
	return h, nil
}

// Stop stops taking tasks and waits for running ones (up to the shutdown
// time-out, after which they go back to the queue).
func (h *WorkerHandle) Stop() {
	if h.batch != nil {
		h.batch.Shutdown()
	}
	h.srv.Shutdown()
}
