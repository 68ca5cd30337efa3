package api

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// handleTranscript serves a job's transcript (BibiGPT's subtitle endpoint)
// as json, srt, vtt or txt; with ?lang=zh the video's transcript in that
// language, with ?lang=en,zh both side by side (see core.TranscriptLangs).
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = core.FormatJSON
	}
	if r.URL.Query().Has("lang") {
		s.transcriptLangs(w, r, format, strings.Split(r.URL.Query().Get("lang"), ","))
		return
	}
	j, t, err := s.core.Transcript(r.Context(), caller(r), mux.Vars(r)["id"], format)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeTranscript(w, j, t, format)
}

func writeTranscript(w http.ResponseWriter, j *recap.Job, t *recap.Transcript, format string) {
	if format == core.FormatJSON {
		segs := t.Segments
		if segs == nil {
			segs = []recap.Segment{}
		}
		// A ranged job's transcript is stored under its language and range
		// (core.TranscriptLanguage); they are shown apart.
		lang, rng := core.TranscriptLanguage(t)
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

func (s *Server) transcriptLangs(w http.ResponseWriter, r *http.Request, format string, langs []string) {
	j, ts, err := s.core.TranscriptLangs(r.Context(), caller(r), mux.Vars(r)["id"], format, langs, s.cfg.Heartbeat)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(ts) == 1 {
		writeTranscript(w, j, ts[0], format)
		return
	}
	segs := core.Bilingual(ts[0], ts[1])
	if format == core.FormatJSON {
		writeJSON(w, http.StatusOK, map[string]any{"object": "transcript.bilingual", "job_id": j.ID, "video_key": ts[0].VideoKey,
			"languages": []string{ts[0].Language, ts[1].Language}, "sources": []string{ts[0].Source, ts[1].Source},
			"duration": ts[0].Duration, "segments": segs})
		return
	}
	text, ctype := core.FormatBilingual(segs, format)
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(text)) //nolint:errcheck
}
