package summarizetest

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTranscription(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	audio := filepath.Join(t.TempDir(), "a.mp3")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=12.5", "-ac", "1", "-ar", "16000", audio).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	tests := []struct {
		name   string
		status int
	}{{"ok", 0}, {"error", http.StatusServiceUnavailable}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, Options{})
			s.SetTranscriptionError(tt.status)
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("file", "a.mp3")
			data, _ := os.ReadFile(audio)
			fw.Write(data)
			mw.WriteField("model", "whisper-1")
			mw.WriteField("response_format", "verbose_json")
			mw.WriteField("language", "de")
			mw.Close()
			resp, err := http.Post(s.URL()+"/audio/transcriptions", mw.FormDataContentType(), &body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if s.TranscriptionCalls() != 1 {
				t.Errorf("calls %d", s.TranscriptionCalls())
			}
			if tt.status != 0 {
				if resp.StatusCode != tt.status {
					t.Errorf("status %d", resp.StatusCode)
				}
				return
			}
			var v struct {
				Duration float64
				Language string
				Text     string
				Segments []struct {
					Start, End float64
					Text       string
				}
			}
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				t.Fatal(err)
			}
			if math.Abs(v.Duration-12.5) > 0.2 || v.Language != "de" || len(v.Segments) != 3 {
				t.Fatalf("got %+v", v)
			}
			if v.Segments[0].Start != 0 || v.Segments[2].End != v.Duration || v.Segments[1].Start != 5 {
				t.Errorf("segments %+v", v.Segments)
			}
			if !strings.HasPrefix(v.Segments[1].Text, "spoken words at 5 ") {
				t.Errorf("text %q", v.Segments[1].Text)
			}
		})
	}
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	req := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"Give ## Chapters"},{"role":"user","content":[{"type":"text","text":"[00:05] hello there\n[01:10] general kenobi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`
	resp, err := http.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var text strings.Builder
	var sawUsage bool
	for ln := range strings.SplitSeq(string(raw), "\n") {
		data, ok := strings.CutPrefix(ln, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
			Usage   *struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
		sawUsage = sawUsage || (c.Usage != nil && c.Usage.TotalTokens > 0)
	}
	if !strings.HasSuffix(string(raw), "data: [DONE]\n\n") || !sawUsage {
		t.Errorf("stream framing:\n%s", raw)
	}
	for _, w := range []string{"- [00:05] hello there", "- [01:10] general kenobi", "## Chapters", "- [00:05 – 00:37] Part 1", "– 01:10] Part 2", "Images: 1", "https://x/y.png"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("answer lacks %q:\n%s", w, text.String())
		}
	}
	if r := s.Requests(); len(r) != 1 || len(r[0].Messages[1].Images) != 1 {
		t.Errorf("recorded %+v", r)
	}
	m, err := http.Get(s.URL() + "/models")
	if err != nil || m.StatusCode != 200 {
		t.Fatalf("models: %v", err)
	}
	m.Body.Close()
}
