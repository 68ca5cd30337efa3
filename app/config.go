// Package app reads Recap's configuration and wires its parts together.
// Both binaries (and the one-process dev mode) share it, so the API and
// the worker can never disagree on queue names, prefixes or defaults.
package app

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/recap/recap/media"
)

// Config is every setting, read once from the environment.
type Config struct {
	DatabaseURL string
	RedisURL    string
	ListenAddr  string
	// MetricsAddr is where the worker serves /metrics, /healthz and /readyz
	// (METRICS_ADDR, default :9090); the API serves them on ListenAddr.
	MetricsAddr string
	// PublicURL is the API's address as clients reach it (PUBLIC_URL, e.g.
	// https://recap.example.com): the OAuth2 issuer and the base of the
	// discovery documents' URLs. Empty: taken from each request's Host.
	PublicURL string

	LLMBaseURL       string
	LLMAPIKey        string
	LLMModel         string
	LLMModels        []string
	LLMConcurrency   int
	LLMContextTokens int

	STTBaseURL string
	STTAPIKey  string
	STTModel   string
	// STTResponseFormat is verbose_json or diarized_json (speakers).
	STTResponseFormat string
	STTChunkSeconds   float64
	STTConcurrency    int

	YtDlpPath   string
	FFmpegPath  string
	FFprobePath string
	TempDir     string
	// DownloadNetNS runs yt-dlp and ffmpeg in network namespaces of their
	// own (DOWNLOAD_NETNS: auto, on, off; see media.Isolation).
	DownloadNetNS media.Isolation
	// YtDlpExtraArgs are operator flags for every yt-dlp run
	// (YTDLP_EXTRA_ARGS, checked against media's allow-list).
	YtDlpExtraArgs []string
	// CookiesDir holds operator cookie files per site (COOKIES_DIR).
	CookiesDir string
	// JSRuntime is yt-dlp's JavaScript runtime (JS_RUNTIME): "auto"
	// (default: deno, node, quickjs or bun from PATH), "none", "<name>" or
	// "<name>:<path>" (see media.Config.JSRuntime).
	JSRuntime string
	// ExtractorMode is how the worker runs yt-dlp (EXTRACTOR_MODE): pool
	// (default; warm processes that imported yt_dlp once, see media.Pool)
	// or cli (the yt-dlp program for every run). A pool that cannot start
	// falls back to cli.
	ExtractorMode media.ExtractorMode
	// ExtractorPool is the most warm processes (EXTRACTOR_POOL; default
	// min(WORKER_CONCURRENCY + BATCH_CONCURRENCY, 2 × cores)).
	ExtractorPool int
	// ExtractorPython is the pool's interpreter (EXTRACTOR_PYTHON; default
	// the one yt-dlp's script names, else python3).
	ExtractorPython string
	// ExtractorTimeout bounds one request to the pool
	// (EXTRACTOR_TIMEOUT_SECONDS, default 300); its process is then
	// killed and replaced.
	ExtractorTimeout time.Duration
	// ExtractorMaxRequests and ExtractorMaxRSS recycle a warm process after
	// that many requests (EXTRACTOR_MAX_REQUESTS, default 500) or past that
	// resident memory (EXTRACTOR_MAX_RSS_MB, default 512).
	ExtractorMaxRequests int
	ExtractorMaxRSS      int64

	AllowPrivateNetworks bool
	MaxMediaSeconds      float64
	SyncWait             time.Duration
	// BlockedWait is how long a waiting request waits on a job its video
	// site refuses, from the first refusal (BLOCKED_WAIT_SECONDS).
	BlockedWait time.Duration
	// PricePer1KTokens is the credit seconds 1,000 model tokens cost in
	// requests without a video to transcribe (PRICE_PER_1K_TOKENS).
	PricePer1KTokens float64
	// ChainStages runs a job's next stage in the slot that finished the
	// last one instead of queueing it (CHAIN_STAGES, default on).
	ChainStages bool
	// Heartbeat is the keep-alive interval of event streams, and how long a
	// follower waits idle before it asks Postgres whether its job ended
	// (SSE_HEARTBEAT_SECONDS, default 15).
	Heartbeat             time.Duration
	PriceCachedTranscript bool
	WorkerConcurrency     int
	QueuePrefix           string
	LogFormat             string
	LogLevel              string
	WebhookSecret         string
	// MaxDownloadBytes stops a download past the size a maximum-length
	// media could have; default MAX_MEDIA_SECONDS × 160 KB/s.
	MaxDownloadBytes int64
	// RetryDelay, when set, replaces asynq's exponential backoff between
	// retries with a fixed delay (tests use it; RETRY_DELAY_MS).
	RetryDelay time.Duration
	// QueuePoll is how long an idle worker waits before looking at its
	// queues again (QUEUE_POLL_MS, default 20 ms; asynq's own default is
	// 1 s, paid again at every stage hand-off of a pipeline whose queues
	// just ran empty).
	QueuePoll time.Duration
	// KeyCacheTTL is how long an API key lookup is served from memory
	// (KEY_CACHE_SECONDS, default 60; 0 turns the cache off, e.g. behind
	// a transaction-pooling PgBouncer, where LISTEN hears nothing).
	KeyCacheTTL time.Duration
	// SummaryCacheTTL is how long a summary found for a cache hit is
	// served from memory (SUMMARY_CACHE_SECONDS, default 60; 0 turns it
	// off, as KEY_CACHE_SECONDS). A new summary of the video drops it when
	// it commits; every answer is still recorded as a job.
	SummaryCacheTTL time.Duration
	// WriteBehind is how long the job rows of cache hits answered from
	// memory gather before they are copied in together, after their
	// answers went out (CACHE_HIT_WRITE_BEHIND_MS, default 5; 0 writes
	// each row before its answer returns). A process killed outright
	// loses the rows of the last window: records of free answers already
	// given, never work or credit; a graceful stop writes them.
	WriteBehind time.Duration
	// SubscriptionMinInterval is the floor on a subscription's check
	// interval (SUBSCRIPTION_MIN_INTERVAL_SECONDS, default 300).
	SubscriptionMinInterval time.Duration
	// RateLimitRPM is the requests per minute of keys created without --rpm.
	RateLimitRPM int
	// MaxStreamsPerKey caps each key's concurrent streams across replicas
	// (MAX_STREAMS_PER_KEY, default 100; 0 = no cap).
	MaxStreamsPerKey int
	// MaxActiveJobsPerKey caps the stages one account (all of its keys)
	// runs at once across every worker (MAX_ACTIVE_JOBS_PER_KEY, default
	// 4; 0 = no cap). Keep it below WORKER_CONCURRENCY, so that one
	// account's stuck jobs never hold every slot, and the same on API and
	// worker processes (/me shows it).
	MaxActiveJobsPerKey int
	// HTTP bounds slow clients: HTTP_BODY_TIMEOUT_SECONDS (30),
	// HTTP_MIN_BODY_RATE bytes/s (1024), HTTP_IDLE_TIMEOUT_SECONDS (120).
	HTTP HTTPTimeouts

	// CORSOrigins are the browser origins allowed to call the API
	// (CORS_ORIGINS, comma list; "*" for any, without credentials).
	CORSOrigins []string
	// OAuthRegistrationsPerHour limits dynamic OAuth2 client registration
	// (POST /api/auth/register) per client address
	// (OAUTH_REGISTRATIONS_PER_HOUR, default 20; 0 turns it off).
	OAuthRegistrationsPerHour int
	// WebOAuthClientID is the public OAuth2 client the web page signs in
	// with (WEB_OAUTH_CLIENT_ID); empty hides the page's "Sign in".
	WebOAuthClientID string

	// AdminToken guards /admin (asynqmon and the admin API); empty turns
	// them off.
	AdminToken string
	// BatchConcurrency, when set, gives batch jobs a worker pool of their
	// own, so WorkerConcurrency slots always remain for interactive ones.
	BatchConcurrency int
	// ResolveConcurrency, TranscriptConcurrency and SummaryConcurrency cap
	// each stage's concurrent runs per pool; 0 = no cap of its own.
	ResolveConcurrency    int
	TranscriptConcurrency int
	SummaryConcurrency    int

	// DataDir is where Recap keeps files on this host (DATA_DIR, default
	// ./data); BlobURL defaults to file://<DataDir>/files.
	DataDir string
	// BlobURL is the bucket uploads are stored in (BLOB_URL): file://,
	// s3://, gs://, azblob:// (mem:// for tests). The API and the workers
	// must see the same bucket.
	BlobURL string
	// MaxUploadBytes caps one upload (MAX_UPLOAD_BYTES, default 2 GiB).
	MaxUploadBytes int64
	// FileTTL is how long uploads are kept (FILE_TTL_HOURS, default 168;
	// 0 keeps them until deleted).
	FileTTL time.Duration

	// Resilience: time-outs, retries, reconciler, shutdown, egress policy.
	Resilience
}

