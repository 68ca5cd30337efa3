package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// v1Client is openai-go configured as chat front-ends are: a base URL
// ending in /v1.
func v1Client(e *apptest.Env, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.Server.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func TestV1BaseURLDoor(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	c := v1Client(e, e.Key)

	t.Run("chat", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()))
		if err != nil {
			t.Fatal(err)
		}
		checkSummary(t, resp.Choices[0].Message.Content)
	})
	t.Run("chat stream", func(t *testing.T) {
		stream := c.Chat.Completions.NewStreaming(ctx, userMessage("In two lines "+e.Host.PageURL()))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		checkSummary(t, acc.Choices[0].Message.Content)
	})
	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if !slices.Contains(ids, "bibigpt") || !slices.Contains(ids, "bibigpt/fake-model") {
			t.Fatalf("models: %v", ids)
		}
		m, err := c.Models.Get(ctx, "bibigpt")
		if err != nil || m.ID != "bibigpt" || m.Object != "model" {
			t.Fatalf("models.get(bibigpt) = %+v, %v", m, err)
		}
		// Ids with a slash are one path parameter.
		if m, err := c.Models.Get(ctx, "bibigpt/recap-extractive"); err != nil || m.ID != "bibigpt/recap-extractive" {
			t.Fatalf("models.get(bibigpt/recap-extractive) = %+v, %v", m, err)
		}
		_, err = c.Models.Get(ctx, "gpt-nope")
		var apiErr *openai.Error
		if !errorAs(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("unknown model: %v", err)
		}
	})
	t.Run("responses", func(t *testing.T) {
		r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Summarize " + e.Host.PageURL())}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "completed" || r.Object != "response" {
			t.Fatalf("response: status %q object %q", r.Status, r.Object)
		}
		checkSummary(t, r.OutputText())
		if r.Usage.OutputTokens == 0 {
			t.Errorf("usage not reported: %+v", r.Usage)
		}
	})
	t.Run("responses stream", func(t *testing.T) {
		stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Key points of " + e.Host.PageURL())}})
		var types []string
		var text strings.Builder
		var final responses.Response
		for stream.Next() {
			ev := stream.Current()
			if len(types) == 0 || types[len(types)-1] != ev.Type {
				types = append(types, ev.Type)
			}
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		checkSummary(t, text.String())
		if final.OutputText() != text.String() {
			t.Errorf("completed response text differs from the deltas")
		}
		// The documented order, with progress as reasoning summary events.
		want := []string{"response.created", "response.in_progress", "response.output_item.added",
			"response.reasoning_summary_part.added", "response.reasoning_summary_text.delta"}
		if len(types) < len(want) || !slices.Equal(types[:len(want)], want) {
			t.Errorf("event order: %v", types)
		}
		tail := []string{"response.output_text.delta", "response.output_text.done", "response.content_part.done",
			"response.output_item.done", "response.completed"}
		if len(types) < len(tail) || !slices.Equal(types[len(types)-len(tail):], tail) {
			t.Errorf("event order (end): %v", types)
		}
		if !slices.Contains(types, "response.content_part.added") {
			t.Errorf("no content_part.added: %v", types)
		}
	})
}

func errorAs(err error, target **openai.Error) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestRoutesNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	cases := []struct {
		name, method, path string
		status             int
		code, allow, says  string
	}{
		{"unknown path names the base paths", "GET", "/chat/completions", 404, "not_found", "", "/api/v1"},
		{"unknown v1 path", "POST", "/v1/nope", 404, "not_found", "", "/v1/chat/completions"},
		{"wrong method on chat", "GET", "/v1/chat/completions", 405, "method_not_allowed", "POST", ""},
		{"wrong method on jobs", "PUT", "/api/v1/jobs", 405, "method_not_allowed", "GET, POST", ""},
		{"wrong method on a job", "POST", "/api/v1/jobs/abc", 405, "method_not_allowed", "GET, DELETE", ""},
		{"unknown model", "GET", "/api/v1/models/nope", 404, "model_not_found", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.Server.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Message, Code string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != tc.code {
				t.Fatalf("got %d %q, want %d %q (%s)", resp.StatusCode, body.Error.Code, tc.status, tc.code, body.Error.Message)
			}
			if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
				t.Errorf("Allow = %q, want %q", resp.Header.Get("Allow"), tc.allow)
			}
			if !strings.Contains(body.Error.Message, tc.says) {
				t.Errorf("message %q does not say %q", body.Error.Message, tc.says)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) {
		c.CORSOrigins = []string{"https://app.example.com"}
	}})
	preflight := func(origin, path, method string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.Server.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/api/v1/chat/completions", "/v1/chat/completions", "/v1/responses", "/api/v1/jobs"} {
		resp := preflight("https://app.example.com", path, "POST")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("%s: preflight from the allowed origin: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	resp := preflight("https://evil.example.net", "/api/v1/chat/completions", "POST")
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("preflight from another origin got %s", k)
		}
	}
	// A real request from the allowed origin can read the job id header.
	req, _ := http.NewRequest("GET", e.Server.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Authorization", "Bearer "+e.Key)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r2.Body) //nolint:errcheck
	r2.Body.Close()
	if r2.StatusCode != 200 || !strings.Contains(r2.Header.Get("Access-Control-Expose-Headers"), "X-Recap-Job-Id") ||
		!strings.Contains(r2.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("GET from the allowed origin: %d %v", r2.StatusCode, r2.Header)
	}
}

