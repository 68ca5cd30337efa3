package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// playlistReply is the answer to POST /api/v1/jobs with a playlist: the
// batch's id and its jobs, as a list like the URLs form's, plus the
// entries that were skipped.
type playlistReply struct {
	Object  string              `json:"object"`
	BatchID string              `json:"batch_id"`
	URL     string              `json:"url"`
	Title   string              `json:"title,omitempty"`
	Entries int                 `json:"entries,omitempty"`
	Data    []recap.View        `json:"data"`
	Skipped []core.SkippedEntry `json:"skipped"`
}

// createPlaylistJobs serves POST /api/v1/jobs {"playlist": URL, "limit": N}.
func (s *Server) createPlaylistJobs(w http.ResponseWriter, r *http.Request, br core.BatchRequest, playlist *string, limit *int) {
	if playlist == nil {
		s.writeError(w, r, core.Invalid("missing_playlist", "playlist", "'limit' goes with 'playlist', the URL of a playlist, channel or feed."))
		return
	}
	b, err := s.core.CreatePlaylistJobs(r.Context(), core.PlaylistRequest{BatchRequest: br, Playlist: *playlist, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Replayed {
		replayed(w)
	}
	skipped := b.Skipped
	if skipped == nil {
		skipped = []core.SkippedEntry{}
	}
	writeJSON(w, http.StatusAccepted, playlistReply{Object: "list", BatchID: b.ID, URL: b.SourceURL, Title: b.Title,
		Entries: b.Entries, Data: b.Jobs, Skipped: skipped})
}

// handleGetBatch serves GET /api/v1/batches/{id}: counts per state and the
// jobs, for the batch's owner only (others get 404).
func (s *Server) handleGetBatch(w http.ResponseWriter, r *http.Request) {
	b, err := s.core.GetBatch(r.Context(), caller(r), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
