package media_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
)

// fakeSTT is an OpenAI-compatible /v1/audio/transcriptions endpoint whose
// reply depends on the upload: the segments quote the file's name and size.
type fakeSTT struct {
	status   int  // non-200 answers with this status
	textOnly bool // reply without segments
	calls    atomic.Int32
	lastReq  atomic.Value // map[string]string of form fields
}

func (f *fakeSTT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.URL.Path != "/v1/audio/transcriptions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fields := map[string]string{"auth": r.Header.Get("Authorization")}
	for k, v := range r.MultipartForm.Value {
		fields[k] = strings.Join(v, ",")
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data, _ := io.ReadAll(file)
	fields["filename"] = hdr.Filename
	fields["content-type"] = hdr.Header.Get("Content-Type")
	f.lastReq.Store(fields)

	w.Header().Set("Content-Type", "application/json")
	if f.status != 0 {
		w.Header().Set("Retry-After-Ms", "1")
		w.WriteHeader(f.status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "nope", "type": "invalid_request_error", "code": nil, "param": nil}})
		return
	}
	text := hdr.Filename + " has " + itoa(len(data)) + " bytes"
	resp := map[string]any{"task": "transcribe", "language": "english", "duration": 3.0, "text": text}
	if !f.textOnly {
		resp["segments"] = []map[string]any{
			{"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": " " + hdr.Filename, "tokens": []int{1}, "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.01},
			{"id": 1, "seek": 0, "start": 1.5, "end": 3.0, "text": " has " + itoa(len(data)) + " bytes ", "tokens": []int{2}, "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.01},
			{"id": 2, "seek": 0, "start": 3.0, "end": 3.0, "text": "  ", "tokens": []int{}, "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.9},
		}
	}
	json.NewEncoder(w).Encode(resp)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTranscribe(t *testing.T) {
	t.Parallel()
	audio := filepath.Join(t.TempDir(), "chunk-0001.ogg")
	if err := os.WriteFile(audio, []byte("OggS fake audio bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		fake      *fakeSTT
		lang      string
		want      []recap.Segment
		permanent bool
		fail      bool
		calls     int32
	}{
		{
			name:  "segments",
			fake:  &fakeSTT{},
			lang:  "en",
			want:  []recap.Segment{{Start: 0, End: 1.5, Text: "chunk-0001.ogg"}, {Start: 1.5, End: 3, Text: "has 21 bytes"}},
			calls: 1,
		},
		{
			name:  "text only server",
			fake:  &fakeSTT{textOnly: true},
			want:  []recap.Segment{{Start: 0, End: 3, Text: "chunk-0001.ogg has 21 bytes"}},
			calls: 1,
		},
		{name: "bad request is permanent", fake: &fakeSTT{status: 400}, fail: true, permanent: true, calls: 1},
		{name: "unauthorized is permanent", fake: &fakeSTT{status: 401}, fail: true, permanent: true, calls: 1},
		{name: "too large is permanent", fake: &fakeSTT{status: 413}, fail: true, permanent: true, calls: 1},
		{name: "rate limit is transient", fake: &fakeSTT{status: 429}, fail: true, calls: 3},
		{name: "server error is transient", fake: &fakeSTT{status: 500}, fail: true, calls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.fake)
			t.Cleanup(srv.Close)
			tr := media.NewTranscriber(media.TranscriberConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test"})
			segs, err := tr.Transcribe(context.Background(), audio, tt.lang)
			if got := tt.fake.calls.Load(); got != tt.calls {
				t.Errorf("server saw %d calls, want %d", got, tt.calls)
			}
			if tt.fail {
				if err == nil {
					t.Fatal("Transcribe succeeded")
				}
				if errors.Is(err, media.ErrSTTPermanent) != tt.permanent {
					t.Fatalf("error %v: permanent = %v, want %v", err, !tt.permanent, tt.permanent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSegments(t, segs, tt.want)
			fields := tt.fake.lastReq.Load().(map[string]string)
			if fields["model"] != "whisper-1" || fields["response_format"] != "verbose_json" || fields["auth"] != "Bearer sk-test" {
				t.Errorf("request fields = %v", fields)
			}
			if !strings.Contains(fields["timestamp_granularities[]"]+fields["timestamp_granularities"], "segment") {
				t.Errorf("segment granularity not requested: %v", fields)
			}
			if fields["language"] != tt.lang || fields["filename"] != "chunk-0001.ogg" || fields["content-type"] != "audio/ogg" {
				t.Errorf("request fields = %v", fields)
			}
		})
	}
}

func TestTranscribeMissingFile(t *testing.T) {
	t.Parallel()
	tr := media.NewTranscriber(media.TranscriberConfig{BaseURL: "http://127.0.0.1:1/v1"})
	if _, err := tr.Transcribe(context.Background(), filepath.Join(t.TempDir(), "none.ogg"), ""); err == nil {
		t.Fatal("Transcribe of a missing file succeeded")
	}
}

// TestTranscribePrompt: a prompt set on the context reaches the service
// as Whisper's prompt field; without one, no prompt is sent.
func TestTranscribePrompt(t *testing.T) {
	t.Parallel()
	audio := filepath.Join(t.TempDir(), "chunk-0001.ogg")
	if err := os.WriteFile(audio, []byte("OggS fake audio bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := &fakeSTT{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tr := media.NewTranscriber(media.TranscriberConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test"})
	for _, prompt := range []string{"Recap, yt-dlp, Postgres", ""} {
		if _, err := tr.Transcribe(media.WithSTTPrompt(context.Background(), prompt), audio, "en"); err != nil {
			t.Fatal(err)
		}
		fields := fake.lastReq.Load().(map[string]string)
		if got, sent := fields["prompt"]; got != prompt || (prompt == "" && sent) {
			t.Errorf("prompt %q: the service got %q (sent %v)", prompt, got, sent)
		}
	}
}

// TestTranscribeDiarized: with diarized_json the request carries what
// gpt-4o-transcribe-diarize needs (a chunking strategy; no prompt, no
// timestamp granularities) and the answer's speakers reach the segments.
func TestTranscribeDiarized(t *testing.T) {
	t.Parallel()
	audio := filepath.Join(t.TempDir(), "chunk-0001.ogg")
	if err := os.WriteFile(audio, []byte("OggS fake audio bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	var fields atomic.Value
	// An answer in the shape OpenAI documents for diarized_json.
	const answer = `{"task":"transcribe","duration":9.5,"text":"Hello there. Hi Alice. How are you?",
	"segments":[
	 {"type":"transcript.text.segment","id":"seg_001","start":0.0,"end":3.2,"text":" Hello there.","speaker":"Alice"},
	 {"type":"transcript.text.segment","id":"seg_002","start":3.2,"end":6.0,"text":"Hi Alice.","speaker":"B"},
	 {"type":"transcript.text.segment","id":"seg_003","start":6.0,"end":6.0,"text":"  ","speaker":"B"},
	 {"type":"transcript.text.segment","id":"seg_004","start":6.0,"end":9.5,"text":"How are you?","speaker":" Alice "}],
	"usage":{"type":"duration","seconds":10}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got := map[string]string{}
		for k, v := range r.MultipartForm.Value {
			got[k] = strings.Join(v, ",")
		}
		fields.Store(got)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	tr := media.NewTranscriber(media.TranscriberConfig{BaseURL: srv.URL + "/v1", Model: "gpt-4o-transcribe-diarize",
		ResponseFormat: media.STTDiarizedJSON})
	segs, err := tr.Transcribe(media.WithSTTPrompt(context.Background(), "Names: Alice"), audio, "en")
	if err != nil {
		t.Fatal(err)
	}
	assertSegments(t, segs, []recap.Segment{{Start: 0, End: 3.2, Text: "Hello there."}, {Start: 3.2, End: 6, Text: "Hi Alice."},
		{Start: 6, End: 9.5, Text: "How are you?"}})
	for i, want := range []string{"Alice", "B", "Alice"} {
		if segs[i].Speaker != want {
			t.Errorf("segment %d speaker %q, want %q", i, segs[i].Speaker, want)
		}
	}
	got := fields.Load().(map[string]string)
	if got["response_format"] != "diarized_json" || got["chunking_strategy"] != "auto" || got["model"] != "gpt-4o-transcribe-diarize" {
		t.Errorf("request fields = %v", got)
	}
	for _, k := range []string{"prompt", "timestamp_granularities[]", "timestamp_granularities"} {
		if _, ok := got[k]; ok {
			t.Errorf("the diarizing model refuses %s, yet it was sent: %v", k, got)
		}
	}
}

// TestDecodeTranscription: a speaker field per verbose_json segment is
// kept; a plain json answer becomes one segment.
func TestDecodeTranscription(t *testing.T) {
	t.Parallel()
	segs, err := media.DecodeTranscription([]byte(`{"text":"a b","duration":4,"segments":[
		{"id":0,"seek":0,"start":0,"end":2,"text":"a","speaker":"SPEAKER_00","tokens":[1]},
		{"id":1,"seek":0,"start":2,"end":4,"text":"b","tokens":[2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].Speaker != "SPEAKER_00" || segs[1].Speaker != "" || segs[1].Text != "b" {
		t.Errorf("verbose_json with speakers: %+v", segs)
	}
	segs, err = media.DecodeTranscription([]byte(`{"text":" whole text ","duration":7}`))
	if err != nil || len(segs) != 1 || segs[0] != (recap.Segment{Start: 0, End: 7, Text: "whole text"}) {
		t.Errorf("plain json: %+v, %v", segs, err)
	}
	if _, err := media.DecodeTranscription([]byte(`<html>`)); err == nil {
		t.Error("an HTML answer decoded")
	}
}
