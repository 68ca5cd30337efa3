package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
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
	jobs.View
	AccountID int64           `json:"account_id"`
	APIKeyID  int64           `json:"api_key_id"`
	Kind      string          `json:"kind"`
	Queue     string          `json:"queue"`
	Tasks     []jobs.TaskView `json:"tasks"`
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

func (s *Server) adminView(r *http.Request, j *recap.Job) (adminJob, error) {
	v, err := s.core.View(r.Context(), j)
	if err != nil {
		return adminJob{}, err
	}
	aj := adminJob{View: v, AccountID: j.AccountID, APIKeyID: j.APIKeyID, Kind: j.Kind, Queue: j.Queue, Tasks: []jobs.TaskView{}}
	if !recap.Terminal(j.State) || j.WebhookURL != "" {
		tasks, err := s.cfg.Jobs.Tasks(j)
		if err != nil {
			return adminJob{}, err
		}
		if tasks != nil {
			aj.Tasks = tasks
		}
	}
	return aj, nil
}

func (s *Server) handleAdminListJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.JobFilter{State: q.Get("state"), Limit: 50}
	if f.State != "" && !core.ValidState(f.State) {
		s.writeError(w, r, badRequest("invalid_state", "state", "'state' must be one of queued, resolving, transcribing, summarizing, succeeded, failed, canceled."))
		return
	}
	if a := q.Get("account_id"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n <= 0 {
			s.writeError(w, r, badRequest("invalid_account_id", "account_id", "'account_id' must be a positive integer."))
			return
		}
		f.AccountID = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			s.writeError(w, r, badRequest("invalid_limit", "limit", "'limit' must be an integer from 1 to 500."))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		t, id, ok := core.DecodeCursor(c)
		if !ok {
			s.writeError(w, r, badRequest("invalid_cursor", "cursor", "'cursor' is not a cursor this API returned."))
			return
		}
		f.BeforeTime, f.BeforeID = &t, id
	}
	f.Limit++
	list, err := s.cfg.Store.ListJobs(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	more := len(list) == f.Limit
	if more {
		list = list[:f.Limit-1]
	}
	data := make([]adminJob, 0, len(list))
	for i := range list {
		aj, err := s.adminView(r, &list[i])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data = append(data, aj)
	}
	out := map[string]any{"object": "list", "data": data, "has_more": more}
	if more {
		out["next_cursor"] = core.EncodeCursor(&list[len(list)-1])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminJob(r *http.Request) (*recap.Job, error) {
	return s.cfg.Store.Job(r.Context(), mux.Vars(r)["id"])
}

func (s *Server) handleAdminGetJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.adminJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.adminView(r, j)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleAdminRetry(w http.ResponseWriter, r *http.Request) {
	j, err := s.adminJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	action, nj, err := s.cfg.Jobs.Retry(r.Context(), j)
	if errors.Is(err, jobs.ErrNotRetryable) {
		s.writeError(w, r, &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "not_retryable", Message: err.Error()})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("admin retry", "job_id", j.ID, "video_key", j.VideoKey, "action", action, "new_job_id", nj.ID)
	if nj, err = s.cfg.Store.Job(r.Context(), nj.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	aj, err := s.adminView(r, nj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	out := map[string]any{"action": action, "job": aj}
	if action == jobs.RetryResubmitted {
		status = http.StatusCreated
		out["retry_of"] = j.ID
	}
	writeJSON(w, status, out)
}

func (s *Server) handleAdminCancel(w http.ResponseWriter, r *http.Request) {
	j, err := s.adminJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ok, err := s.cfg.Jobs.Cancel(r.Context(), j)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !ok {
		s.writeError(w, r, &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "job_finished",
			Message: "The job already ended (" + j.State + ")."})
		return
	}
	s.log.Info("admin cancel", "job_id", j.ID, "video_key", j.VideoKey)
	if j, err = s.cfg.Store.Job(context.WithoutCancel(r.Context()), j.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.adminView(r, j)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
