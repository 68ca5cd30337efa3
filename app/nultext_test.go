package app_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// TestNULInputs: text Postgres cannot store never reaches it. A request
// field holding a NUL or invalid UTF-8 is a 400 (OAuth's shapes on its
// routes, invalid_text naming the field elsewhere); a page whose <title>
// holds a NUL is summarized, its title stored without it.
func TestNULInputs(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()

	t.Run("authorize client_id", func(t *testing.T) {
		t.Parallel()
		res, b := call(t, http.MethodGet, e.Server.URL+"/api/auth/authorize?response_type=code&client_id=%00abc", "", "")
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "client_id") {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
	t.Run("token client_id", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/api/auth/token",
			strings.NewReader("grant_type=authorization_code&code=x&client_id=%ff"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(buf.String(), `"invalid_request"`) ||
			!strings.Contains(buf.String(), "client_id") {
			t.Fatalf("%d %s", res.StatusCode, buf.String())
		}
	})
	t.Run("transcription model", func(t *testing.T) {
		t.Parallel()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("model", "whisper\x00-1")
		fw, _ := mw.CreateFormFile("file", "talk.webm")
		_, _ = fw.Write([]byte("not really audio"))
		_ = mw.Close()
		res, b := call(t, http.MethodPost, e.URL+"/audio/transcriptions", e.Key, body.String(), "Content-Type", mw.FormDataContentType())
		if ae := decodeAPIError(t, b); res.StatusCode != http.StatusBadRequest || *ae.Error.Code != "invalid_text" ||
			ae.Error.Param == nil || *ae.Error.Param != "model" || ae.Error.Type != "invalid_request_error" {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
	t.Run("page title", func(t *testing.T) {
		t.Parallel()
		const path = "/nul-title.html"
		e.Host.Serve(path, mediatest.PageHandler("Recap\x00 NUL talk", mediatest.MediaPath[1:], mediatest.SubtitlePath[1:]))
		page := e.Host.URL(path)
		reply, err := e.Client.Chat.Completions.New(ctx, userMessage(page))
		if err != nil {
			t.Fatal(err)
		}
		checkSummary(t, reply.Choices[0].Message.Content)
		var state, title string
		if err := e.Store.Pool().QueryRow(ctx, `SELECT state, title FROM jobs WHERE url = $1`, page).Scan(&state, &title); err != nil {
			t.Fatal(err)
		}
		// yt-dlp's generic extractor numbers a page's videos ("… (1)").
		if state != recap.StateSucceeded || !strings.HasPrefix(title, "Recap NUL talk") || strings.ContainsRune(title, 0) {
			t.Fatalf("job %s, title %q", state, title)
		}
		var vtitle string
		if err := e.Store.Pool().QueryRow(ctx, `SELECT title FROM videos WHERE url = $1`, page).Scan(&vtitle); err != nil || vtitle != title {
			t.Fatalf("video title %q (%v)", vtitle, err)
		}
	})
}
