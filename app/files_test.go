package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

func talkWebm(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.webm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileMessage(part openai.ChatCompletionContentPartFileFileParam, prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "bibigpt", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(prompt), openai.FileContentPart(part)}),
	}}
}

func apiCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.Error
	if !errorAs(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

// TestFilesEndToEnd drives uploads with openai-go's own clients: Files
// (new, get, list, delete), a chat completion with the file part, inline
// file_data, ownership, and content probing.
func TestFilesEndToEnd(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	talk := talkWebm(t)

	f, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talk), "meeting.webm", "audio/webm"),
		Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.ID, "file-") || f.Bytes != int64(len(talk)) || f.Filename != "meeting.webm" || f.Purpose != "user_data" {
		t.Fatalf("file: %+v", f)
	}
	if f.ExpiresAt == 0 {
		t.Errorf("file has no expiry (FILE_TTL_HOURS default)")
	}
	got, err := e.Client.Files.Get(ctx, f.ID)
	if err != nil || got.ID != f.ID || got.Bytes != f.Bytes {
		t.Fatalf("get: %+v %v", got, err)
	}
	page, err := e.Client.Files.List(ctx, openai.FileListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != f.ID {
		t.Fatalf("list: %+v %v", page, err)
	}

	t.Run("chat with the file part", func(t *testing.T) {
		resp, err := e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String(f.ID)}, "Summarize this recording"))
		if err != nil {
			t.Fatal(err)
		}
		content := resp.Choices[0].Message.Content
		// The fake speech-to-text's words, with their timestamps, reached
		// the model and came back.
		if !strings.Contains(content, "[00:00]") || !strings.Contains(content, "[00:05]") {
			t.Fatalf("summary lacks the file's timestamps:\n%s", content)
		}
		calls := e.Fake.TranscriptionCalls()
		if calls == 0 {
			t.Fatal("speech-to-text was never called")
		}
		// The same recording uploaded again (another name, another id) is
		// the same content: its transcript is reused.
		again, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talk), "copy.webm", "audio/webm"),
			Purpose: openai.FilePurposeUserData})
		if err != nil {
			t.Fatal(err)
		}
		if again.ID == f.ID {
			t.Fatal("a second upload got the first one's id")
		}
		if _, err := e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String(again.ID)}, "In three bullet points")); err != nil {
			t.Fatal(err)
		}
		if n := e.Fake.TranscriptionCalls(); n != calls {
			t.Fatalf("the same content was transcribed again: %d calls, then %d", calls, n)
		}
	})

	t.Run("inline file_data", func(t *testing.T) {
		data := "data:audio/webm;base64," + base64.StdEncoding.EncodeToString(talk)
		resp, err := e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileData: openai.String(data),
			Filename: openai.String("inline.webm")}, "Summarize"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(resp.Choices[0].Message.Content, "[00:00]") {
			t.Fatalf("summary: %s", resp.Choices[0].Message.Content)
		}
	})

	t.Run("another key's file is 404", func(t *testing.T) {
		_, other := e.NewKey(t, "other", 60)
		oc := e.ClientFor(other)
		_, err := oc.Files.Get(ctx, f.ID)
		apiCode(t, err, 404, "file_not_found")
		_, err = oc.Files.Delete(ctx, f.ID)
		apiCode(t, err, 404, "file_not_found")
		_, err = oc.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String(f.ID)}, "Summarize"))
		apiCode(t, err, 404, "file_not_found")
		if page, err := oc.Files.List(ctx, openai.FileListParams{}); err != nil || len(page.Data) != 0 {
			t.Fatalf("other key lists %+v, %v", page, err)
		}
	})

	t.Run("a text file named .mp3 is refused", func(t *testing.T) {
		_, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("Minutes of the meeting.\nNothing to hear here.\n"),
			"minutes.mp3", "audio/mpeg"), Purpose: openai.FilePurposeUserData})
		apiCode(t, err, 400, "unsupported_file")
		_, err = e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talk), "a.webm", "audio/webm"),
			Purpose: openai.FilePurposeBatch})
		apiCode(t, err, 400, "invalid_purpose")
		// Neither attempt left a file behind.
		if page, err := e.Client.Files.List(ctx, openai.FileListParams{Purpose: openai.String("batch")}); err != nil || len(page.Data) != 0 {
			t.Fatalf("refused uploads listed: %+v %v", page, err)
		}
	})

	t.Run("bad file parts", func(t *testing.T) {
		_, err := e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String("../etc/passwd")}, "x"))
		apiCode(t, err, 400, "invalid_file_id")
		_, err = e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String("file-doesnotexist")}, "x"))
		apiCode(t, err, 404, "file_not_found")
		_, err = e.Client.Chat.Completions.New(ctx, fileMessage(openai.ChatCompletionContentPartFileFileParam{FileData: openai.String("data:audio/webm;base64,!!!")}, "x"))
		apiCode(t, err, 400, "invalid_file_data")
	})

	t.Run("delete", func(t *testing.T) {
		d, err := e.Client.Files.Delete(ctx, f.ID)
		if err != nil || !d.Deleted || d.ID != f.ID {
			t.Fatalf("delete: %+v %v", d, err)
		}
		_, err = e.Client.Files.Get(ctx, f.ID)
		apiCode(t, err, 404, "file_not_found")
	})
}

