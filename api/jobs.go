package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// MaxBatchURLs bounds POST /api/v1/jobs.
const MaxBatchURLs = 1000

type createJobsRequest struct {
	URLs           []string `json:"urls"`
	Prompt         string   `json:"prompt"`
	Model          string   `json:"model"`
	AudioLanguage  string   `json:"audio_language"`
	OutputLanguage string   `json:"output_language"`
	WebhookURL     string   `json:"webhook_url"`
	Refresh        bool     `json:"refresh"`
}

func (s *Server) handleCreateJobs(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createJobsRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, r, badRequest("invalid_json", "", "The request body is not valid JSON: %v.", err))
		return
	}
	if len(req.URLs) == 0 || len(req.URLs) > MaxBatchURLs {
		s.writeError(w, r, badRequest("invalid_urls", "urls", "'urls' must hold 1 to %d URLs; it holds %d.", MaxBatchURLs, len(req.URLs)))
		return
	}
	if n := len([]rune(req.Prompt)); n > MaxPromptRunes {
		s.writeError(w, r, badRequest("prompt_too_long", "prompt", "The prompt is %d characters long; the limit is %d.", n, MaxPromptRunes))
		return
	}
	for _, f := range []struct{ name, v string }{{"audio_language", req.AudioLanguage}, {"output_language", req.OutputLanguage}} {
		if f.v != "" && f.v != "auto" && !langRE.MatchString(f.v) {
			s.writeError(w, r, badRequest("invalid_language", f.name, "'%s' must be a language code such as 'en' or 'zh-Hans'.", f.name))
			return
		}
	}
	model, err := s.resolveModel(strings.TrimSpace(req.Model))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if req.WebhookURL != "" {
		if err := checkURLSyntax(req.WebhookURL, "webhook_url", false); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := jobs.CheckURL(ctx, req.WebhookURL, s.cfg.AllowPrivateNetworks); err != nil {
			s.writeError(w, r, badRequest("url_not_allowed", "webhook_url", "The webhook URL is not allowed or could not be resolved."))
			return
		}
	}
	key := caller(r)
	batch := make([]*store.Job, 0, len(req.URLs))
	// A batch is mostly many videos of a few sites: each host's addresses
	// are checked once.
	admitted := map[string]bool{}
	for i, u := range req.URLs {
		u = strings.TrimSpace(u)
		param := "urls[" + strconv.Itoa(i) + "]"
		if err := checkURLSyntax(u, param, false); err != nil {
			s.writeError(w, r, err)
			return
		}
		vk, err := urlKey(u)
		host := ""
		if pu, perr := url.Parse(u); perr == nil {
			host = pu.Hostname()
		}
		if err == nil && !admitted[host] {
			if err = s.admitTarget(ctx, u); err == nil && host != "" {
				admitted[host] = true
			}
		}
		if err != nil {
			if ae, ok := err.(*Error); ok {
				ae.Param = param
			}
			s.writeError(w, r, err)
			return
		}
		j := &store.Job{AccountID: key.AccountID, APIKeyID: key.ID, Queue: jobs.QueueBatch, URL: u, VideoKey: vk,
			Prompt: strings.TrimSpace(req.Prompt), Model: model, AudioLanguage: normLang(req.AudioLanguage),
			OutputLanguage: normLang(req.OutputLanguage), WebhookURL: req.WebhookURL, Refresh: req.Refresh}
		j.RequestHash = requestHash(j)
		batch = append(batch, j)
	}
	idem, err := idempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var balErr error
	bal, err := s.cfg.Store.Balance(ctx, key.AccountID)
	switch {
	case err != nil:
		balErr = err
	case bal.Available <= 0:
		balErr = insufficientQuota("Your credit balance is empty. Ask the operator to grant more minutes.")
	}
	if idem != "" {
		// A replay is answered with the first request's jobs as they are
		// now, whatever the balance has become since.
		ids, again, err := s.cfg.Store.Idempotent(ctx, key.AccountID, idem, requestDigest(r, body), s.cfg.IdempotencyTTL,
			func(ctx context.Context, tx *store.JobTx) ([]string, error) {
				if balErr != nil {
					return nil, balErr
				}
				if err := tx.CreateJobs(ctx, batch); err != nil {
					return nil, err
				}
				ids := make([]string, 0, len(batch))
				for _, j := range batch {
					ids = append(ids, j.ID)
				}
				return ids, nil
			})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if again {
			list, err := s.cfg.Store.AccountJobs(ctx, key.AccountID, ids)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			views := make([]jobs.View, 0, len(list))
			for i := range list {
				v, err := s.view(r, &list[i])
				if err != nil {
					s.writeError(w, r, err)
					return
				}
				views = append(views, v)
			}
			replayed(w)
			writeJSON(w, http.StatusAccepted, map[string]any{"object": "list", "data": views})
			return
		}
	} else if balErr != nil {
		s.writeError(w, r, balErr)
		return
	}
	if idem != "" {
		s.cfg.Jobs.StartAll(ctx, batch) // already stored with the key
	} else if err := s.cfg.Jobs.SubmitAll(ctx, batch); err != nil {
		s.writeError(w, r, err)
		return
	}
	// A job that could not be queued is already failed, and shown so.
	views := make([]jobs.View, 0, len(batch))
	for _, j := range batch {
		views = append(views, jobs.ViewOf(j, nil))
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"object": "list", "data": views})
}

