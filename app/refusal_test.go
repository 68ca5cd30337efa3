package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// TestProviderRefusalFailsAtOnce: an LLM answering 400 fails the job at
// once (no retries: the next attempt is an hour away, so a retry would
// show as a 504) with upstream_rejected: a chat completion gets 502 with
// x-should-retry: false; a non-stream Responses call gets HTTP 200 with
// the response's status "failed" and the error, as OpenAI reports it.
func TestProviderRefusalFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.MaxRetry = 3
		c.RetryDelay = time.Hour
		c.SyncWait = time.Minute
	}})
	e.Fake.SetChatError(http.StatusBadRequest)
	send := func(path, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, b := send("/chat/completions", `{"model":"bibigpt","messages":[{"role":"user","content":"`+e.Host.PageURL()+`"}]}`)
	var ce struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if res.StatusCode != http.StatusBadGateway || json.Unmarshal(b, &ce) != nil || ce.Error.Code != "upstream_rejected" ||
		res.Header.Get("X-Should-Retry") != "false" {
		t.Fatalf("chat: %d %s (x-should-retry %q), want 502 upstream_rejected, false", res.StatusCode, b, res.Header.Get("X-Should-Retry"))
	}

	res, b = send("/responses", `{"model":"bibigpt","input":"In one line: `+e.Host.PageURL()+`"}`)
	var ro struct {
		Status string `json:"status"`
		Error  *struct {
			Code, Message string
		} `json:"error"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &ro) != nil || ro.Status != "failed" || ro.Error == nil || ro.Error.Code != "upstream_rejected" {
		t.Fatalf("responses: %d %s, want 200 status failed with upstream_rejected", res.StatusCode, b)
	}
	if res.Header.Get("X-Recap-Job-Id") == "" {
		t.Error("a failed response without X-Recap-Job-Id")
	}
}
