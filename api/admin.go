package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// AdminConfig configures the operators' routes.
type AdminConfig struct {
	// Token guards every admin route, sent as "Authorization: Bearer <token>"
	// or as the password of HTTP basic auth (browsers). Empty: the admin
	// routes do not exist.
	Token string
	// Queues is the asynqmon UI, served under /admin/queues; nil leaves it out.
	Queues http.Handler
}

// adminJob is a job as operators see it: the client's view plus who owns
// it, its queue and its tasks in asynq.
type adminJob struct {
	recap.View
	AccountID int64            `json:"account_id"`
	APIKeyID  int64            `json:"api_key_id"`
	Kind      string           `json:"kind"`
	Queue     string           `json:"queue"`
	Tasks     []recap.TaskView `json:"tasks"`
}

func adminJobOf(j *core.AdminJob) adminJob {
	return adminJob{View: j.View, AccountID: j.AccountID, APIKeyID: j.APIKeyID, Kind: j.Kind, Queue: j.Queue, Tasks: j.Tasks}
}

var errAdminUnauthorized = &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_admin_token",
	Message: "This route needs the admin token: 'Authorization: Bearer <ADMIN_TOKEN>', or basic auth with it as the password."}

// MountAdmin adds the asynqmon UI at /admin/queues and the JSON admin API
// at /admin/api. Without a token it adds nothing: the routes answer 404.
func (s *Server) MountAdmin(cfg AdminConfig) {
	if cfg.Token == "" {
		return
	}
	want := sha256.Sum256([]byte(cfg.Token))
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				_, got, ok = r.BasicAuth()
			}
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="Recap admin", charset="UTF-8"`)
				s.writeError(w, r, errAdminUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	if cfg.Queues != nil {
		s.router.PathPrefix("/admin/queues").Handler(auth(cfg.Queues))
	}
	a := s.router.PathPrefix("/admin/api").Subrouter()
	a.Use(auth)
	a.HandleFunc("/jobs", s.handleAdminListJobs).Methods(http.MethodGet)
	a.HandleFunc("/jobs/{id}", s.handleAdminGetJob).Methods(http.MethodGet)
	a.HandleFunc("/jobs/{id}/retry", s.handleAdminRetry).Methods(http.MethodPost)
	a.HandleFunc("/jobs/{id}/cancel", s.handleAdminCancel).Methods(http.MethodPost)
}

func (s *Server) handleAdminListJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.AdminListRequest{State: q.Get("state"), Limit: 50, Cursor: q.Get("cursor")}
	if req.State != "" && !core.ValidState(req.State) {
		s.writeError(w, r, badRequest("invalid_state", "state", "'state' must be one of queued, resolving, transcribing, summarizing, succeeded, failed, canceled."))
		return
	}
	if a := q.Get("account_id"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n <= 0 {
			s.writeError(w, r, badRequest("invalid_account_id", "account_id", "'account_id' must be a positive integer."))
			return
		}
		req.AccountID = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, badRequest("invalid_limit", "limit", "'limit' must be an integer from 1 to 500."))
			return
		}
		req.Limit = n
	}
	p, err := s.core.AdminListJobs(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]adminJob, 0, len(p.Jobs))
	for i := range p.Jobs {
		data = append(data, adminJobOf(&p.Jobs[i]))
	}
	out := map[string]any{"object": "list", "data": data, "has_more": p.HasMore}
	if p.HasMore {
		out["next_cursor"] = p.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAdminGetJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.core.AdminJob(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminJobOf(j))
}

func (s *Server) handleAdminRetry(w http.ResponseWriter, r *http.Request) {
	res, err := s.core.AdminRetry(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	out := map[string]any{"action": res.Action, "job": adminJobOf(&res.Job)}
	if res.RetryOf != "" {
		status = http.StatusCreated
		out["retry_of"] = res.RetryOf
	}
	writeJSON(w, status, out)
}

func (s *Server) handleAdminCancel(w http.ResponseWriter, r *http.Request) {
	j, err := s.core.AdminCancel(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminJobOf(j))
}
