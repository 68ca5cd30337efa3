package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/recap/recap/api"
	"github.com/recap/recap/blob"
	"github.com/recap/recap/core"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/mcp"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
	"github.com/recap/recap/web"
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
	// Toolchain is what the worker found of yt-dlp and its JavaScript
	// runtime, once it has looked (nil before, and in an API process);
	// /readyz shows it.
	Toolchain atomic.Pointer[Toolchain]

	// The upload bucket (BLOB_URL), opened on first use (files.go).
	bucketOnce sync.Once
	bucket     *blob.Bucket
	bucketErr  error

	closers []func() error
}

// Connect opens Postgres (applying migrations) and Redis, failing fast
// with a clear message when either is unreachable.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Deps, error) {
	if err := cfg.RequireServices(); err != nil {
		return nil, err
	}
	// REDIS_URL is checked before anything opens: a typo fails at once.
	target, err := ParseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	st, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, MaxConns: int32(2*(cfg.WorkerConcurrency+cfg.BatchConcurrency) + 16),
		WriteBehind: cfg.WriteBehind, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	// Every streaming client holds a connection in XREAD BLOCK (per node
	// in a cluster).
	rdb := target.Client(1024)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pingRedis(pctx, target, rdb); err != nil {
		st.Close()
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable at %s: %w", target, err)
	}
	aopt := target.AsynqOpt()
	d := &Deps{Store: st, Redis: rdb, RedisOpt: aopt, Log: log, Metrics: metrics.New(),
		Asynq:     asynq.NewClient(aopt),
		Inspector: asynq.NewInspector(aopt),
		Events:    jobs.NewEvents(jobs.EventsConfig{Redis: rdb, Prefix: "recap:" + cfg.QueuePrefix}),
	}
	d.Jobs = jobs.NewClient(jobs.ClientConfig{Store: st, Asynq: d.Asynq, Events: d.Events, Inspector: d.Inspector, QueuePrefix: cfg.QueuePrefix,
		Timeouts: cfg.stageTimeouts(), MaxRetry: cfg.MaxRetry, Metrics: d.Metrics})
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

// runUntilClose runs a listening cache in the background until d.Close.
func (d *Deps) runUntilClose(run func(ctx context.Context, ready chan<- struct{})) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, nil)
	}()
	d.closers = append(d.closers, func() error {
		cancel()
		<-done
		return nil
	})
}

// NewAPI builds the HTTP API.
func NewAPI(cfg Config, d *Deps) *api.Server {
	// Key lookups and cache hits' summaries are served from memory while a
	// LISTEN connection hears of every change to them (store.KeyCache,
	// store.SummaryCache); they stop with d.Close.
	var keys core.KeyLookup = d.Store
	if cfg.KeyCacheTTL > 0 {
		kc := store.NewKeyCache(store.KeyCacheConfig{Store: d.Store, TTL: cfg.KeyCacheTTL, Logger: d.Log})
		d.runUntilClose(kc.Run)
		keys = kc
	}
	var hits core.CacheHits = d.Store
	d.Metrics.WatchRowsBehind(func() (uint64, uint64, uint64) {
		st := d.Store.WriteBehindStats()
		return st.Pending, st.Refused, st.Lost
	})
	if cfg.SummaryCacheTTL > 0 {
		sc := store.NewSummaryCache(store.SummaryCacheConfig{Store: d.Store, TTL: cfg.SummaryCacheTTL, Logger: d.Log})
		d.runUntilClose(sc.Run)
		hits = sc
	}
	uc := core.New(core.Config{
		Store:         d.Store,
		Jobs:          d.Jobs,
		Hits:          hits,
		Policy:        core.Policy{AllowPrivate: cfg.AllowPrivateNetworks, Allow: cfg.EgressAllow},
		DefaultModel:  cfg.LLMModel,
		Models:        cfg.LLMModels,
		SyncWait:      cfg.SyncWait,
		BlockedWait:   cfg.BlockedWait,
		Files:         filesConfig(cfg, d),
		Metering:      core.Metering{PricePer1K: cfg.PricePer1KTokens, MaxTokens: cfg.LLMContextTokens * 5 / 4},
		Playlists:     d.Jobs,
		Subscriptions: subscriptionsConfig(cfg, d),
		Slots:         accountSlots(cfg, d),
		Admin:         d.Jobs,
		Auth:          d.Store,
		Keys:          keys,
		Logger:        d.Log,
	})
	startFilePurge(d, uc)
	s := api.New(api.Config{
		Core:      uc,
		Heartbeat: cfg.Heartbeat,
		Logger:    d.Log,
		Limiter:   api.NewRateLimiter(d.Redis, "recap:"+cfg.QueuePrefix, cfg.RateLimitRPM),
		OAuth:     api.OAuthConfig{RegistrationsPerHour: cfg.OAuthRegistrationsPerHour},
		Metrics:   d.Metrics,
		CORS:      api.CORSConfig{Origins: cfg.CORSOrigins},
		MCP:       mcp.Authenticated(mcp.New(mcp.Config{Core: uc, Logger: d.Log, Heartbeat: cfg.Heartbeat}), api.CallerOf),
	})
	s.LimitStreams(api.NewStreamLimiter(api.StreamLimiterConfig{Redis: d.Redis, Prefix: "recap:" + cfg.QueuePrefix, Max: cfg.MaxStreamsPerKey}))
	mountOps(cfg, d, s)
	web.Mount(s.Router(), web.New(web.Config{OAuthClientID: cfg.WebOAuthClientID}))
	return s
}