// mcpBearer adds an API key to every request of an MCP client.
type mcpBearer struct {
	key string
	rt  http.RoundTripper
}

func (b mcpBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.rt.RoundTrip(r)
}

func mcpSession(t *testing.T, e *apptest.Env, key string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "recap-test", Version: "1"}, opts)
	tr := &mcp.StreamableClientTransport{Endpoint: e.Server.URL + "/mcp",
		HTTPClient: &http.Client{Transport: mcpBearer{key: key, rt: http.DefaultTransport}}}
	cs, err := client.Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestMCPDoor(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	// The client handles notifications on goroutines of their own, so the
	// last ones may arrive after the tool's result: they are collected
	// under a lock and the 100 is awaited.
	var (
		progressMu sync.Mutex
		progress   []float64
		complete   = make(chan struct{})
	)
	cs := mcpSession(t, e, e.Key, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		progressMu.Lock()
		defer progressMu.Unlock()
		progress = append(progress, r.Params.Progress)
		if r.Params.Progress == 100 {
			close(complete)
		}
	}})

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if tl.InputSchema == nil {
			t.Errorf("%s has no input schema", tl.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"ask_video", "get_job", "get_transcript", "list_subscriptions", "subscribe", "summarize_video", "unsubscribe"}; !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}

	params := &mcp.CallToolParams{Name: "summarize_video", Arguments: map[string]any{"url": e.Host.PageURL()}}
	params.SetProgressToken("p1")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("summarize_video failed: %s", toolText(res))
	}
	checkSummary(t, toolText(res))
	out, _ := json.Marshal(res.StructuredContent)
	var so struct {
		JobID string `json:"job_id"`
	}
	if json.Unmarshal(out, &so); so.JobID == "" {
		t.Fatalf("no job id in %s", out)
	}
	select {
	case <-complete:
	case <-time.After(10 * time.Second):
	}
	progressMu.Lock()
	if len(progress) == 0 || progress[len(progress)-1] != 100 || !slices.IsSorted(progress) {
		t.Errorf("progress notifications: %v", progress)
	}
	progressMu.Unlock()

	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_transcript", Arguments: map[string]any{"job_id": so.JobID, "format": "srt"}})
	if err != nil || res.IsError || !strings.Contains(toolText(res), "00:00:08") {
		t.Fatalf("get_transcript: %v %s", err, toolText(res))
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_transcript", Arguments: map[string]any{"url": e.Host.PageURL()}})
	if err != nil || res.IsError || !strings.Contains(toolText(res), "First, subtitles are parsed") {
		t.Fatalf("get_transcript by url: %v %s", err, toolText(res))
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_job", Arguments: map[string]any{"job_id": so.JobID}})
	if err != nil || res.IsError || !strings.Contains(toolText(res), `"succeeded"`) {
		t.Fatalf("get_job: %v %s", err, toolText(res))
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask_video", Arguments: map[string]any{"url": e.Host.PageURL(), "question": "What is split at silences?"}})
	if err != nil || res.IsError || toolText(res) == "" {
		t.Fatalf("ask_video: %v %s", err, toolText(res))
	}

	// A key without credit gets a tool error naming the code.
	_, poor := e.NewKey(t, "poor", 0)
	cs2 := mcpSession(t, e, poor, nil)
	res, err = cs2.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video", Arguments: map[string]any{"url": e.Host.NoSubsPageURL()}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(toolText(res), "insufficient_quota") {
		t.Fatalf("no-credit key: isError=%v %s", res.IsError, toolText(res))
	}

	// Without a key, the endpoint answers 401.
	resp, err := http.Post(e.Server.URL+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
}
