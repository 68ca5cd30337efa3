package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// TestDisguisedPlaylistsNeverRead: a URL that answers video/mp4 (or
// audio/mpeg) with an HLS playlist, a DASH manifest or an ffconcat list
// naming a local file on the worker — by file:// URL or by a path relative
// to the download — fails unsupported_media through every door (the jobs
// API, chat, /v1/audio/transcriptions -F url=…), and frames for a page
// whose video is such a file are none; the local file (the canary, a real
// 13.37-second clip two directories above the downloads) is never opened
// by any process, and speech-to-text never receives a byte.
func TestDisguisedPlaylistsNeverRead(t *testing.T) {
	t.Parallel()
	// Short retries: were a disguise ever taken for a passing failure,
	// the jobs would still end soon, and the canary be checked.
	e := apptest.Start(t, apptest.Options{STT: true, Configure: func(c *app.Config) { c.RetryDelay = 50 * time.Millisecond }})
	ctx := context.Background()
	root := strings.TrimSuffix(e.URL, "/api/v1")
	// Downloads land in TempDir/recap-job-*/audio-*/ and
	// TempDir/recap-frames-*/video-*/: the canary is "../.." from there.
	canary := mediatest.NewCanary(t, e.Config.TempDir)
	disguises := canary.Disguises("../..")
	serve := func(door string, d mediatest.Disguise) string {
		path := "/" + door + "/" + d.Name + ".mp4"
		e.Host.Serve(path, mediatest.BytesHandler(d.Name+".mp4", d.ContentType, d.Body, time.Unix(0, 0)))
		return e.Host.URL(path)
	}
	byName := func(name string) mediatest.Disguise {
		for _, d := range disguises {
			if d.Name == name {
				return d
			}
		}
		t.Fatalf("no disguise %s", name)
		return mediatest.Disguise{}
	}
	checkError := func(t *testing.T, what string, status int, b []byte) {
		t.Helper()
		ae := decodeAPIError(t, b)
		if status != http.StatusBadRequest || *ae.Error.Code != "unsupported_media" {
			t.Errorf("%s: %d %s, want 400 unsupported_media", what, status, b)
		}
		if strings.Contains(string(b), "13.37") {
			t.Errorf("%s: the answer shows the canary's length: %s", what, b)
		}
	}

	t.Run("jobs", func(t *testing.T) {
		var urls []string
		for _, d := range disguises {
			urls = append(urls, serve("jobs", d))
		}
		ids := e.SubmitBatch(t, "", urls...)
		for i, j := range e.WaitJobs(t, 3*time.Minute, ids...) {
			if j.State != "failed" || j.ErrorCode != "unsupported_media" {
				t.Errorf("%s: job %s %s %q, want failed unsupported_media", disguises[i].Name, j.State, j.ErrorCode, j.ErrorMessage)
			}
			res, b := do(t, e, http.MethodGet, "/jobs/"+j.ID, e.Key, "", nil)
			var v struct {
				Error struct{ Code string } `json:"error"`
			}
			if res.StatusCode != 200 || json.Unmarshal(b, &v) != nil || v.Error.Code != "unsupported_media" {
				t.Errorf("%s: GET /jobs/%s: %d %s", disguises[i].Name, j.ID, res.StatusCode, b)
			}
		}
	})

	t.Run("chat", func(t *testing.T) {
		url := serve("chat", byName("dash-relative"))
		_, err := e.Client.Chat.Completions.New(ctx, userMessage(url))
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Fatalf("chat: %v, want an API error", err)
		}
		if ae.StatusCode != http.StatusBadRequest || ae.Code != "unsupported_media" || strings.Contains(ae.Message, "13.37") {
			t.Errorf("chat: %d %s %q, want 400 unsupported_media", ae.StatusCode, ae.Code, ae.Message)
		}
	})

	t.Run("transcriptions", func(t *testing.T) {
		url := serve("stt", byName("id3-hls"))
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("url", url)
		_ = mw.WriteField("model", "whisper-1")
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, root+"/v1/audio/transcriptions", &buf)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		checkError(t, "transcription", res.StatusCode, b)
	})

	t.Run("frames", func(t *testing.T) {
		// The page's subtitles make the summary; its video, downloaded
		// for frames, is an HLS playlist naming the canary.
		video := serve("frames", byName("hls-relative"))
		e.Host.Serve("/frames/page.vtt", mediatest.BytesHandler("page.vtt", "text/vtt", mediatest.VideoClipVTT(), time.Unix(0, 0)))
		e.Host.Serve("/frames/page.html", mediatest.PageHandler("Disguised", video, "/frames/page.vtt"))
		var raw *http.Response
		resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.URL("/frames/page.html")),
			option.WithJSONSet("frames", true), option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Choices[0].Message.Content; strings.Contains(c, "![frame") {
			t.Errorf("the summary links frames:\n%s", c)
		}
		id := raw.Header.Get("X-Recap-Job-Id")
		res, b := do(t, e, http.MethodGet, "/jobs/"+id, e.Key, "", nil)
		var v struct {
			Frames     *int   `json:"frames"`
			FramesNote string `json:"frames_note"`
		}
		if res.StatusCode != 200 || json.Unmarshal(b, &v) != nil || v.Frames == nil || *v.Frames != 0 ||
			!strings.Contains(v.FramesNote, "not audio or video") {
			t.Errorf("job %s: %d %s, want no frames and a note saying the file is no media", id, res.StatusCode, b)
		}
		req, _ := http.NewRequest(http.MethodGet, root+"/v1/jobs/"+id+"/frames/1.jpg", nil)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		fr, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		fb, _ := io.ReadAll(fr.Body)
		fr.Body.Close()
		if fr.StatusCode != http.StatusNotFound {
			t.Errorf("frame 1: %d %s, want 404", fr.StatusCode, fb[:min(len(fb), 200)])
		}
	})

	canary.CheckUnread(t)
	if n := e.Fake.TranscriptionCalls(); n != 0 {
		t.Errorf("speech-to-text received %d requests", n)
	}
}
