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
