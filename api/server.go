// Package api is Recap's HTTP front: the OpenAI-compatible chat
// completions and models routes of the BibiGPT contract, authentication,
// and the relay of job events as JSON or Server-Sent Events.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/metrics"
	"github.com/recap/recap/store"
)

// Store is what the API reads and writes directly.
type Store interface {
	KeyBySecret(ctx context.Context, secret string) (*store.APIKey, error)
	Balance(ctx context.Context, accountID int64) (*store.Balance, error)
	Job(ctx context.Context, id string) (*store.Job, error)
	AccountJob(ctx context.Context, accountID int64, id string) (*store.Job, error)
	ActiveJobByHash(ctx context.Context, accountID int64, hash string) (*store.Job, error)
	Summary(ctx context.Context, id int64) (*store.Summary, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error)
	Transcript(ctx context.Context, id int64) (*store.Transcript, error)
	CachedSummary(ctx context.Context, videoKey, language, promptHash, model, outputLanguage string) (*store.Summary, error)
	CreateJobFromCache(ctx context.Context, j *store.Job, promptHash string) (*store.Summary, error)

	// Credits, idempotency and OAuth2 (credits.go, idempotency.go, oauth.go).
	KeyByAccessToken(ctx context.Context, token string) (*store.APIKey, error)
	Idempotent(ctx context.Context, accountID int64, key string, requestHash []byte, ttl time.Duration,
		create func(ctx context.Context, tx *store.JobTx) ([]string, error)) ([]string, bool, error)
	AccountJobs(ctx context.Context, accountID int64, ids []string) ([]store.Job, error)
	OAuthStore
}

// Config configures the server.
type Config struct {
	Store  Store
	Jobs   *jobs.Client
	Logger *slog.Logger
	// AllowPrivateNetworks admits URLs of loopback/private hosts (dev, tests).
	AllowPrivateNetworks bool
	// AllowedNetworks are internal ranges admitted anyway (EGRESS_ALLOW),
	// matching what the worker's egress proxy lets through.
	AllowedNetworks []netip.Prefix
	// DefaultModel is the model "bibigpt" maps to (LLM_MODEL); empty means
	// the offline extractive summarizer.
	DefaultModel string
	// Models are further models offered as "bibigpt/<name>".
	Models []string
	// SyncWait bounds how long a non-stream completion waits (default 600s).
	SyncWait time.Duration
	// PricedWait bounds how long a stream waits for the job's price before
	// it sends headers (default 10s).
	PricedWait time.Duration
	// Heartbeat is the SSE keep-alive interval (default 15s).
	Heartbeat time.Duration
	// Limiter rate-limits each key's requests; nil means no limits.
	Limiter *RateLimiter
	// IdempotencyTTL is how long an Idempotency-Key is remembered (default 24h).
	IdempotencyTTL time.Duration
	// OAuth sets the OAuth2 token lifetimes.
	OAuth OAuthConfig
	// Metrics records every request by route; nil records nothing.
	Metrics *metrics.Metrics
	// Keys looks API keys up (a store.KeyCache); nil uses Store.
	Keys KeyLookup
}

// KeyLookup finds the key a bearer secret belongs to (store.ErrNotFound
// when none, or revoked).
type KeyLookup interface {
	KeyBySecret(ctx context.Context, secret string) (*store.APIKey, error)
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router *mux.Router
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SyncWait <= 0 {
		cfg.SyncWait = 600 * time.Second
	}
	if cfg.PricedWait <= 0 {
		cfg.PricedWait = 10 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	cfg.OAuth = cfg.OAuth.withDefaults()
	if cfg.Keys == nil {
		cfg.Keys = cfg.Store
	}
	s := &Server{cfg: cfg, log: cfg.Logger, router: mux.NewRouter()}
	s.routes()
	return s
}

// Router exposes the router so cmd/api can mount more (admin, metrics).
func (s *Server) Router() *mux.Router { return s.router }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics != nil {
		s.serveObserved(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

func (s *Server) routes() {
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errNotFound) })
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed", Message: "Method not allowed."})
	})
	s.router.HandleFunc("/api/auth/authorize", s.handleAuthorize).Methods(http.MethodGet, http.MethodPost)
	s.router.HandleFunc("/api/auth/token", s.handleToken).Methods(http.MethodPost)
	v1 := s.router.PathPrefix("/api/v1").Subrouter()
	v1.Use(s.authenticate, s.rateLimit, s.requireScope)
	v1.HandleFunc("/me", s.handleMe).Methods(http.MethodGet)
	v1.HandleFunc("/chat/completions", s.handleChat).Methods(http.MethodPost)
	v1.HandleFunc("/models", s.handleModels).Methods(http.MethodGet)
	v1.HandleFunc("/jobs", s.handleCreateJobs).Methods(http.MethodPost)
	v1.HandleFunc("/jobs", s.handleListJobs).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}", s.handleGetJob).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}", s.handleCancelJob).Methods(http.MethodDelete)
	v1.HandleFunc("/jobs/{id}/events", s.handleJobEvents).Methods(http.MethodGet)
	v1.HandleFunc("/transcripts/{id}", s.handleTranscript).Methods(http.MethodGet)
}

type ctxKey int

const keyCtx ctxKey = 1

// caller returns the authenticated key of a request.
func caller(r *http.Request) *store.APIKey {
	k, _ := r.Context().Value(keyCtx).(*store.APIKey)
	return k
}

// authenticate admits requests with an active API key or OAuth2 access
// token; every failure gets the same 401 body.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(h, "Bearer ")
		secret = strings.TrimSpace(secret)
		if !ok || secret == "" || len(secret) > 256 {
			s.writeError(w, r, errUnauthorized)
			return
		}
		var k *store.APIKey
		var err error
		if strings.HasPrefix(secret, store.AccessTokenPrefix) {
			k, err = s.cfg.Store.KeyByAccessToken(r.Context(), secret)
		} else {
			k, err = s.cfg.Keys.KeyBySecret(r.Context(), secret)
		}
		if err != nil {
			if err == store.ErrNotFound {
				s.writeError(w, r, errUnauthorized)
				return
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx, k)))
	})
}
