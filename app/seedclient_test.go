package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/recap/recap/api/seedclient"
	"github.com/recap/recap/app/apptest"
)

// TestSeedClient calls /api/v1 with a client generated from the seed's
// OpenAPI (api/seedclient, oapi-codegen): its 400, 401 and 429 decode as
// the seed declares them, "error" a string holding the message, with the
// machine-readable fields beside it.
func TestSeedClient(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	_, broke := e.NewKey(t, "broke", 0)
	ctx := context.Background()
	client := func(key string) *seedclient.ClientWithResponses {
		c, err := seedclient.NewClientWithResponses(e.Server.URL, seedclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	body := func(text string) seedclient.PostApiV1ChatCompletionsJSONRequestBody {
		var content seedclient.PostApiV1ChatCompletionsJSONBody_Messages_Content
		if err := content.FromPostApiV1ChatCompletionsJSONBodyMessagesContent0(text); err != nil {
			t.Fatal(err)
		}
		var b seedclient.PostApiV1ChatCompletionsJSONRequestBody
		b.Messages = append(b.Messages, struct {
			Content seedclient.PostApiV1ChatCompletionsJSONBody_Messages_Content `json:"content"`
			Role    seedclient.PostApiV1ChatCompletionsJSONBodyMessagesRole      `json:"role"`
		}{Content: content, Role: "user"})
		return b
	}
	for _, tc := range []struct {
		name, key, text, code string
		status                int
		retry                 string
		seedError             func(*seedclient.PostApiV1ChatCompletionsResponse) *string
	}{
		{"400 no video", e.Key, "hello, no link here", "missing_video_url", 400, "false",
			func(r *seedclient.PostApiV1ChatCompletionsResponse) *string { return errorField(r.JSON400) }},
		{"401 bad key", "rcp_not_a_key", e.Host.PageURL(), "invalid_api_key", 401, "false",
			func(r *seedclient.PostApiV1ChatCompletionsResponse) *string { return errorField(r.JSON401) }},
		{"429 no credit", broke, e.Host.PageURL(), "insufficient_quota", 429, "false",
			func(r *seedclient.PostApiV1ChatCompletionsResponse) *string { return errorField(r.JSON429) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := client(tc.key).PostApiV1ChatCompletionsWithResponse(ctx, body(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			msg := tc.seedError(res)
			if res.StatusCode() != tc.status || msg == nil || *msg == "" {
				t.Fatalf("%d %s: want %d with the seed's string error", res.StatusCode(), res.Body, tc.status)
			}
			var beside struct {
				Code string `json:"code"`
				Type string `json:"type"`
			}
			if err := json.Unmarshal(res.Body, &beside); err != nil || beside.Code != tc.code || beside.Type == "" {
				t.Errorf("body %s: want code %s and a type beside the message", res.Body, tc.code)
			}
			if got := res.HTTPResponse.Header.Get("X-Should-Retry"); got != tc.retry {
				t.Errorf("x-should-retry %q, want %q", got, tc.retry)
			}
		})
	}
}

// errorField is the seed's "error" string of a decoded error reply.
func errorField(v *struct {
	Error *string `json:"error,omitempty"`
}) *string {
	if v == nil {
		return nil
	}
	return v.Error
}
