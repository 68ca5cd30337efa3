// Package summarizetest provides a fake OpenAI-compatible server for tests
// of every package that talks to an LLM or a speech-to-text service.
//
// Its replies are derived from its input, so a test can prove that a
// transcript and its timestamps reached the model: a chat reply lists one
// highlight per timestamped input line, and a transcription's segments
// follow the uploaded audio's measured duration.
package summarizetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options tune the fake server.
type Options struct {
	// Delay is added to every chat and transcription call, as a slow
	// provider would; it ends early when the client gives up.
	Delay time.Duration
}

// ChatMessage is one recorded message of a chat request.
type ChatMessage struct {
	Role string
	// Text is the message's text (text parts joined by newlines).
	Text string
	// Images are the URLs of its image_url parts.
	Images []string
}

// ChatRequest is one recorded chat completion request.
type ChatRequest struct {
	Model    string
	Stream   bool
	Messages []ChatMessage
	// ResponseFormat is the request's response_format as sent (nil when
	// absent).
	ResponseFormat json.RawMessage
}

// Script answers a chat request in place of Answer; ok false falls back
// to Answer. It runs on the server's handler goroutines.
type Script func(r ChatRequest) (answer string, ok bool)

// Text joins the text of every message, for assertions.
func (r ChatRequest) Text() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// Server is a fake OpenAI-compatible API on loopback.
type Server struct {
	srv   *httptest.Server
	opts  Options
	done  chan struct{}
	mu    sync.Mutex
	chats int
	stts  int
	// sttSeconds and sttLangs are the audio seconds and the language
	// fields the transcription calls carried.
	sttSeconds float64
	sttLangs   []string
	reqs       []ChatRequest
	hang       bool
	// script, when set, writes the replies instead of Answer.
	script Script
	chatErr,
	sttErr int
	// speakers label transcription segments in turn (SetSpeakers).
	speakers []string
	sttReqs  []STTRequest
}

// STTRequest is one recorded transcription request.
type STTRequest struct {
	Format string
	// KnownSpeakers are its known_speaker_names[]; ReferenceSeconds the
	// measured length of each known_speaker_references[] clip.
	KnownSpeakers    []string
	ReferenceSeconds []float64
}

// STTRequests returns the diarized_json transcription requests received
// so far (those not refused), in arrival order.
func (s *Server) STTRequests() []STTRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]STTRequest(nil), s.sttReqs...)
}

// New starts a fake server that t's cleanup closes.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/audio/transcriptions", s.transcribe)
	mux.HandleFunc("GET /v1/models", s.models)
	s.srv = httptest.NewServer(mux)
	// Cleanups run last-in first-out: release hanging handlers, then close.
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.done) })
	return s
}

// URL is the base URL including /v1, for LLM_BASE_URL and STT_BASE_URL.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// ChatCalls counts chat completion requests received, failed ones included.
func (s *Server) ChatCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chats
}

// TranscriptionCalls counts transcription requests received.
func (s *Server) TranscriptionCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stts
}

// Requests returns the chat requests received so far, in arrival order.
func (s *Server) Requests() []ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChatRequest, len(s.reqs))
	copy(out, s.reqs)
	return out
}

// TranscribedSeconds is the audio the transcription calls carried, in
// seconds as the server measured it: a test can tell that only part of a
// recording was sent.
func (s *Server) TranscribedSeconds() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sttSeconds
}

// TranscriptionLanguages returns the language field of each successful
// transcription call, in arrival order.
func (s *Server) TranscriptionLanguages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sttLangs...)
}

// SetHang makes chat calls block until the client gives up.
func (s *Server) SetHang(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = v
}

// SetScript makes chat replies come from f (nil restores Answer), so a
// test can have the model err in a chosen way: invent a moment, answer
// JSON that breaks a schema.
func (s *Server) SetScript(f Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// SetChatError makes chat calls fail with status; 0 restores normal replies.
func (s *Server) SetChatError(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatErr = status
}

// SetTranscriptionError makes transcription calls fail with status; 0
// restores normal replies.
func (s *Server) SetTranscriptionError(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sttErr = status
}

// SetSpeakers makes transcriptions label their segments with these
// speakers in turn: verbose_json segments get a speaker field, and
// diarized_json uses them when the request names no known speakers
// (without SetSpeakers, diarized_json labels "A" and "B", as OpenAI's
// gpt-4o-transcribe-diarize does). nil restores unlabelled verbose_json.
func (s *Server) SetSpeakers(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.speakers = names
}

// wait applies the delay; it reports false when the client went away.
func (s *Server) wait(ctx context.Context, hang bool) bool {
	if hang {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	if s.opts.Delay <= 0 {
		return true
	}
	t := time.NewTimer(s.opts.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": strconv.Itoa(status),
	}})
}

type wireRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ResponseFormat json.RawMessage `json:"response_format"`
}

func parseChat(body []byte) (wireRequest, ChatRequest, error) {
	var wr wireRequest
	if err := json.Unmarshal(body, &wr); err != nil {
		return wr, ChatRequest{}, err
	}
	cr := ChatRequest{Model: wr.Model, Stream: wr.Stream, ResponseFormat: wr.ResponseFormat}
	for _, m := range wr.Messages {
		cm := ChatMessage{Role: m.Role}
		var str string
		if json.Unmarshal(m.Content, &str) == nil {
			cm.Text = str
		} else {
			var parts []struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				ImageURL struct {
					URL string `json:"url"`
				} `json:"image_url"`
			}
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return wr, cr, fmt.Errorf("message content: %w", err)
			}
			var texts []string
			for _, p := range parts {
				switch p.Type {
				case "text":
					texts = append(texts, p.Text)
				case "image_url":
					cm.Images = append(cm.Images, p.ImageURL.URL)
				}
			}
			cm.Text = strings.Join(texts, "\n")
		}
		cr.Messages = append(cr.Messages, cm)
	}
	return wr, cr, nil
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s.mu.Lock()
	s.chats++
	hang, status := s.hang, s.chatErr
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	wr, cr, err := parseChat(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, cr)
	script := s.script
	s.mu.Unlock()
	if !s.wait(r.Context(), hang) {
		return
	}
	if status != 0 {
		writeError(w, status, fmt.Sprintf("fake error %d", status))
		return
	}
	if len(cr.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "messages is required")
		return
	}
	answer := Answer(cr)
	if script != nil {
		if a, ok := script(cr); ok {
			answer = a
		}
	}
	model := cmp(cr.Model, "fake-model")
	promptTokens := len(cr.Text())/4 + 1
	completionTokens := len(answer)/4 + 1
	usage := map[string]int{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens}
	id := "chatcmpl-fake"
	created := time.Now().Unix()
	if !wr.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": answer}}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for _, piece := range pieces(answer) {
		send(chunk(map[string]any{"content": piece}, nil))
	}
	send(chunk(map[string]any{}, "stop"))
	if wr.StreamOptions.IncludeUsage {
		send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": usage})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// pieces splits an answer into several stream deltas (a line or so each).
func pieces(s string) []string {
	var out []string
	for len(s) > 0 {
		n := strings.IndexByte(s, '\n')
		if n < 0 || n+1 > 80 {
			n = min(len(s), 40)
			// Do not split a UTF-8 sequence.
			for n < len(s) && s[n]&0xC0 == 0x80 {
				n++
			}
		} else {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

var (
	tsLine = regexp.MustCompile(`^\s*(?:[-*]\s*)?\[(\d{1,2}(?::\d{2}){1,2})\]\s*(.*)$`)
	tsAny  = regexp.MustCompile(`\b\d{1,2}(?::\d{2}){1,2}\b`)
)

// MaxBullets caps the highlights of one fake answer.
const MaxBullets = 30

// Answer is the reply the fake server derives from a chat request:
// "## Overview" with the first words of the input, "## Chapters" when a
// system message mentions chapters (or any message holds "## Chapters") ("- [start – end] Part N" spanning the input's
// timestamps), "## Highlights" with one bullet per timestamped user line
// ("- [ts] first eight words"; at most MaxBullets, evenly spread, always
// the first and the last), and "Images: N" plus each image URL.
func Answer(r ChatRequest) string {
	var user []string
	var images []string
	wantChapters := false
	for _, m := range r.Messages {
		if (m.Role == "system" && strings.Contains(strings.ToLower(m.Text), "chapters")) || strings.Contains(m.Text, "## Chapters") {
			wantChapters = true
		}
		if m.Role == "user" {
			user = append(user, m.Text)
			images = append(images, m.Images...)
		}
	}
	input := strings.Join(user, "\n")
	type hl struct{ ts, text string }
	var hls []hl
	var secs []float64
	var firstWords []string
	for ln := range strings.SplitSeq(input, "\n") {
		for _, m := range tsAny.FindAllString(ln, -1) {
			if v, ok := parseClock(m); ok {
				secs = append(secs, v)
			}
		}
		if m := tsLine.FindStringSubmatch(ln); m != nil {
			hls = append(hls, hl{m[1], firstN(m[2], 8)})
			if len(firstWords) < 12 {
				firstWords = append(firstWords, strings.Fields(m[2])...)
			}
		}
	}
	var b strings.Builder
	b.WriteString("## Overview\n")
	if len(firstWords) == 0 {
		firstWords = strings.Fields(input)
	}
	if len(firstWords) > 12 {
		firstWords = firstWords[:12]
	}
	b.WriteString(strings.Join(firstWords, " ") + "\n")
	if len(images) > 0 {
		fmt.Fprintf(&b, "\nImages: %d\n", len(images))
		for _, u := range images {
			b.WriteString("- " + u + "\n")
		}
	}
	if wantChapters && len(secs) > 0 {
		lo, hi := secs[0], secs[0]
		for _, v := range secs {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		n := min(6, max(1, len(hls)))
		b.WriteString("\n## Chapters\n")
		step := (hi - lo) / float64(n)
		for i := range n {
			a, e := lo+step*float64(i), lo+step*float64(i+1)
			if i == n-1 {
				e = hi
			}
			fmt.Fprintf(&b, "- [%s – %s] Part %d\n", clock(a), clock(e), i+1)
		}
	}
	b.WriteString("\n## Highlights\n")
	if len(hls) > MaxBullets {
		picked := make([]hl, 0, MaxBullets)
		for i := range MaxBullets {
			picked = append(picked, hls[i*(len(hls)-1)/(MaxBullets-1)])
		}
		hls = picked
	}
	for _, h := range hls {
		fmt.Fprintf(&b, "- [%s] %s\n", h.ts, h.text)
	}
	return b.String()
}

func firstN(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

func parseClock(s string) (float64, bool) {
	total := 0
	for p := range strings.SplitSeq(s, ":") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, false
		}
		total = total*60 + n
	}
	return float64(total), true
}

func clock(sec float64) string {
	s := int(sec)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, (s/60)%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{
		map[string]any{"id": "fake-model", "object": "model", "created": 0, "owned_by": "recap"},
		map[string]any{"id": "whisper-1", "object": "model", "created": 0, "owned_by": "recap"},
	}})
}

// SegmentSeconds is the length of the fake transcription's segments.
const SegmentSeconds = 5

func (s *Server) transcribe(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stts++
	status := s.sttErr
	speakers := s.speakers
	s.mu.Unlock()
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		writeError(w, http.StatusBadRequest, "multipart: "+err.Error())
		return
	}
	defer r.MultipartForm.RemoveAll()
	f, _, err := r.FormFile("file")
	if err != nil {
		writeError(w, http.StatusBadRequest, "file is required")
		return
	}
	defer f.Close()
	tmp, err := os.CreateTemp("", "fake-stt-*"+filepath.Ext(r.MultipartForm.File["file"][0].Filename))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), f)
	tmp.Close()
	if err != nil {
		writeError(w, http.StatusBadRequest, "read file: "+err.Error())
		return
	}
	if !s.wait(r.Context(), false) {
		return
	}
	if status != 0 {
		writeError(w, status, fmt.Sprintf("fake error %d", status))
		return
	}
	dur, err := measureDuration(r.Context(), tmp.Name())
	if err != nil {
		writeError(w, http.StatusBadRequest, "unreadable audio: "+err.Error())
		return
	}
	s.mu.Lock()
	s.sttSeconds += dur
	s.sttLangs = append(s.sttLangs, r.FormValue("language"))
	s.mu.Unlock()
	tag := hex.EncodeToString(h.Sum(nil))[:8]
	lang := cmp(r.FormValue("language"), "en")
	format := r.FormValue("response_format")
	if format == "diarized_json" {
		// What OpenAI's diarizing model refuses.
		switch {
		case r.FormValue("prompt") != "":
			writeError(w, http.StatusBadRequest, "prompt is not supported with diarized_json")
			return
		case len(r.MultipartForm.Value["timestamp_granularities[]"]) > 0:
			writeError(w, http.StatusBadRequest, "timestamp_granularities is not supported with diarized_json")
			return
		case dur > 30 && r.FormValue("chunking_strategy") == "":
			writeError(w, http.StatusBadRequest, "chunking_strategy is required for diarization of inputs longer than 30 seconds")
			return
		}
		known := r.MultipartForm.Value["known_speaker_names[]"]
		refs := r.MultipartForm.Value["known_speaker_references[]"]
		rec := STTRequest{Format: format, KnownSpeakers: known}
		if len(known) != len(refs) || len(known) > 4 {
			writeError(w, http.StatusBadRequest, "known_speaker_names[] and known_speaker_references[] must pair up, at most 4")
			return
		}
		for _, ref := range refs {
			secs, err := referenceSeconds(r.Context(), ref)
			if err != nil || secs < 1.9 || secs > 10.1 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("a speaker reference must be 2 to 10 seconds of audio as a data URL (%.2f s, %v)", secs, err))
				return
			}
			rec.ReferenceSeconds = append(rec.ReferenceSeconds, secs)
		}
		s.mu.Lock()
		s.sttReqs = append(s.sttReqs, rec)
		s.mu.Unlock()
		if len(known) > 0 {
			speakers = known
		} else if len(speakers) == 0 {
			speakers = []string{"A", "B"}
		}
	}
	type seg struct {
		Type    string  `json:"type,omitempty"`
		ID      any     `json:"id"`
		Seek    int     `json:"seek"`
		Start   float64 `json:"start"`
		End     float64 `json:"end"`
		Text    string  `json:"text"`
		Speaker string  `json:"speaker,omitempty"`
	}
	var segs []seg
	var texts []string
	for i := 0; float64(i*SegmentSeconds) < dur; i++ {
		start := float64(i * SegmentSeconds)
		end := math.Min(start+SegmentSeconds, dur)
		text := fmt.Sprintf("spoken words at %g %s", start, tag)
		sg := seg{ID: i, Start: start, End: end, Text: text}
		if len(speakers) > 0 {
			sg.Speaker = speakers[i%len(speakers)]
		}
		if format == "diarized_json" {
			sg.Type, sg.ID = "transcript.text.segment", fmt.Sprintf("seg_%03d", i)
		}
		segs = append(segs, sg)
		texts = append(texts, text)
	}
	text := strings.Join(texts, " ")
	switch format {
	case "diarized_json":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"task": "transcribe", "duration": dur, "text": text, "segments": segs,
			"usage": map[string]any{"type": "duration", "seconds": math.Ceil(dur)},
		})
	case "text", "srt", "vtt":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, text)
	case "verbose_json":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"task": "transcribe", "language": lang, "duration": dur, "text": text, "segments": segs,
		})
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"text": text})
	}
}

// referenceSeconds measures a known speaker reference, a data: URL.
func referenceSeconds(ctx context.Context, ref string) (float64, error) {
	_, b64, ok := strings.Cut(ref, ";base64,")
	if !ok || !strings.HasPrefix(ref, "data:audio/") {
		return 0, fmt.Errorf("not an audio data URL")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "fake-ref-*.ogg")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(raw)
	f.Close()
	if err != nil {
		return 0, err
	}
	return measureDuration(ctx, f.Name())
}

// measureDuration measures an uploaded file: Ogg Opus/Vorbis from its page
// headers, anything else with ffprobe, as a real service decodes it.
func measureDuration(ctx context.Context, path string) (float64, error) {
	if b, err := os.ReadFile(path); err == nil {
		if d, err := oggDuration(b); err == nil {
			return d, nil
		}
	}
	return probeDuration(ctx, path)
}

// probeDuration measures media with ffprobe.
func probeDuration(ctx context.Context, path string) (float64, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration",
		"-of", "default=noprint_wrappers=1:nokey=1", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe: %w", err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ffprobe: no duration in %q", strings.TrimSpace(string(out)))
	}
	return d, nil
}
