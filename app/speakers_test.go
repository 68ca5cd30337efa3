package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// TestSpeakers: with STT_RESPONSE_FORMAT=diarized_json the fake
// speech-to-text labels its segments Alice and Bob in turn; the labels
// reach the stored transcript, every export of it, the Whisper route's
// verbose_json and the prompt the model received.
func TestSpeakers(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) {
		c.STTModel = "gpt-4o-transcribe-diarize"
		c.STTResponseFormat = media.STTDiarizedJSON
	}})
	e.Fake.SetSpeakers("Alice", "Bob")
	res, b := post(t, e, "/jobs", e.Key, `{"urls":["`+e.Host.NoSubsPageURL()+`"]}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", res.StatusCode, b)
	}
	var created struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
		t.Fatalf("created %s", b)
	}
	id := created.Data[0].ID
	if v := waitJob(t, e, e.Key, id); v["state"] != "succeeded" {
		t.Fatalf("job: %v", v)
	}

	// The fake answers 5-second segments, "spoken words at <start> <tag>".
	for format, wants := range map[string][]string{
		"txt":  {"[00:00] Alice: spoken words at 0 ", "[00:05] Bob: spoken words at 5 ", "[00:10] Alice: spoken words at 10 "},
		"srt":  {"00:00:00,000 --> 00:00:05,000\nAlice: spoken words at 0 ", "00:00:05,000 --> 00:00:10,000\nBob: spoken words at 5 "},
		"vtt":  {"00:00:00.000 --> 00:00:05.000\n<v Alice>spoken words at 0 ", "<v Bob>spoken words at 5 "},
		"json": {`"speaker":"Alice"`, `"speaker":"Bob"`},
	} {
		res, b := do(t, e, http.MethodGet, "/transcripts/"+id+"?format="+format, e.Key, "", nil)
		for _, want := range wants {
			if res.StatusCode != 200 || !strings.Contains(string(b), want) {
				t.Errorf("transcript %s lacks %q: %d %s", format, want, res.StatusCode, b)
			}
		}
	}

	// The model read who said what.
	var prompt string
	for _, r := range e.Fake.Requests() {
		prompt += r.Text()
	}
	for _, want := range []string{"[00:00] Alice: spoken words at 0 ", "[00:05] Bob: spoken words at 5 "} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the model's prompt lacks %q:\n%s", want, prompt)
		}
	}

	// The Whisper-compatible route's verbose_json and diarized_json carry
	// the speakers.
	for _, format := range []string{"verbose_json", "diarized_json"} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range map[string]string{"url": e.Host.NoSubsPageURL(), "model": "whisper-1", "response_format": format} {
			_ = mw.WriteField(k, v)
		}
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/audio/transcriptions", &buf)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		hres, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		vb, _ := io.ReadAll(hres.Body)
		hres.Body.Close()
		var out struct {
			Segments []struct {
				Start   float64 `json:"start"`
				Text    string  `json:"text"`
				Speaker string  `json:"speaker"`
			} `json:"segments"`
		}
		if err := json.Unmarshal(vb, &out); err != nil || hres.StatusCode != 200 || len(out.Segments) < 2 {
			t.Fatalf("%s: %d %s", format, hres.StatusCode, vb)
		}
		if out.Segments[0].Speaker != "Alice" || out.Segments[1].Speaker != "Bob" {
			t.Errorf("%s speakers: %s", format, vb)
		}
	}
}

// TestSpeakersAcrossChunks: audio cut into several chunks is diarized
// first chunk first; every later chunk goes out with clips (2 to 10 s) of
// the first chunk's speakers as known speakers, so the labels agree.
func TestSpeakersAcrossChunks(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) {
		c.STTModel = "gpt-4o-transcribe-diarize"
		c.STTResponseFormat = media.STTDiarizedJSON
		c.STTChunkSeconds = 30
	}})
	fh, err := os.Open(mediatest.GenerateLongAudio(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	v, err := e.Client.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{
		File: openai.File(fh, "panel.ogg", "audio/ogg"), Model: openai.AudioModel("whisper-1"), ResponseFormat: openai.AudioResponseFormatVerboseJSON})
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.Fake.STTRequests()
	if len(reqs) < 4 {
		t.Fatalf("%d diarized requests for 2 minutes in 30-second chunks: %+v", len(reqs), reqs)
	}
	if len(reqs[0].KnownSpeakers) != 0 {
		t.Errorf("the first chunk went out with known speakers: %+v", reqs[0])
	}
	for i, r := range reqs[1:] {
		if strings.Join(r.KnownSpeakers, ",") != "A,B" || len(r.ReferenceSeconds) != 2 {
			t.Errorf("chunk request %d: %+v, want the first chunk's A and B as known speakers", i+1, r)
		}
	}
	var raw struct {
		Segments []struct {
			Speaker string `json:"speaker"`
		} `json:"segments"`
	}
	if err := json.Unmarshal([]byte(v.RawJSON()), &raw); err != nil || len(raw.Segments) < 20 {
		t.Fatalf("segments: %v %s", err, v.RawJSON())
	}
	for i, s := range raw.Segments {
		if s.Speaker != "A" && s.Speaker != "B" {
			t.Errorf("segment %d speaker %q", i, s.Speaker)
		}
	}
}
