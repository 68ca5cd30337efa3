package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/recap/recap/core"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// handleTranscript serves a job's transcript (BibiGPT's subtitle endpoint)
// as json, srt, vtt or txt.
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = core.FormatJSON
	}
	j, t, err := s.core.Transcript(r.Context(), caller(r), mux.Vars(r)["id"], format)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == core.FormatJSON {
		segs := t.Segments
		if segs == nil {
			segs = []store.Segment{}
		}
		// A ranged job's transcript is stored under its language and range
		// (jobs.WithRange); they are shown apart.
		lang, rng := jobs.SplitRange(t.Language)
		out := map[string]any{"object": "transcript", "job_id": j.ID, "video_key": t.VideoKey,
			"language": lang, "source": t.Source, "duration": t.Duration, "segments": segs}
		if !rng.IsZero() {
			out["start"], out["end"] = rng.Start, rng.EndIn(t.Duration)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	text, ctype := core.FormatTranscript(t, format)
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(text)) //nolint:errcheck
}
