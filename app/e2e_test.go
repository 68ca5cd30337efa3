package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap/app/apptest"
)

// subtitleLines are the loopback test video's subtitles: each must reach
// the model with its timestamp, and come back in the summary.
var subtitleLines = []struct{ ts, text string }{
	{"[00:01]", "Welcome to the Recap test video"},
	{"[00:08]", "First, subtitles are parsed into segments"},
	{"[00:14]", "Finally, long recordings are split at silences"},
}

func userMessage(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    "bibigpt",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

func checkSummary(t *testing.T, content string) {
	t.Helper()
	for _, l := range subtitleLines {
		if !strings.Contains(content, l.ts) {
			t.Errorf("summary lacks timestamp %s:\n%s", l.ts, content)
		}
	}
}

func TestChatCompletionEndToEnd(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()

	t.Run("non-stream", func(t *testing.T) {
		resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].FinishReason != "stop" {
			t.Fatalf("unexpected reply: %+v", resp)
		}
		checkSummary(t, resp.Choices[0].Message.Content)
		// The subtitle text and its timestamps reached the model.
		reqs := e.Fake.Requests()
		if len(reqs) == 0 {
			t.Fatal("the model was never called")
		}
		sent := reqs[len(reqs)-1].Text()
		for _, l := range subtitleLines {
			if !strings.Contains(sent, l.ts+" "+l.text) {
				t.Errorf("model input lacks %q", l.ts+" "+l.text)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		p := userMessage("Summarize in three bullets " + e.Host.PageURL())
		stream := e.Client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 3 {
			t.Fatalf("got %d chunks", chunks)
		}
		checkSummary(t, acc.Choices[0].Message.Content)
		if !strings.Contains(e.Fake.Requests()[len(e.Fake.Requests())-1].Text(), "Summarize in three bullets") {
			t.Error("custom prompt did not reach the model")
		}
	})

	t.Run("raw stream ends with DONE", func(t *testing.T) {
		body := `{"model":"bibigpt","stream":true,"refresh":true,"messages":[{"role":"user","content":[{"type":"video_url","video_url":"` + e.Host.PageURL() + `"},{"type":"text","text":"focus on testing"}]}]}`
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.HasSuffix(strings.TrimSpace(string(b)), "data: [DONE]") {
			t.Fatalf("status %d body %s", res.StatusCode, b)
		}
		if res.Header.Get("X-Recap-Job-Id") == "" {
			t.Error("no X-Recap-Job-Id header")
		}
		if !strings.Contains(string(b), `"object":"chat.completion.chunk"`) {
			t.Error("no chunks")
		}
	})
}

func TestNoSubtitlesWithoutSTT(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	_, err := e.Client.Chat.Completions.New(context.Background(), userMessage(e.Host.NoSubsPageURL()))
	var apiErr *openai.Error
	if !asAPIError(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "no_transcript" {
		t.Fatalf("want 400 no_transcript, got %v", err)
	}
	if !strings.Contains(apiErr.Message, "STT_BASE_URL") {
		t.Errorf("message does not say what to configure: %q", apiErr.Message)
	}
}

func asAPIError(err error, target **openai.Error) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

type errorShape struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestChatCompletionErrors(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	revoked, revokedSecret := e.NewKey(t, "revoked", 10)
	if err := e.Store.RevokeKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	page := e.Host.PageURL()
	cases := []struct {
		name   string
		auth   string
		body   string
		status int
		code   string
	}{
		{"malformed json", "Bearer " + e.Key, `{"messages":[`, 400, "invalid_json"},
		{"no messages", "Bearer " + e.Key, `{"model":"bibigpt","messages":[]}`, 400, "missing_messages"},
		{"messages missing", "Bearer " + e.Key, `{"model":"bibigpt"}`, 400, "missing_messages"},
		{"no video", "Bearer " + e.Key, `{"messages":[{"role":"user","content":"hello there"}]}`, 400, "missing_video_url"},
		{"ftp url part", "Bearer " + e.Key, `{"messages":[{"role":"user","content":[{"type":"video_url","video_url":"ftp://example.com/a.mp4"}]}]}`, 400, "invalid_url"},
		{"file url object", "Bearer " + e.Key, `{"messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"file:///etc/passwd"}}]}]}`, 400, "invalid_url"},
		{"exec as url", "Bearer " + e.Key, `{"messages":[{"role":"user","content":[{"type":"video_url","video_url":"--exec=touch /tmp/x"}]}]}`, 400, "invalid_url"},
		{"bad part type", "Bearer " + e.Key, `{"messages":[{"role":"user","content":[{"type":"audio","text":"x"}]}]}`, 400, "invalid_content_type"},
		{"unknown model", "Bearer " + e.Key, `{"model":"nope","messages":[{"role":"user","content":"` + page + `"}]}`, 404, "model_not_found"},
		{"missing key", "", `{"messages":[{"role":"user","content":"` + page + `"}]}`, 401, "invalid_api_key"},
		{"unknown key", "Bearer rcp_unknown", `{"messages":[{"role":"user","content":"` + page + `"}]}`, 401, "invalid_api_key"},
		{"revoked key", "Bearer " + revokedSecret, `{"messages":[{"role":"user","content":"` + page + `"}]}`, 401, "invalid_api_key"},
		{"not bearer", "Basic abc", `{"messages":[{"role":"user","content":"` + page + `"}]}`, 401, "invalid_api_key"},
	}
	var unauthorized [][]byte
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/chat/completions", strings.NewReader(c.body))
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, b)
			}
			var shape errorShape
			if err := json.Unmarshal(b, &shape); err != nil || shape.Error.Message == "" || shape.Error.Type == "" {
				t.Fatalf("not an error body: %s", b)
			}
			if shape.Error.Code == nil || *shape.Error.Code != c.code {
				t.Fatalf("code %v, want %s: %s", shape.Error.Code, c.code, b)
			}
			if c.status == 401 {
				unauthorized = append(unauthorized, b)
			}
		})
	}
	for _, b := range unauthorized[1:] {
		if !bytes.Equal(b, unauthorized[0]) {
			t.Errorf("401 bodies differ:\n%s\n%s", b, unauthorized[0])
		}
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	page, err := e.Client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range page.Data {
		ids[m.ID] = true
	}
	for _, want := range []string{"bibigpt", "bibigpt/fake-model", "bibigpt/recap-extractive"} {
		if !ids[want] {
			t.Errorf("models lack %s: %v", want, ids)
		}
	}
}

