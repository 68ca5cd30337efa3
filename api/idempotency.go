package api

import (
	"crypto/sha256"
	"net/http"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// MaxIdempotencyKey bounds the Idempotency-Key header.
const MaxIdempotencyKey = 255

// idempotencyKey returns the request's Idempotency-Key ("" when absent):
// 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	bad := len(vs) > 1 || k == "" || len(k) > MaxIdempotencyKey
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x20 || k[i] > 0x7e
	}
	if bad {
		return "", badRequest("invalid_idempotency_key", "Idempotency-Key",
			"The Idempotency-Key header must be one value of 1 to %d printable ASCII characters.", MaxIdempotencyKey)
	}
	return k, nil
}

// requestDigest identifies what an Idempotency-Key stands for: the route
// and the exact body bytes, so the key used for another request (or on
// another route) is refused rather than silently answered.
func requestDigest(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	return h.Sum(nil)
}

var errIdempotencyReused = &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "idempotency_key_reused",
	Param: "Idempotency-Key", Message: "This Idempotency-Key was already used with a different request in the last 24 hours; use a new key for a new request.",
	Header: http.Header{"X-Should-Retry": {"false"}}}

// replayed marks a reply that repeats an earlier request's.
func replayed(w http.ResponseWriter) { w.Header().Set("Idempotent-Replayed", "true") }

// resultOf rebuilds a succeeded job's result from its row, as the job's
// result event carried it, so a replay answers exactly as the first
// reply did even after the event stream has expired.
func resultOf(j *store.Job, sm *store.Summary) *jobs.Result {
	r := &jobs.Result{Markdown: j.ResultMarkdown, Model: j.ResultModel, PromptTokens: j.PromptTokens, CompletionTokens: j.CompletionTokens}
	if sm != nil {
		r.Markdown, r.Model, r.Truncated = sm.Markdown, sm.Model, sm.Truncated
		for _, c := range sm.Chapters {
			r.Chapters = append(r.Chapters, jobs.Chapter(c))
		}
	}
	return r
}

// replyChat answers a chat completion with a job that already exists: a
// finished one from its row, a running one by following its events.
func (s *Server) replyChat(w http.ResponseWriter, r *http.Request, j *store.Job, model string, stream, includeUsage bool) {
	w.Header().Set("X-Recap-Job-Id", j.ID)
	switch j.State {
	case store.StateSucceeded:
		var sm *store.Summary
		if j.SummaryID != nil {
			var err error
			if sm, err = s.cfg.Store.Summary(r.Context(), *j.SummaryID); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		writeCached(w, j, model, resultOf(j, sm), stream, includeUsage)
	case store.StateFailed, store.StateCanceled:
		s.writeError(w, r, jobError(&jobs.ErrorInfo{Code: j.ErrorCode, Message: j.ErrorMessage}))
	default:
		if stream {
			s.streamJob(w, r, j, model, includeUsage)
			return
		}
		s.waitJob(w, r, j, model)
	}
}