// TestTranscriptionsEndpoint is Whisper's endpoint through openai-go:
// json, verbose_json with segments, srt and text.
func TestTranscriptionsEndpoint(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	talk := talkWebm(t)
	params := func(format openai.AudioResponseFormat) openai.AudioTranscriptionNewParams {
		return openai.AudioTranscriptionNewParams{File: openai.File(bytes.NewReader(talk), "talk.webm", "audio/webm"),
			Model: openai.AudioModel("whisper-1"), ResponseFormat: format, Language: openai.String("en")}
	}
	r, err := e.Client.Audio.Transcriptions.New(ctx, params(openai.AudioResponseFormatJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "spoken words at 0 ") || !strings.Contains(r.Text, "spoken words at 20 ") {
		t.Fatalf("json text: %q", r.Text)
	}
	p := params(openai.AudioResponseFormatVerboseJSON)
	p.TimestampGranularities = []string{"segment"}
	v, err := e.Client.Audio.Transcriptions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Segments) != 5 || v.Segments[1].Start != 5 || v.Language != "en" || math.Abs(v.Duration-21.7) > 0.5 {
		t.Fatalf("verbose_json: %d segments, %+v", len(v.Segments), v)
	}
	var srt string
	if err := e.Client.Post(ctx, "audio/transcriptions", params(openai.AudioResponseFormatSRT), &srt); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srt, "1\n00:00:00,000 --> 00:00:05,000\nspoken words at 0 ") {
		t.Fatalf("srt:\n%s", srt)
	}
	var text string
	if err := e.Client.Post(ctx, "audio/transcriptions", params(openai.AudioResponseFormatText), &text); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(text) != r.Text {
		t.Fatalf("text %q, json text %q", text, r.Text)
	}
	bad := params(openai.AudioResponseFormatJSON)
	bad.File = openai.File(strings.NewReader("just words"), "talk.wav", "audio/wav")
	_, err = e.Client.Audio.Transcriptions.New(ctx, bad)
	apiCode(t, err, 400, "unsupported_file")
	bad = params("docx")
	_, err = e.Client.Audio.Transcriptions.New(ctx, bad)
	apiCode(t, err, 400, "invalid_response_format")
}

// TestTranscriptionLongFile transcribes a 22-minute upload in chunks, in
// parallel, stitched with their offsets.
func TestTranscriptionLongFile(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) { c.STTChunkSeconds = 300 }})
	ctx := context.Background()
	path := mediatest.GenerateLongAudio(t, 22)
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	v, err := e.Client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{File: openai.File(fh, "lecture.ogg", "audio/ogg"),
		Model: openai.AudioModel("whisper-1"), ResponseFormat: openai.AudioResponseFormatVerboseJSON})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Fake.TranscriptionCalls(); n < 4 {
		t.Fatalf("%d speech-to-text calls for 22 minutes in 5-minute chunks", n)
	}
	last := v.Segments[len(v.Segments)-1]
	if math.Abs(v.Duration-1320) > 2 || last.End < 1300 {
		t.Fatalf("duration %.1f, last segment %+v", v.Duration, last)
	}
	for i := 1; i < len(v.Segments); i++ {
		if v.Segments[i].Start < v.Segments[i-1].Start {
			t.Fatalf("segments out of order at %d", i)
		}
	}
	bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	// Billed by the minute, rounded up, on the duration measured at upload.
	want := int64(math.Ceil(v.Duration/60)) * 60
	if bal.UsedThisMonth != want || want < 22*60 || bal.Held != 0 {
		t.Fatalf("used %d seconds (held %d) for %.2f s, want %d", bal.UsedThisMonth, bal.Held, v.Duration, want)
	}
}

// zeroReader is an endless stream of zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestUploadCap streams a 3 GB upload at a 64 MiB cap: it is refused once
// past the cap, and the server's heap does not grow with it.
func TestUploadCap(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.MaxUploadBytes = 64 << 20 }})
	pr, pw := io.Pipe()
	boundary := "recapboundary"
	go func() {
		head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n--" + boundary +
			"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
		if _, err := io.WriteString(pw, head); err != nil {
			return
		}
		_, err := io.Copy(pw, io.LimitReader(zeroReader{}, 3<<30))
		pw.CloseWithError(err)
	}()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/files", pr)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(openAIShaped(b), &body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body.Error.Code != "file_too_large" {
		t.Fatalf("status %d, %+v", resp.StatusCode, body)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Fatalf("heap grew by %d MiB during a streamed upload", grown>>20)
	}
}