// workerParts is a built worker and what its shutdown must release.
type workerParts struct {
	srv    *asynq.Server
	w      *jobs.Worker
	media  *media.Client
	egress *media.Egress
	dir    *media.WorkDir
	// base is the parent context of every stage; cancel stops them all.
	base   context.Context
	cancel context.CancelFunc
}

func newWorker(cfg Config, d *Deps) (p *workerParts, err error) {
	p = &workerParts{}
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	// Every per-job directory lives in this worker's scratch directory; the
	// next worker removes it if this one is killed outright.
	if p.dir, err = media.ClaimWorkDir(cfg.TempDir); err != nil {
		return nil, err
	}
	// yt-dlp reaches the network only through the egress proxy, which checks
	// every address it connects to.
	p.egress, err = media.StartEgress(media.EgressConfig{
		Policy: media.NetPolicy{AllowPrivate: cfg.AllowPrivateNetworks, Allow: cfg.EgressAllow}, Logger: d.Log})
	if err != nil {
		return nil, err
	}
	p.media, err = media.New(media.Config{YtDlpPath: cfg.YtDlpPath, FFmpegPath: cfg.FFmpegPath, FFprobePath: cfg.FFprobePath,
		TempDir: p.dir.Path(), Egress: p.egress, MaxFileSize: cfg.MaxDownloadBytes,
		MaxDuration: time.Duration(cfg.MaxMediaSeconds) * time.Second, Isolation: cfg.DownloadNetNS, ExtraArgs: cfg.YtDlpExtraArgs, CookiesDir: cfg.CookiesDir, JSRuntime: cfg.JSRuntime, Logger: d.Log})
	if err != nil {
		return nil, err
	}
	startExtractor(cfg, d, p.media)
	// yt-dlp's version and JavaScript runtime for the log, /readyz and
	// recap_ytdlp_info (with warnings when either is missing or old), and
	// the operator cookies' expiry, read beside start-up rather than
	// delaying it.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.Toolchain.Store(checkToolchain(ctx, p.media, d))
		sites, err := p.media.Cookies()
		if err != nil {
			d.Log.Warn("media: operator cookies", "err", err)
		}
		for _, s := range sites {
			if !s.EarliestExpiry.IsZero() {
				d.Metrics.CookieExpiry(s.Site, s.EarliestExpiry)
			}
		}
	}()
	wc := jobs.WorkerConfig{
		Store: d.Store, Media: p.media, Frames: p.media, Events: d.Events, Asynq: d.Asynq, Logger: d.Log,
		Extractive:            summarize.NewExtractive(summarize.ExtractiveConfig{}),
		QueuePrefix:           cfg.QueuePrefix,
		ChainStages:           cfg.ChainStages,
		Timeouts:              cfg.stageTimeouts(),
		MaxRetry:              cfg.MaxRetry,
		MaxMediaSeconds:       cfg.MaxMediaSeconds,
		PriceCachedTranscript: cfg.PriceCachedTranscript,
		TempDir:               p.dir.Path(),
		STTChunkSeconds:       cfg.STTChunkSeconds,
		STTConcurrency:        cfg.STTConcurrency,
		WebhookSecret:         []byte(cfg.WebhookSecret),
		AllowPrivateNetworks:  cfg.AllowPrivateNetworks,
		AllowedNetworks:       cfg.EgressAllow,
		Metrics:               d.Metrics,
		StageConcurrency: map[string]int{jobs.TypeResolve: cfg.ResolveConcurrency,
			jobs.TypeTranscript: cfg.TranscriptConcurrency, jobs.TypeSummary: cfg.SummaryConcurrency},
		Inspector:      d.Inspector,
		ReconcileGrace: cfg.ReconcileGrace,
		Slots:          accountSlots(cfg, d),
	}
	d.Metrics.AccountSlotsLimit(cfg.MaxActiveJobsPerKey)
	if n := cfg.MaxActiveJobsPerKey; n >= cfg.WorkerConcurrency {
		d.Log.Warn("MAX_ACTIVE_JOBS_PER_KEY is not below WORKER_CONCURRENCY: one account can fill this worker", "max_active_jobs_per_key", n,
			"worker_concurrency", cfg.WorkerConcurrency)
	}
	if cfg.LLMBaseURL != "" {
		wc.LLM = summarize.New(summarize.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel,
			Concurrency: cfg.LLMConcurrency, ContextTokens: cfg.LLMContextTokens,
			HTTPClient: &http.Client{Transport: d.Metrics.Transport(metrics.ServiceLLM, nil)}})
	}
	if cfg.STTBaseURL != "" {
		wc.Transcriber = media.NewTranscriber(media.TranscriberConfig{BaseURL: cfg.STTBaseURL, APIKey: cfg.STTAPIKey, Model: cfg.STTModel,
			ResponseFormat: cfg.STTResponseFormat, FFmpegPath: cfg.FFmpegPath, HTTPClient: &http.Client{Transport: d.Metrics.Transport(metrics.ServiceSTT, nil)}})
	}
	if wc.Files, err = workerFiles(cfg, d); err != nil {
		return nil, err
	}
	p.w = jobs.NewWorker(wc)
	// Stage contexts derive from base: cancelling it after the shutdown
	// time-out stops whatever asynq has already put back in the queue.
	p.base, p.cancel = context.WithCancel(context.Background())
	p.srv = newServer(cfg, d, p.w, cfg.WorkerConcurrency, mainQueues(cfg), p.base)
	return p, nil
}