// TestNoSubtitlesSpeechToText: a video without subtitles is transcribed by
// the speech-to-text service; the summary's timestamps come from its
// segments.
func TestNoSubtitlesSpeechToText(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	resp, err := e.Client.Chat.Completions.New(context.Background(), userMessage(e.Host.NoSubsPageURL()))
	if err != nil {
		t.Fatal(err)
	}
	content := resp.Choices[0].Message.Content
	if e.Fake.TranscriptionCalls() != 1 {
		t.Fatalf("%d transcription calls", e.Fake.TranscriptionCalls())
	}
	// The fake transcribes in 5-second segments: their starts are the
	// timestamps the summary must show.
	for _, ts := range []string{"[00:00]", "[00:05]", "[00:10]", "[00:15]"} {
		if !strings.Contains(content, ts) {
			t.Errorf("summary lacks %s from the transcribed segments:\n%s", ts, content)
		}
	}
}

// TestRevokedKeyStopsWorking: a key the API has been answering (and so
// caches) is refused soon after its revocation commits, whether it was
// revoked through Recap or by SQL. The revocation is announced to the API
// asynchronously, so the test watches for the refusal with a deadline.
func TestRevokedKeyStopsWorking(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	ctx := context.Background()
	for _, viaSQL := range []bool{false, true} {
		k, secret := e.NewKey(t, fmt.Sprint("revoke-sql-", viaSQL), 10)
		for range 3 {
			if res, b := call(t, http.MethodGet, e.URL+"/models", secret, ""); res.StatusCode != 200 {
				t.Fatalf("before revocation: %d %s", res.StatusCode, b)
			}
		}
		var err error
		if viaSQL {
			_, err = e.Store.Pool().Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k.ID)
		} else {
			err = e.Store.RevokeKey(ctx, k.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		revokedAt := time.Now()
		for {
			res, b := call(t, http.MethodGet, e.URL+"/models", secret, "")
			if res.StatusCode == 401 {
				t.Logf("refused %v after the revocation committed", time.Since(revokedAt).Round(time.Millisecond))
				break
			}
			if res.StatusCode != 200 {
				t.Fatalf("after revocation: %d %s", res.StatusCode, b)
			}
			if time.Since(revokedAt) > 5*time.Second {
				t.Fatal("revoked key still accepted 5 s after its revocation")
			}
		}
	}
	// The other keys still work.
	if res, b := call(t, http.MethodGet, e.URL+"/models", e.Key, ""); res.StatusCode != 200 {
		t.Fatalf("other key: %d %s", res.StatusCode, b)
	}
}
