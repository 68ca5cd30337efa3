package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
)

// Transcription response formats (Whisper's).
const (
	TranscriptionJSON        = "json"
	TranscriptionText        = "text"
	TranscriptionSRT         = "srt"
	TranscriptionVTT         = "vtt"
	TranscriptionVerboseJSON = "verbose_json"
	// TranscriptionDiarizedJSON is OpenAI's diarized_json: segments with
	// a speaker each (empty when the transcript has none).
	TranscriptionDiarizedJSON = "diarized_json"
)

// TranscriptionRequest is a Whisper-compatible transcription: an uploaded
// file (FileID) or, as Recap's extension, a video URL.
type TranscriptionRequest struct {
	Caller *recap.Caller
	FileID string
	URL    string
	Model  string
	// Language is the spoken language's ISO-639-1 code ("" to detect).
	Language string
	// Prompt is Whisper's prompt (spelling, names, style), kept with the
	// job as its prompt for the speech-to-text stage.
	Prompt         string
	ResponseFormat string
	// Granularities are timestamp_granularities[]: only "segment".
	Granularities []string
	// Heartbeat is how often the wait checks that the caller is there.
	Heartbeat time.Duration
}

// Transcription is a finished transcription.
type Transcription struct {
	// Job is the job that made it (nil for a transcript made before).
	Job        *recap.Job
	Transcript *recap.Transcript
	Format     string
}

func (r *TranscriptionRequest) validate() error {
	switch r.ResponseFormat {
	case "":
		r.ResponseFormat = TranscriptionJSON
	case TranscriptionJSON, TranscriptionText, TranscriptionSRT, TranscriptionVTT, TranscriptionVerboseJSON, TranscriptionDiarizedJSON:
	default:
		return Invalid("invalid_response_format", "response_format", "'response_format' must be json, text, srt, vtt, verbose_json or diarized_json.")
	}
	for _, g := range r.Granularities {
		if g != "segment" {
			return Invalid("invalid_timestamp_granularities", "timestamp_granularities",
				"timestamp_granularities %q is not supported; the one supported granularity is 'segment' (transcripts are timed per segment, not per word), with response_format 'verbose_json'.", truncate(g, 40))
		}
	}
	if len(r.Granularities) > 0 && r.ResponseFormat != TranscriptionVerboseJSON {
		return Invalid("invalid_timestamp_granularities", "timestamp_granularities", "'timestamp_granularities' needs response_format 'verbose_json'.")
	}
	r.Model = strings.TrimSpace(r.Model)
	if r.Model == "" {
		return Invalid("missing_model", "model", "'model' is required (for example 'whisper-1').")
	}
	if err := CheckText("model", r.Model); err != nil {
		return err
	}
	if len(r.Model) > 100 {
		return Invalid("invalid_model", "model", "'model' is not a model name.")
	}
	if err := CheckLanguage("language", r.Language); err != nil {
		return err
	}
	r.Language = NormLang(r.Language)
	if err := CheckText("prompt", r.Prompt); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(r.Prompt); n > MaxPromptRunes {
		return Invalid("prompt_too_long", "prompt", "The prompt is %d characters long; the limit is %d.", n, MaxPromptRunes)
	}
	switch {
	case r.FileID != "" && r.URL != "":
		return Invalid("invalid_request", "url", "Send either a 'file' or a 'url', not both.")
	case r.FileID == "" && r.URL == "":
		return Invalid("missing_file", "file", "Send the audio as the multipart 'file' field (or a video 'url').")
	case r.URL != "":
		return CheckURLSyntax(r.URL, "url", false)
	}
	return nil
}

