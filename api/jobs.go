package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// MaxBatchURLs bounds POST /api/v1/jobs.
const MaxBatchURLs = core.MaxBatchURLs

type createJobsRequest struct {
	URLs []string `json:"urls"`
	// Files are uploaded files (ids or file parts) to summarize.
	Files          []json.RawMessage `json:"files"`
	Prompt         string            `json:"prompt"`
	Model          string            `json:"model"`
	AudioLanguage  string            `json:"audio_language"`
	OutputLanguage string            `json:"output_language"`
	WebhookURL     string            `json:"webhook_url"`
	Refresh        bool              `json:"refresh"`
	// Playlist and Limit ask for one job per entry of a playlist, channel
	// or feed instead of URLs (see batches.go).
	Playlist *string `json:"playlist"`
	Limit    *int    `json:"limit"`
	// Start and End ask for the same part of every video.
	Start json.RawMessage `json:"start"`
	End   json.RawMessage `json:"end"`
	// Frames asks for a JPEG at each highlight of every video.
	Frames json.RawMessage `json:"frames"`
}

func (s *Server) handleCreateJobs(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createJobsRequest
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		s.writeError(w, r, badRequest("invalid_json", "", "The request body is not valid JSON: %v.", err))
		return
	}
	files, err := jobFiles(req.Files)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	idem, err := idempotency(r, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	br := core.BatchRequest{Caller: caller(r), URLs: req.URLs, Files: files, Prompt: req.Prompt,
		Model: req.Model, AudioLanguage: req.AudioLanguage, OutputLanguage: req.OutputLanguage, WebhookURL: req.WebhookURL,
		Refresh: req.Refresh, Idempotency: idem, Start: req.Start, End: req.End, Frames: req.Frames}
	if req.Playlist != nil || req.Limit != nil {
		s.createPlaylistJobs(w, r, br, req.Playlist, req.Limit)
		return
	}
	b, err := s.core.CreateJobs(r.Context(), br)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Replayed {
		replayed(w)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"object": "list", "data": b.Jobs})
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) {
	v, err := s.core.JobView(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) {
	v, err := s.core.Cancel(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.ListRequest{Caller: caller(r), State: q.Get("state"), Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			n = -1 // refused by the use case, after the state
		}
		req.Limit = n
	}
	p, err := s.core.ListJobs(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"object": "list", "data": p.Jobs, "has_more": p.HasMore}
	if p.HasMore {
		out["next_cursor"] = p.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

// handleJobEvents streams a job's events as SSE with id: lines; a client
// reconnecting with Last-Event-ID gets exactly what it missed.
func (s *Server) handleJobEvents(w http.ResponseWriter, r *http.Request) {
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	if after == "" {
		after = "0"
	}
	from, err := s.core.JobEvents(r.Context(), caller(r), mux.Vars(r)["id"], after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("X-Recap-Job-Id", from.Job.ID)
	sse := newSSE(w)
	if from.Expired {
		b, _ := json.Marshal(from.View)
		fmt.Fprintf(w, "event: job\ndata: %s\n\n", b)
		return
	}
	_ = s.core.Follow(r.Context(), from.Job.ID, after, s.cfg.Heartbeat, sse.keepAlive, func(ev recap.Event) error {
		b, _ := json.Marshal(ev)
		if ev.ID == "" {
			// A final event made from the job row (its own was lost): it has
			// no stream position to resume from.
			return sse.raw(fmt.Sprintf("event: %s\ndata: %s\n\n", ev.Type, b))
		}
		return sse.raw(fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b))
	})
}
