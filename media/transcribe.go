package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared/constant"
	"github.com/recap/recap"
)

// TranscriberConfig configures a Transcriber for any OpenAI-compatible
// /audio/transcriptions service (OpenAI, Groq, whisper.cpp's server,
// speaches, LocalAI).
type TranscriberConfig struct {
	// BaseURL is the API root, e.g. "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as a bearer token; may be empty for local servers.
	APIKey string
	// Model defaults to "whisper-1".
	Model string
	// HTTPClient defaults to http.DefaultClient.
	HTTPClient *http.Client
	// Timeout bounds each request attempt; zero means no limit beyond ctx.
	Timeout time.Duration
	// ResponseFormat is "verbose_json" (the default: timed segments, with
	// a speaker per segment when the server adds one) or "diarized_json"
	// (OpenAI's gpt-4o-transcribe-diarize: segments labelled by speaker).
	ResponseFormat string
	// FFmpegPath cuts speaker reference clips (default "ffmpeg").
	FFmpegPath string
}

// Speech-to-text response formats Recap can read segments from.
const (
	STTVerboseJSON  = "verbose_json"
	STTDiarizedJSON = "diarized_json"
)

// DefaultSTTModel is the model used when TranscriberConfig.Model is empty.
const DefaultSTTModel = "whisper-1"

// Transcriber turns audio files into timed segments. It is safe for
// concurrent use.
type Transcriber struct {
	client openai.Client
	model  string
	format string
	ffmpeg string
}

// NewTranscriber returns a Transcriber. It reads no environment variables:
// everything comes from cfg.
func NewTranscriber(cfg TranscriberConfig) *Transcriber {
	if cfg.Model == "" {
		// A plain string: the SDK marks its constant deprecated, yet every
		// self-hosted OpenAI-compatible server answers to this name.
		cfg.Model = DefaultSTTModel
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	opts := []option.RequestOption{
		// Set explicitly so OPENAI_API_KEY / OPENAI_BASE_URL in the
		// environment never leak into a request to another service.
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithHTTPClient(hc),
	}
	if cfg.Timeout > 0 {
		opts = append(opts, option.WithRequestTimeout(cfg.Timeout))
	}
	format := cfg.ResponseFormat
	if format == "" {
		format = STTVerboseJSON
	}
	ffmpeg := cfg.FFmpegPath
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	return &Transcriber{client: openai.NewClient(opts...), model: cfg.Model, format: format, ffmpeg: ffmpeg}
}

// sttPromptKey carries a speech-to-text prompt in a context.
type sttPromptKey struct{}

// WithSTTPrompt returns ctx carrying a prompt for the transcriptions made
// under it (Whisper's prompt: spelling of names, the style to follow).
func WithSTTPrompt(ctx context.Context, prompt string) context.Context {
	if prompt == "" {
		return ctx
	}
	return context.WithValue(ctx, sttPromptKey{}, prompt)
}

// Transcribe sends one audio file to /audio/transcriptions (verbose_json,
// segment timestamps) and returns its segments, relative to the start of
// the file. language is an ISO-639-1 hint; empty lets the service detect
// it. A 4xx answer other than 408 and 429 wraps ErrSTTPermanent.
func (t *Transcriber) Transcribe(ctx context.Context, path, language string) ([]recap.Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("transcribe: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	ctype := mime.TypeByExtension(filepath.Ext(name))
	switch strings.ToLower(filepath.Ext(name)) {
	case ".ogg", ".opus", ".oga":
		ctype = "audio/ogg"
	case ".mp3":
		ctype = "audio/mpeg"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	params := openai.AudioTranscriptionNewParams{
		File:           openai.File(f, name, ctype),
		Model:          openai.AudioModel(t.model),
		ResponseFormat: openai.AudioResponseFormat(t.format),
	}
	if t.format == STTDiarizedJSON {
		// The diarizing model takes neither a prompt nor timestamp
		// granularities, and needs a chunking strategy past 30 seconds.
		params.ChunkingStrategy = openai.AudioTranscriptionNewParamsChunkingStrategyUnion{OfAuto: constant.ValueOf[constant.Auto]()}
		if ks, ok := ctx.Value(knownSpeakersKey{}).(KnownSpeakers); ok {
			params.KnownSpeakerNames, params.KnownSpeakerReferences = ks.Names, ks.References
		}
	} else {
		params.TimestampGranularities = []string{"segment"}
		if p, _ := ctx.Value(sttPromptKey{}).(string); p != "" {
			params.Prompt = openai.String(p)
		}
	}
	if language != "" {
		params.Language = openai.String(language)
	}
	resp, err := t.client.Audio.Transcriptions.New(ctx, params)
	if err != nil {
		var apiErr *openai.Error
		if errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 &&
			apiErr.StatusCode != http.StatusRequestTimeout && apiErr.StatusCode != http.StatusConflict &&
			apiErr.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("transcribe %s: %w: %w", name, ErrSTTPermanent, err)
		}
		return nil, fmt.Errorf("transcribe %s: %w", name, err)
	}
	segs, err := DecodeTranscription([]byte(resp.RawJSON()))
	if err != nil {
		return nil, fmt.Errorf("transcribe %s: %w", name, err)
	}
	return segs, nil
}

// DecodeTranscription reads the segments of a JSON transcription answer:
// verbose_json (segments, perhaps with a speaker each), diarized_json
// (segments with a speaker each) or plain json (text only, kept as one
// segment spanning the duration rather than lost).
func DecodeTranscription(raw []byte) ([]recap.Segment, error) {
	var resp struct {
		Text     string  `json:"text"`
		Duration float64 `json:"duration"`
		Segments []struct {
			Start   float64 `json:"start"`
			End     float64 `json:"end"`
			Text    string  `json:"text"`
			Speaker string  `json:"speaker"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("decode transcription: %w", err)
	}
	segs := make([]recap.Segment, 0, len(resp.Segments))
	for _, s := range resp.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		segs = append(segs, recap.Segment{Start: s.Start, End: max(s.End, s.Start), Text: text, Speaker: strings.TrimSpace(s.Speaker)})
	}
	// Servers that ignore timestamp_granularities still return the text:
	// keep it as one segment spanning the file rather than losing it.
	if len(segs) == 0 {
		if text := strings.TrimSpace(resp.Text); text != "" {
			segs = append(segs, recap.Segment{Start: 0, End: resp.Duration, Text: text})
		}
	}
	return segs, nil
}