// Transcribe transcribes a file or URL through the pipeline's chunked,
// parallel speech-to-text, as a job billed by the minute, and waits for
// it up to SyncWait (then KindTimeout job_still_running with the job id;
// the same request again attaches to the running job; the Transcription
// returned with that error names the job). A transcript of
// the same content and language made before is reused.
func (s *Service) Transcribe(ctx context.Context, r TranscriptionRequest) (*Transcription, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	c := r.Caller
	j := &recap.Job{AccountID: c.AccountID, APIKeyID: c.ID, Kind: jobs.KindTranscript, Queue: jobs.QueueInteractive,
		Model: r.Model, AudioLanguage: r.Language, Prompt: strings.TrimSpace(r.Prompt)}
	if r.FileID != "" {
		f, err := s.File(ctx, c, r.FileID)
		if err != nil {
			return nil, err
		}
		j.URL, j.VideoKey = f.ID, f.VideoKey()
	} else {
		key, err := videoKey(r.URL, "url")
		if err != nil {
			return nil, err
		}
		j.URL, j.VideoKey = r.URL, key
	}
	// A transcript of the same content and language made before answers at
	// once and free, as the worker would reuse it: a client asking again
	// after job_still_running, once the job has ended, starts no second job.
	if t, err := s.cfg.Store.LatestTranscript(ctx, j.VideoKey, j.AudioLanguage); err == nil {
		return &Transcription{Transcript: t, Format: r.ResponseFormat}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// The content and language, not the upload, identify the request: the
	// same recording sent again attaches to the job already running.
	h := sha256.Sum256([]byte(strings.Join([]string{j.Kind, j.VideoKey, j.AudioLanguage, j.Model, j.Prompt}, "\x00")))
	j.RequestHash = hex.EncodeToString(h[:])
	prev, err := s.cfg.Store.ActiveJobByHash(ctx, c.AccountID, j.RequestHash)
	switch {
	case err == nil:
		j = prev
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	default:
		bal, err := s.cfg.Store.Balance(ctx, c.AccountID)
		if err != nil {
			return nil, err
		}
		if bal.Available <= 0 {
			return nil, errEmptyBalance
		}
		if r.URL != "" {
			if err := s.admit(ctx, r.URL, "url", purposeVideo); err != nil {
				return nil, err
			}
		}
		if err := s.cfg.Jobs.Submit(ctx, j); err != nil {
			return nil, err
		}
	}
	if j.State != recap.StateSucceeded {
		if _, err := s.Wait(ctx, j.ID, r.Heartbeat); err != nil {
			// The job is named even when it failed or is still running.
			return &Transcription{Job: j, Format: r.ResponseFormat}, err
		}
		if j, err = s.cfg.Store.AccountJob(ctx, c.AccountID, j.ID); err != nil {
			return nil, err
		}
	}
	if j.TranscriptID == nil {
		return nil, NotFound("transcript_not_ready", "Job %s has no transcript (state %s).", j.ID, j.State)
	}
	t, err := s.cfg.Store.Transcript(ctx, *j.TranscriptID)
	if err != nil {
		return nil, err
	}
	return &Transcription{Job: j, Transcript: t, Format: r.ResponseFormat}, nil
}

// TranscriptText is a transcript's text, its segments joined.
func TranscriptText(t *recap.Transcript) string {
	var b strings.Builder
	for i, sg := range t.Segments {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.TrimSpace(sg.Text))
	}
	return b.String()
}

// TranscriptOfFile returns the newest transcript of the caller's uploaded
// file in a language ("" for the one detected): made by any job of the
// same content, as transcripts are shared by content.
func (s *Service) TranscriptOfFile(ctx context.Context, c *recap.Caller, fileID, language string) (*recap.Transcript, error) {
	if err := CheckLanguage("language", language); err != nil {
		return nil, err
	}
	f, err := s.File(ctx, c, fileID)
	if err != nil {
		return nil, err
	}
	t, err := s.cfg.Store.LatestTranscript(ctx, f.VideoKey(), NormLang(language))
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("transcript_not_ready", "There is no transcript of %s yet: summarize or transcribe it first.", f.ID)
	}
	return t, err
}
