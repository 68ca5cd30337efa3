// Package core is Recap's use-case layer: every decision a request goes
// through, whatever door it came in by (HTTP chat completions, the
// Responses API, the jobs API, MCP, the web page). Doors parse their wire
// format into the typed requests here, make one call, and write the typed
// result or *Error in their own format; they hold no business rules.
//
// The decisions: which models exist, which URLs may be fetched (one
// network policy for videos, images and webhooks), the canonical video
// key, the summary cache, attaching a repeated request to its running job,
// balance checks before any work, idempotency, follow-up questions, job
// queries, cancellation and transcripts; authentication and OAuth2
// grants (oauth.go); the operators' actions (admin.go).
package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Store is the persistence the use cases need.
type Store interface {
	Balance(ctx context.Context, accountID int64) (*store.Balance, error)
	CreateJobs(ctx context.Context, list []*recap.Job) error
	AdmitJob(ctx context.Context, j *recap.Job, a store.Admission) error
	Job(ctx context.Context, id string) (*recap.Job, error)
	JobFrame(ctx context.Context, jobID string, n int) (*store.Frame, error)
	CreateBatch(ctx context.Context, b *store.Batch, list []*recap.Job) error
	AccountBatch(ctx context.Context, accountID int64, id string) (*store.Batch, error)
	AccountBatchOf(ctx context.Context, accountID int64, jobID string) (*store.Batch, error)
	AccountJob(ctx context.Context, accountID int64, id string) (*recap.Job, error)
	AccountJobs(ctx context.Context, accountID int64, ids []string) ([]recap.Job, error)
	ActiveJobByHash(ctx context.Context, accountID int64, hash string) (*recap.Job, error)
	Summary(ctx context.Context, id int64) (*store.Summary, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]recap.Job, error)
	Transcript(ctx context.Context, id int64) (*recap.Transcript, error)
	LatestTranscript(ctx context.Context, videoKey, language string) (*recap.Transcript, error)
	LatestRangeTranscript(ctx context.Context, videoKey, language string, r recap.Range) (*recap.Transcript, error)
	TranscriptLanguages(ctx context.Context, videoKey string) ([]string, error)
	Video(ctx context.Context, key string) (*store.Video, error)
	CachedSummary(ctx context.Context, videoKey, language string, r recap.Range, promptHash, model, outputLanguage string) (*store.Summary, error)
	CreateJobFromCache(ctx context.Context, j *recap.Job, promptHash string) (*store.Summary, error)
	Idempotent(ctx context.Context, accountID int64, key string, requestHash []byte, ttl time.Duration,
		create func(ctx context.Context, tx *store.JobTx) ([]string, error)) ([]string, bool, error)
}

// CacheHits answers and records cache hits (Store.CreateJobFromCache); a
// *store.SummaryCache answers them from memory.
type CacheHits interface {
	CreateJobFromCache(ctx context.Context, j *recap.Job, promptHash string) (*store.Summary, error)
}

// Slots is the cap on each account's running stages and their use (a
// *jobs.AccountSlots).
type Slots interface {
	Max() int
	Usage(ctx context.Context, accountID int64) (jobs.SlotUsage, error)
}

// Queue submits, starts and cancels jobs (a *jobs.Client).
type Queue interface {
	Submit(ctx context.Context, j *recap.Job) error
	Start(ctx context.Context, j *recap.Job) error
	StartAll(ctx context.Context, list []*recap.Job)
	Cancel(ctx context.Context, j *recap.Job) (bool, error)
	Refuse(ctx context.Context, list []*recap.Job, code, msg string)
	Events() *jobs.Events
}

// Config configures a Service.
type Config struct {
	Store Store
	Jobs  Queue
	// Hits answers cache hits; nil uses Store.
	Hits CacheHits
	// Policy decides which hosts Recap and its providers may fetch from:
	// videos, images and webhooks alike.
	Policy Policy
	// DefaultModel is the model "bibigpt" maps to (LLM_MODEL); empty means
	// the offline extractive summarizer.
	DefaultModel string
	// Models are further models offered as "bibigpt/<name>" (LLM_MODELS).
	Models []string
	// IdempotencyTTL is how long an Idempotency-Key is remembered (default 24h).
	IdempotencyTTL time.Duration
	// SyncWait bounds how long Wait waits for a job (default 600s).
	SyncWait time.Duration
	// PricedWait bounds how long AwaitStart waits for a job's price
	// (default 10s).
	PricedWait time.Duration
	// BlockedWait bounds how long a waiting caller (Wait, FollowStart)
	// waits on a job its video site refuses (retrying upstream_blocked),
	// from the first refusal: then it answers 503 upstream_blocked while
	// the job keeps retrying (BLOCKED_WAIT_SECONDS, default 30s).
	BlockedWait time.Duration
	// Files configures uploads (the Files API, file content parts,
	// transcriptions); the zero value turns them off.
	Files FilesConfig
	// Metering prices requests that call a model without a video to
	// transcribe: follow-up questions and questions about images.
	Metering Metering
	// Playlists lists playlists' entries for the jobs API (a
	// *jobs.Client: a worker runs yt-dlp); nil turns playlists off.
	Playlists Playlists
	// Subscriptions follows playlists, channels and feeds (subscriptions.go);
	// the zero value turns them off.
	Subscriptions SubscriptionsConfig
	// Slots reports the cap on an account's running stages
	// (MAX_ACTIVE_JOBS_PER_KEY); nil reports no cap.
	Slots Slots
	// Admin is the queue's side of the operators' actions (a
	// *jobs.Client); nil fails them.
	Admin AdminQueue
	// Auth holds API keys, OAuth2 clients, codes and tokens (oauth.go);
	// nil turns authentication and OAuth2 off.
	Auth AuthStore
	// Keys looks API keys up (a store.KeyCache); nil uses Auth.
	Keys KeyLookup
	// OAuth sets the OAuth2 lifetimes.
	OAuth OAuthConfig
	// Logger records the operators' actions and OAuth2 grants (default
	// slog.Default()).
	Logger *slog.Logger
}

// Service carries out the use cases.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	if cfg.SyncWait <= 0 {
		cfg.SyncWait = 600 * time.Second
	}
	if cfg.PricedWait <= 0 {
		cfg.PricedWait = 10 * time.Second
	}
	if cfg.BlockedWait <= 0 {
		cfg.BlockedWait = 30 * time.Second
	}
	cfg.Metering = cfg.Metering.withDefaults()
	cfg.OAuth = cfg.OAuth.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Keys == nil && cfg.Auth != nil {
		cfg.Keys = cfg.Auth
	}
	if cfg.Hits == nil {
		cfg.Hits = cfg.Store
	}
	return &Service{cfg: cfg}
}

// Events returns the job event streams doors relay.
func (s *Service) Events() *jobs.Events { return s.cfg.Jobs.Events() }

// Idempotency is a request's Idempotency-Key and what it stands for (a
// digest of the request as the door received it): the key used again for
// another request is refused.
type Idempotency struct {
	Key    string
	Digest []byte
}