// DefaultMaxActiveJobsPerKey is MAX_ACTIVE_JOBS_PER_KEY's default: below
// WORKER_CONCURRENCY's default (10), so that one account cannot take every
// slot of a worker with its stuck jobs, and enough for one caller's
// pipeline to keep moving.
const DefaultMaxActiveJobsPerKey = 4

// Load reads the configuration through getenv (os.Getenv in main).
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	num := func(k string, def int) int {
		v := str(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a non-negative integer", k, v))
			return def
		}
		return n
	}
	positive := func(k string, def float64) float64 {
		v := str(k, "")
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number", k, v))
			return def
		}
		return f
	}
	flag := func(k string, def bool) bool {
		switch strings.ToLower(str(k, "")) {
		case "":
			return def
		case "1", "true", "yes", "on":
			return true
		case "0", "false", "no", "off":
			return false
		}
		errs = append(errs, fmt.Errorf("%s=%q: want 0 or 1", k, getenv(k)))
		return def
	}
	c := Config{
		DatabaseURL:           str("DATABASE_URL", ""),
		RedisURL:              str("REDIS_URL", ""),
		ListenAddr:            str("LISTEN_ADDR", ":8080"),
		MetricsAddr:           str("METRICS_ADDR", ":9090"),
		PublicURL:             strings.TrimRight(str("PUBLIC_URL", ""), "/"),
		LLMBaseURL:            str("LLM_BASE_URL", ""),
		LLMAPIKey:             str("LLM_API_KEY", ""),
		LLMModel:              str("LLM_MODEL", ""),
		LLMConcurrency:        num("LLM_CONCURRENCY", 4),
		LLMContextTokens:      num("LLM_CONTEXT_TOKENS", 12000),
		STTBaseURL:            str("STT_BASE_URL", ""),
		STTAPIKey:             str("STT_API_KEY", ""),
		STTModel:              str("STT_MODEL", "whisper-1"),
		STTResponseFormat:     str("STT_RESPONSE_FORMAT", media.STTVerboseJSON),
		STTChunkSeconds:       float64(num("STT_CHUNK_SECONDS", 600)),
		STTConcurrency:        num("STT_CONCURRENCY", 4),
		YtDlpPath:             str("YTDLP_PATH", ""),
		FFmpegPath:            str("FFMPEG_PATH", ""),
		FFprobePath:           str("FFPROBE_PATH", ""),
		TempDir:               str("TEMP_DIR", ""),
		AllowPrivateNetworks:  flag("ALLOW_PRIVATE_NETWORKS", false),
		MaxMediaSeconds:       float64(num("MAX_MEDIA_SECONDS", 4*3600)),
		SyncWait:              time.Duration(num("SYNC_WAIT_SECONDS", 600)) * time.Second,
		BlockedWait:           time.Duration(num("BLOCKED_WAIT_SECONDS", 30)) * time.Second,
		Heartbeat:             time.Duration(num("SSE_HEARTBEAT_SECONDS", 15)) * time.Second,
		PricePer1KTokens:      positive("PRICE_PER_1K_TOKENS", 2),
		ChainStages:           flag("CHAIN_STAGES", true),
		PriceCachedTranscript: flag("PRICE_CACHED_TRANSCRIPT", true),
		WorkerConcurrency:     num("WORKER_CONCURRENCY", 10),
		QueuePrefix:           str("QUEUE_PREFIX", ""),
		LogFormat:             str("LOG_FORMAT", "json"),
		LogLevel:              str("LOG_LEVEL", "info"),
		WebhookSecret:         str("WEBHOOK_SECRET", ""),
		RateLimitRPM:          num("RATE_LIMIT_RPM", 600),
		AdminToken:            str("ADMIN_TOKEN", ""),
		WebOAuthClientID:      str("WEB_OAUTH_CLIENT_ID", ""),
		BatchConcurrency:      num("BATCH_CONCURRENCY", 0),
		ResolveConcurrency:    num("RESOLVE_CONCURRENCY", 0),
		TranscriptConcurrency: num("TRANSCRIPT_CONCURRENCY", 0),
		SummaryConcurrency:    num("SUMMARY_CONCURRENCY", 0),
	}
	c.OAuthRegistrationsPerHour = num("OAUTH_REGISTRATIONS_PER_HOUR", 20)
	c.DataDir = str("DATA_DIR", "data")
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	c.BlobURL = str("BLOB_URL", "file://"+filepath.ToSlash(filepath.Join(c.DataDir, "files")))
	c.MaxUploadBytes = int64(num("MAX_UPLOAD_BYTES", 2<<30))
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = 2 << 30
	}
	c.FileTTL = time.Duration(num("FILE_TTL_HOURS", 168)) * time.Hour
	c.RetryDelay = time.Duration(num("RETRY_DELAY_MS", 0)) * time.Millisecond
	c.QueuePoll = time.Duration(num("QUEUE_POLL_MS", 20)) * time.Millisecond
	c.KeyCacheTTL = time.Duration(num("KEY_CACHE_SECONDS", 60)) * time.Second
	c.SummaryCacheTTL = time.Duration(num("SUMMARY_CACHE_SECONDS", 60)) * time.Second
	c.WriteBehind = time.Duration(num("CACHE_HIT_WRITE_BEHIND_MS", 5)) * time.Millisecond
	c.MaxStreamsPerKey = num("MAX_STREAMS_PER_KEY", 100)
	c.MaxActiveJobsPerKey = num("MAX_ACTIVE_JOBS_PER_KEY", DefaultMaxActiveJobsPerKey)
	if c.SubscriptionMinInterval = time.Duration(num("SUBSCRIPTION_MIN_INTERVAL_SECONDS", 300)) * time.Second; c.SubscriptionMinInterval < time.Second {
		errs = append(errs, errors.New("SUBSCRIPTION_MIN_INTERVAL_SECONDS must be 1 or more"))
	}
	c.HTTP = HTTPTimeouts{Body: time.Duration(num("HTTP_BODY_TIMEOUT_SECONDS", 30)) * time.Second,
		MinBodyRate: num("HTTP_MIN_BODY_RATE", DefaultMinBodyRate),
		Idle:        time.Duration(num("HTTP_IDLE_TIMEOUT_SECONDS", 120)) * time.Second}
	if c.KeyCacheTTL < 0 {
		errs = append(errs, errors.New("KEY_CACHE_SECONDS must be 0 (off) or more"))
	}
	if c.SummaryCacheTTL < 0 {
		errs = append(errs, errors.New("SUMMARY_CACHE_SECONDS must be 0 (off) or more"))
	}
	if c.WriteBehind < 0 || c.WriteBehind > time.Second {
		errs = append(errs, errors.New("CACHE_HIT_WRITE_BEHIND_MS must be from 0 (write before answering) to 1000"))
	}
	c.MaxDownloadBytes = int64(num("MAX_DOWNLOAD_BYTES", 0))
	if c.MaxDownloadBytes == 0 {
		c.MaxDownloadBytes = int64(c.MaxMediaSeconds) * 160 << 10
	}
	if iso, err := media.ParseIsolation(getenv("DOWNLOAD_NETNS")); err != nil {
		errs = append(errs, fmt.Errorf("DOWNLOAD_NETNS: %w", err))
	} else {
		c.DownloadNetNS = iso
	}
	if extra, err := media.ParseExtraArgs(getenv("YTDLP_EXTRA_ARGS")); err != nil {
		errs = append(errs, err)
	} else {
		c.YtDlpExtraArgs = extra
	}
	c.CookiesDir = str("COOKIES_DIR", "")
	c.JSRuntime = str("JS_RUNTIME", media.JSRuntimeAuto)
	if mode, err := media.ParseExtractorMode(getenv("EXTRACTOR_MODE")); err != nil {
		errs = append(errs, fmt.Errorf("EXTRACTOR_MODE: %w", err))
	} else {
		c.ExtractorMode = mode
	}
	c.ExtractorPool = num("EXTRACTOR_POOL", 0)
	c.ExtractorPython = str("EXTRACTOR_PYTHON", "")
	c.ExtractorTimeout = time.Duration(num("EXTRACTOR_TIMEOUT_SECONDS", 300)) * time.Second
	c.ExtractorMaxRequests = num("EXTRACTOR_MAX_REQUESTS", 500)
	c.ExtractorMaxRSS = int64(num("EXTRACTOR_MAX_RSS_MB", 512)) << 20
	res, resErrs := loadResilience(getenv)
	c.Resilience, errs = res, append(errs, resErrs...)
	for _, o := range strings.Split(str("CORS_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	for _, m := range strings.Split(str("LLM_MODELS", ""), ",") {
		if m = strings.TrimSpace(m); m != "" {
			c.LLMModels = append(c.LLMModels, m)
		}
	}
	if c.LLMBaseURL != "" && c.LLMModel == "" {
		errs = append(errs, errors.New("LLM_MODEL is required when LLM_BASE_URL is set (e.g. LLM_MODEL=gpt-4o-mini)"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("PUBLIC_URL=%q: want the API's absolute http(s) URL, without query or fragment (e.g. https://recap.example.com)", c.PublicURL))
		}
	}
	if c.STTResponseFormat != media.STTVerboseJSON && c.STTResponseFormat != media.STTDiarizedJSON {
		errs = append(errs, fmt.Errorf("STT_RESPONSE_FORMAT=%q: want verbose_json or diarized_json (speakers, e.g. with STT_MODEL=gpt-4o-transcribe-diarize)", c.STTResponseFormat))
	}
	if c.STTChunkSeconds < 30 {
		errs = append(errs, errors.New("STT_CHUNK_SECONDS must be at least 30"))
	}
	if c.LLMConcurrency == 0 {
		c.LLMConcurrency = 1
	}
	if c.STTConcurrency == 0 {
		c.STTConcurrency = 1
	}
	if c.RateLimitRPM == 0 {
		c.RateLimitRPM = 600
	}
	if c.WorkerConcurrency == 0 {
		c.WorkerConcurrency = 1
	}
	return c, errors.Join(errs...)
}

// RequireServices fails with one clear message naming what is missing.
func (c Config) RequireServices() error {
	var missing []string
	if c.DatabaseURL == "" {
		missing = append(missing, "DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/recap?sslmode=disable)")
	}
	if c.RedisURL == "" {
		missing = append(missing, "REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing configuration: %s (or run `go run ./cmd/api dev`, which needs neither)", strings.Join(missing, ", "))
	}
	return nil
}
