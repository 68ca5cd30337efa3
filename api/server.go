// Package api is Recap's HTTP door: the BibiGPT contract under /api/v1
// and OpenAI's under /v1 (chat completions, Responses, models, files,
// audio transcriptions), the jobs, batches, playlists, transcripts,
// chapters and frames routes, credits and keys, OAuth2 sign-in,
// authentication, scopes and rate limits, and the relay of job events as
// JSON or Server-Sent Events. It parses, calls one use case, and writes.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/metrics"
)

// Config configures the server.
type Config struct {
	// Core carries out every request's use case.
	Core   *core.Service
	Logger *slog.Logger
	// Heartbeat is the SSE keep-alive interval (default 15s).
	Heartbeat time.Duration
	// Limiter rate-limits each key's requests; nil means no limits.
	Limiter *RateLimiter
	// OAuth sets the OAuth2 token lifetimes.
	OAuth OAuthConfig
	// Metrics records every request by route; nil records nothing.
	Metrics *metrics.Metrics
	// CORS lets browser pages of other origins call the API; the zero
	// value turns it off.
	CORS CORSConfig
	// MCP, when set, is served at /mcp behind the same authentication.
	MCP http.Handler
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	core   *core.Service
	log    *slog.Logger
	router *mux.Router
	cors   *cors
	// mcp is the MCP door behind authentication, rate limit and body
	// limit; LimitStreams wraps it with the stream limit.
	mcp http.Handler
}

// New returns the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	s := &Server{cfg: cfg, core: cfg.Core, log: cfg.Logger, router: mux.NewRouter(), cors: newCORS(cfg.CORS)}
	s.routes()
	return s
}

// Router exposes the router so cmd/api can mount more (admin, metrics).
func (s *Server) Router() *mux.Router { return s.router }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cors.handle(w, r, s.router) {
		return
	}
	if s.cfg.Metrics != nil {
		s.serveObserved(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// BasePaths are the prefixes the API is served under: BibiGPT's and the
// one OpenAI clients configured with a base URL ending in /v1 use.
var BasePaths = []string{"/api/v1", "/v1"}

// canonicalPath names a route by its /api/v1 form, whichever prefix the
// request used, so both forms are one route (for idempotency digests).
func canonicalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/v1/"); ok {
		return "/api/v1/" + rest
	}
	return p
}

func (s *Server) routes() {
	// gorilla/mux reports a method mismatch inside one of several
	// subrouters as not found: the methods the path takes decide.
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.allowed(r)) > 0 {
			s.methodNotAllowed(w, r)
			return
		}
		s.writeError(w, r, errNoRoute(r))
	})
	s.router.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	s.router.Use(s.limitBody)
	s.router.HandleFunc("/api/auth/authorize", s.handleAuthorize).Methods(http.MethodGet, http.MethodPost)
	s.router.HandleFunc("/api/auth/token", s.handleToken).Methods(http.MethodPost)
	s.feedRoutes()
	for _, base := range BasePaths {
		v1 := s.router.PathPrefix(base).Subrouter()
		v1.Use(s.authenticate, s.rateLimit, s.requireScope)
		v1.HandleFunc("/me", s.handleMe).Methods(http.MethodGet)
		v1.HandleFunc("/chat/completions", s.handleChat).Methods(http.MethodPost)
		v1.HandleFunc("/responses", s.handleResponses).Methods(http.MethodPost)
		v1.HandleFunc("/models", s.handleModels).Methods(http.MethodGet)
		v1.HandleFunc("/models/{id:.+}", s.handleModel).Methods(http.MethodGet)
		v1.HandleFunc("/jobs", s.handleCreateJobs).Methods(http.MethodPost)
		v1.HandleFunc("/jobs", s.handleListJobs).Methods(http.MethodGet)
		v1.HandleFunc("/jobs/{id}", s.handleGetJob).Methods(http.MethodGet)
		v1.HandleFunc("/jobs/{id}", s.handleCancelJob).Methods(http.MethodDelete)
		v1.HandleFunc("/jobs/{id}/events", s.handleJobEvents).Methods(http.MethodGet)
		v1.HandleFunc("/batches/{id}", s.handleGetBatch).Methods(http.MethodGet)
		v1.HandleFunc("/jobs/{id}/chapters", s.handleChapters).Methods(http.MethodGet)
		v1.HandleFunc("/jobs/{id}/frames/{n}.jpg", s.handleFrame).Methods(http.MethodGet)
		v1.HandleFunc("/transcripts/{id}", s.handleTranscript).Methods(http.MethodGet)
		v1.HandleFunc("/files", s.handleCreateFile).Methods(http.MethodPost)
		v1.HandleFunc("/files", s.handleListFiles).Methods(http.MethodGet)
		v1.HandleFunc("/files/{id}", s.handleGetFile).Methods(http.MethodGet)
		v1.HandleFunc("/files/{id}", s.handleDeleteFile).Methods(http.MethodDelete)
		v1.HandleFunc("/audio/transcriptions", s.handleTranscription).Methods(http.MethodPost)
		s.subscriptionRoutes(v1)
	}
	if s.cfg.MCP != nil {
		s.mcp = s.cfg.MCP
		door := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.mcp.ServeHTTP(w, r) })
		s.router.Handle("/mcp", s.authenticate(s.rateLimit(s.readMCPBody(door)))).Methods(http.MethodGet, http.MethodPost, http.MethodDelete)
	}
}

// errNoRoute is the 404 of a path no route serves: it says where the API
// lives, for a client configured with the wrong base URL.
func errNoRoute(r *http.Request) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found",
		Message: fmt.Sprintf("No route for %s %s. The API is served under /api/v1 and /v1 (for example POST /v1/chat/completions, "+
			"POST /v1/responses, GET /v1/models); MCP clients connect to /mcp.", r.Method, truncate(r.URL.Path, 100))}
}

// allowed lists the methods the router serves r's path with.
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		rr := r.Clone(r.Context())
		rr.Method = m
		var match mux.RouteMatch
		if s.router.Match(rr, &match) && match.MatchErr == nil {
			out = append(out, m)
		}
	}
	return out
}

// methodNotAllowed answers a known route asked with a wrong method: 405
// with the methods it takes in Allow.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allow := s.allowed(r)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, kindError(core.KindMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; use %s.", r.Method, truncate(r.URL.Path, 100), strings.Join(allow, " or "))))
}

type ctxKey int

const keyCtx ctxKey = 1

// CallerOf returns the key a request was authenticated with (nil before
// authentication), for doors mounted behind the API's authentication.
func CallerOf(r *http.Request) *recap.Caller { return caller(r) }

// caller returns the authenticated key of a request.
func caller(r *http.Request) *recap.Caller {
	k, _ := r.Context().Value(keyCtx).(*recap.Caller)
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
		k, err := s.core.Authenticate(r.Context(), secret)
		if err != nil {
			if ce := core.As(err); ce.Kind == core.KindUnauthorized {
				s.writeError(w, r, errUnauthorized)
				return
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx, k)))
	})
}