// accountSlots is the cap on each account's running stages
// (MAX_ACTIVE_JOBS_PER_KEY), shared by every worker and read by the API.
func accountSlots(cfg Config, d *Deps) *jobs.AccountSlots {
	return jobs.NewAccountSlots(jobs.AccountSlotsConfig{Redis: d.Redis, Prefix: "recap:" + cfg.QueuePrefix, Max: cfg.MaxActiveJobsPerKey})
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

// newServer makes an asynq server for w's stages, with w's retry and
// interrupt rules (jobs.Worker.ServerConfig).
func newServer(cfg Config, d *Deps, w *jobs.Worker, concurrency int, queues map[string]int, base context.Context) *asynq.Server {
	acfg := asynq.Config{
		Concurrency:     concurrency,
		Queues:          queues,
		ShutdownTimeout: cfg.ShutdownTimeout,
		BaseContext:     func() context.Context { return base },
		Logger:          asynqLogger{d.Log},
		LogLevel:        asynq.WarnLevel,
		// asynq polls its queues (no blocking pop); it sleeps
		// QueuePoll/2..3×QueuePoll/2 whenever they are all empty.
		TaskCheckInterval: cfg.QueuePoll,
	}
	if cfg.RetryDelay > 0 {
		delay := cfg.RetryDelay
		acfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return delay }
		// Retries wait in a sorted set that asynq polls every 5s by default.
		acfg.DelayedTaskCheckInterval = min(5*time.Second, max(delay, 50*time.Millisecond))
	}
	return asynq.NewServer(d.RedisOpt, w.ServerConfig(acfg))
}

