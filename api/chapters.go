package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
)

// handleChapters is GET /jobs/{id}/chapters?format=json|webvtt|youtube|
// podcast|markmap|opml: the chapters of the caller's summary in the
// formats players, YouTube descriptions, podcast apps and mind-map tools
// read.
func (s *Server) handleChapters(w http.ResponseWriter, r *http.Request) {
	x, err := s.core.Chapters(r.Context(), caller(r), mux.Vars(r)["id"], r.URL.Query().Get("format"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", x.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(x.Body)))
	w.Header().Set("X-Recap-Job-Id", x.Job.ID)
	w.WriteHeader(http.StatusOK)
	w.Write(x.Body) //nolint:errcheck
}

// handleFrame is GET /jobs/{id}/frames/{n}.jpg: a JPEG at highlight n's
// moment of the caller's job that asked for frames.
func (s *Server) handleFrame(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	f, err := s.core.Frame(r.Context(), caller(r), v["id"], v["n"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.JPEG)))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.WriteHeader(http.StatusOK)
	w.Write(f.JPEG) //nolint:errcheck
}
