package api

import (
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/recap/recap/store"
)

// handleTranscript serves a job's transcript (BibiGPT's subtitle endpoint)
// as json, srt, vtt or txt.
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	j, err := s.ownJob(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	switch format {
	case "json", "srt", "vtt", "txt":
	default:
		s.writeError(w, r, badRequest("invalid_format", "format", "'format' must be json, srt, vtt or txt."))
		return
	}
	if j.TranscriptID == nil {
		s.writeError(w, r, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "transcript_not_ready",
			Message: fmt.Sprintf("Job %s has no transcript (state %s).", j.ID, j.State)})
		return
	}
	t, err := s.cfg.Store.Transcript(r.Context(), *j.TranscriptID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b strings.Builder
	switch format {
	case "json":
		segs := t.Segments
		if segs == nil {
			segs = []store.Segment{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "transcript", "job_id": j.ID, "video_key": t.VideoKey,
			"language": t.Language, "source": t.Source, "duration": t.Duration, "segments": segs})
		return
	case "srt":
		for i, sg := range t.Segments {
			fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, clockStamp(sg.Start, ","), clockStamp(sg.End, ","), sg.Text)
		}
		w.Header().Set("Content-Type", "application/x-subrip; charset=utf-8")
	case "vtt":
		b.WriteString("WEBVTT\n\n")
		for _, sg := range t.Segments {
			fmt.Fprintf(&b, "%s --> %s\n%s\n\n", clockStamp(sg.Start, "."), clockStamp(sg.End, "."), sg.Text)
		}
		w.Header().Set("Content-Type", "text/vtt; charset=utf-8")
	case "txt":
		for _, sg := range t.Segments {
			fmt.Fprintf(&b, "[%s] %s\n", shortStamp(sg.Start), sg.Text)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(b.String())) //nolint:errcheck
}

// clockStamp formats seconds as hh:mm:ss<sep>mmm.
func clockStamp(sec float64, sep string) string {
	ms := int64(math.Round(math.Max(sec, 0) * 1000))
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}

func shortStamp(sec float64) string {
	s := int64(math.Max(sec, 0))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}