// ownJob loads the caller's job named in the path; anyone else's is 404.
func (s *Server) ownJob(r *http.Request) (*store.Job, error) {
	return s.cfg.Store.AccountJob(r.Context(), caller(r).AccountID, mux.Vars(r)["id"])
}

func (s *Server) view(r *http.Request, j *store.Job) (jobs.View, error) {
	var sm *store.Summary
	if j.SummaryID != nil {
		var err error
		if sm, err = s.cfg.Store.Summary(r.Context(), *j.SummaryID); err != nil {
			return jobs.View{}, err
		}
	}
	return jobs.ViewOf(j, sm), nil
}

// replyJob answers with the view of j, or with the error of making it.
func replyJob[V any](s *Server, w http.ResponseWriter, r *http.Request, status int, j *store.Job,
	view func(*http.Request, *store.Job) (V, error)) {
	v, err := view(r, j)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.ownJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	replyJob(s, w, r, http.StatusOK, j, s.view)
}

func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.ownJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.cfg.Jobs.Cancel(r.Context(), j); err != nil {
		s.writeError(w, r, err)
		return
	}
	if j, err = s.ownJob(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	replyJob(s, w, r, http.StatusOK, j, s.view)
}

func encodeCursor(j *store.Job) string {
	return base64.RawURLEncoding.EncodeToString([]byte(j.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + j.ID))
}

func decodeCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, id, err == nil
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.JobFilter{AccountID: caller(r).AccountID, State: q.Get("state"), Limit: 20}
	if f.State != "" && !validState(f.State) {
		s.writeError(w, r, badRequest("invalid_state", "state", "'state' must be one of queued, resolving, transcribing, summarizing, succeeded, failed, canceled."))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, badRequest("invalid_limit", "limit", "'limit' must be an integer from 1 to 100."))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		t, id, ok := decodeCursor(c)
		if !ok {
			s.writeError(w, r, badRequest("invalid_cursor", "cursor", "'cursor' is not a cursor this API returned."))
			return
		}
		f.BeforeTime, f.BeforeID = &t, id
	}
	f.Limit++ // one more tells whether there is a next page
	list, err := s.cfg.Store.ListJobs(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	more := len(list) == f.Limit
	if more {
		list = list[:f.Limit-1]
	}
	data := make([]jobs.View, 0, len(list))
	for i := range list {
		v, err := s.view(r, &list[i])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data = append(data, v)
	}
	out := map[string]any{"object": "list", "data": data, "has_more": more}
	if more {
		out["next_cursor"] = encodeCursor(&list[len(list)-1])
	}
	writeJSON(w, http.StatusOK, out)
}

func validState(s string) bool {
	switch s {
	case store.StateQueued, store.StateResolving, store.StateTranscribing, store.StateSummarizing,
		store.StateSucceeded, store.StateFailed, store.StateCanceled:
		return true
	}
	return false
}

// handleJobEvents streams a job's events as SSE with id: lines; a client
// reconnecting with Last-Event-ID gets exactly what it missed.
func (s *Server) handleJobEvents(w http.ResponseWriter, r *http.Request) {
	j, err := s.ownJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	if after == "" {
		after = "0"
	}
	if !validStreamID(after) {
		s.writeError(w, r, badRequest("invalid_event_id", "Last-Event-ID", "Last-Event-ID must be an event id this API sent."))
		return
	}
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Recap-Job-Id", j.ID)
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	events := s.cfg.Jobs.Events()
	// A job that ended long ago may have an expired stream: then its final
	// state comes from the job row.
	if store.Terminal(j.State) {
		evs, err := events.Read(r.Context(), j.ID, "0", -1)
		if err == nil && len(evs) == 0 {
			v, err := s.view(r, j)
			if err == nil {
				b, _ := json.Marshal(v)
				fmt.Fprintf(w, "event: job\ndata: %s\n\n", b)
			}
			return
		}
	}
	_ = events.Follow(r.Context(), j.ID, after, s.cfg.Heartbeat, func() error {
		if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}, func(ev jobs.Event) error {
		b, _ := json.Marshal(ev)
		if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
}

func validStreamID(id string) bool {
	if id == "0" {
		return true
	}
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}
