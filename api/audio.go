package api

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// handleTranscription is POST /audio/transcriptions, Whisper's request:
// multipart `file`, `model`, `language`, `prompt`, `response_format`,
// `timestamp_granularities[]`, and (Recap's extension) `url` instead of a
// file. The upload streams into storage; the transcription runs as a job
// and is answered when it ends, or 504 job_still_running past
// SYNC_WAIT_SECONDS.
func (s *Server) handleTranscription(w http.ResponseWriter, r *http.Request) {
	c := caller(r)
	var fileID string
	fields, err := s.multipartForm(w, r, func(name string, body io.Reader) error {
		f, err := s.core.CreateFile(r.Context(), core.Upload{Caller: c, Filename: name, Purpose: core.PurposeTranscription, Body: body})
		if err != nil {
			return err
		}
		fileID = f.ID
		return nil
	})
	if err != nil {
		if fileID != "" { // the form was wrong after the file was stored
			_, _ = s.core.DeleteFile(context.WithoutCancel(r.Context()), c, fileID)
		}
		s.writeError(w, r, err)
		return
	}
	grans := append(fields["timestamp_granularities[]"], fields["timestamp_granularities"]...)
	res, err := s.core.Transcribe(r.Context(), core.TranscriptionRequest{Caller: c, FileID: fileID, URL: field(fields, "url"),
		Model: field(fields, "model"), Language: field(fields, "language"), Prompt: field(fields, "prompt"),
		ResponseFormat: field(fields, "response_format"), Granularities: grans, Heartbeat: s.cfg.Heartbeat})
	if res != nil && res.Job != nil {
		w.Header().Set("X-Recap-Job-Id", res.Job.ID)
	} else if fileID != "" {
		// No job reads this upload (the request was refused, or answered
		// from a transcript made before): it is not kept.
		_, _ = s.core.DeleteFile(context.WithoutCancel(r.Context()), c, fileID)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client left; the job goes on
		}
		s.writeError(w, r, err)
		return
	}
	t := res.Transcript
	switch res.Format {
	case core.TranscriptionText:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, core.TranscriptText(t)+"\n") //nolint:errcheck
	case core.TranscriptionSRT, core.TranscriptionVTT:
		text, ctype := core.FormatTranscript(t, res.Format)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, text) //nolint:errcheck
	case core.TranscriptionVerboseJSON:
		writeJSON(w, http.StatusOK, verboseTranscription(t))
	case core.TranscriptionDiarizedJSON:
		writeJSON(w, http.StatusOK, diarizedTranscription(t))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"text": core.TranscriptText(t),
			"usage": map[string]any{"type": "duration", "seconds": int64(t.Duration + 0.999)}})
	}
}

type verboseSegment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
	// Speaker is set when speech-to-text labelled the speaker (as in
	// OpenAI's diarized_json segments).
	Speaker string `json:"speaker,omitempty"`
}

// verboseTranscription is Whisper's verbose_json: the text, language,
// duration and timed segments.
func verboseTranscription(t *recap.Transcript) map[string]any {
	segs := make([]verboseSegment, 0, len(t.Segments))
	for i, sg := range t.Segments {
		segs = append(segs, verboseSegment{ID: i, Seek: int(sg.Start * 100), Start: sg.Start, End: sg.End, Text: sg.Text, Tokens: []int{}, Speaker: sg.Speaker})
	}
	lang := t.Language
	if lang == "" {
		lang = "unknown"
	}
	return map[string]any{"task": "transcribe", "language": lang, "duration": t.Duration, "text": core.TranscriptText(t), "segments": segs}
}

type diarizedSegment struct {
	Type    string  `json:"type"`
	ID      string  `json:"id"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Text    string  `json:"text"`
	Speaker string  `json:"speaker"`
}

// diarizedTranscription is OpenAI's diarized_json: the text, duration and
// segments labelled by speaker (an empty label where speech-to-text gave
// none, as for subtitles).
func diarizedTranscription(t *recap.Transcript) map[string]any {
	segs := make([]diarizedSegment, 0, len(t.Segments))
	for i, sg := range t.Segments {
		segs = append(segs, diarizedSegment{Type: "transcript.text.segment", ID: fmt.Sprintf("seg_%03d", i), Start: sg.Start, End: sg.End,
			Text: sg.Text, Speaker: sg.Speaker})
	}
	return map[string]any{"task": "transcribe", "duration": t.Duration, "text": core.TranscriptText(t), "segments": segs,
		"usage": map[string]any{"type": "duration", "seconds": int64(t.Duration + 0.999)}}
}