// release frees what newWorker built, in reverse order, after the asynq
// servers have stopped.
func (p *workerParts) release() {
	if p.cancel != nil {
		p.cancel()
	}
	if p.w != nil {
		// Stages still running past asynq's shutdown (a chained stage)
		// were interrupted just now; each puts its stage back on the queue
		// as it ends, which needs Redis and Postgres: wait for them before
		// the caller closes those (see jobs.Worker.Drain).
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		_ = p.w.Drain(ctx) // past the bound, the reconciler requeues their jobs
		cancel()
	}
	if p.media != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_ = p.media.Close(ctx)
		cancel()
	}
	if p.egress != nil {
		_ = p.egress.Close()
	}
	if p.dir != nil {
		_ = p.dir.Close()
	}
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
	parts *workerParts
	// Worker is the stage handlers.
	Worker *jobs.Worker

	stopReconciler context.CancelFunc
	reconcilerDone chan struct{}
	stopScheduler  func()
	stopOnce       sync.Once
}

// drainTimeout bounds how long a stopping worker waits for its
// interrupted stages to put themselves back on the queue.
const drainTimeout = 10 * time.Second

// StartWorker builds and starts a worker and its reconciler; Stop shuts
// it down gracefully.
func StartWorker(cfg Config, d *Deps) (*WorkerHandle, error) {
	p, err := newWorker(cfg, d)
	if err != nil {
		return nil, err
	}
	mux := p.w.Mux()
	mux.Handle(jobs.TypePlaylist, jobs.PlaylistHandler(p.media, d.Events, d.Log)) // the jobs API's playlists (interactive queue)
	mux.Handle(jobs.TypeSubscriptionsCheck, jobs.SubscriptionsHandler(subscriptionChecker(cfg, d, p.media), d.Log))
	if err := p.srv.Start(mux); err != nil {
		p.release()
		return nil, err
	}
	h := &WorkerHandle{srv: p.srv, parts: p, Worker: p.w}
	if h.stopScheduler, err = startSubscriptionScheduler(cfg, d); err != nil {
		p.srv.Shutdown()
		p.release()
		return nil, err
	}
	if cfg.BatchConcurrency > 0 {
		// Its own Mux gives the batch pool its own stage caps too.
		h.batch = newServer(cfg, d, p.w, cfg.BatchConcurrency, map[string]int{cfg.QueuePrefix + jobs.QueueBatch: 1}, p.base)
		if err := h.batch.Start(p.w.Mux()); err != nil {
			p.srv.Shutdown()
			p.release()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stopReconciler, h.reconcilerDone = cancel, make(chan struct{})
	go func() {
		defer close(h.reconcilerDone)
		p.w.RunReconciler(ctx, cfg.ReconcileInterval)
	}()
	return h, nil
}

// Stop stops taking tasks, lets running stages finish for up to the
// shutdown time-out, puts the rest back in the queue, then kills whatever
// subprocess is left and waits for it, so nothing outlives the worker.
// It is safe to call more than once.
func (h *WorkerHandle) Stop() {
	h.stopOnce.Do(func() {
		h.stopScheduler()
		h.stopReconciler()
		<-h.reconcilerDone
		var wg sync.WaitGroup
		for _, srv := range []*asynq.Server{h.srv, h.batch} {
			if srv == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.Shutdown()
			}()
		}
		wg.Wait()
		h.parts.release()
	})
}
