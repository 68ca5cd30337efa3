package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// rpcAnswer is a JSON-RPC response as /mcp sends it (JSON or one SSE
// event).
type rpcAnswer struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result *struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
}

// mcpPost sends one raw body to /mcp and returns the status, the body
// and the JSON-RPC answer in it, if any.
func mcpPost(ctx context.Context, t *testing.T, e *apptest.Env, key, body string) (int, string, rpcAnswer) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.Server.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", rpcAnswer{}
		}
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw strings.Builder
	var ans rpcAnswer
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		raw.WriteString(line + "\n")
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			_ = json.Unmarshal([]byte(data), &ans)
		}
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		_ = json.Unmarshal([]byte(raw.String()), &ans)
	}
	return res.StatusCode, raw.String(), ans
}

func toolCall(id int, tool string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	return string(b)
}

// claimLength sends only the head of a request that claims a body of n
// bytes and returns the status line and body of the answer: a server
// that waited for the body would never answer (the test server has no
// body deadline), so the read is bounded.
func claimLength(t *testing.T, e *apptest.Env, path, contentType string, n int64) (int, string) {
	t.Helper()
	u, _ := url.Parse(e.Server.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A bound, not a synchronization: a server waiting for the body fails
	// the test here instead of hanging it.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		path, u.Host, e.Key, contentType, n)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: no answer before the body: %v", path, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	return res.StatusCode, b.String()
}

// TestMCPRequestLimits: one POST /mcp is one JSON-RPC message. A batch
// (of summarize_video calls, from a client claiming no protocol version,
// which the SDK would run) is refused whole with a JSON-RPC error and
// creates nothing; a body over 1 MiB is a 413 in the API's error shape;
// a claimed Content-Length over a route's limit is answered 413 at once,
// before any body arrives; a NUL in a tool's argument is a JSON-RPC
// invalid-params error naming it, and a NUL in a query parameter a 400
// naming it.
func TestMCPRequestLimits(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	ctx := context.Background()
	jobsOf := func() int {
		return countRows(t, e, `SELECT count(*) FROM jobs WHERE api_key_id = $1`, e.KeyRow.ID)
	}

	calls := make([]string, 200)
	for i := range calls {
		calls[i] = toolCall(i+1, "summarize_video", map[string]any{"url": e.Host.URL(fmt.Sprintf("/v%d.mp4", i))})
	}
	status, body, ans := mcpPost(ctx, t, e, e.Key, "["+strings.Join(calls, ",")+"]")
	if status != http.StatusBadRequest || ans.Error == nil || ans.Error.Code != -32600 || !strings.Contains(ans.Error.Message, "batch") {
		t.Fatalf("batch: %d %s", status, body)
	}
	if n := jobsOf(); n != 0 {
		t.Fatalf("a refused batch created %d jobs", n)
	}

	status, body, _ = mcpPost(ctx, t, e, e.Key, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`+strings.Repeat("x", 2<<20)+`"}}`)
	if ae := decodeAPIError(t, []byte(body)); status != http.StatusRequestEntityTooLarge || *ae.Error.Code != "request_too_large" ||
		ae.Error.Type != "invalid_request_error" {
		t.Fatalf("2 MiB body: %d %s", status, body)
	}

	for _, c := range []struct {
		path, contentType, code string
	}{
		{"/mcp", "application/json", "request_too_large"},
		{"/api/v1/chat/completions", "application/json", "request_too_large"},
		{"/v1/responses", "application/json", "request_too_large"},
		{"/api/v1/files", "multipart/form-data; boundary=x", "file_too_large"}, // past MAX_UPLOAD_BYTES
		{"/api/auth/token", "application/x-www-form-urlencoded", "request_too_large"},
	} {
		status, body := claimLength(t, e, c.path, c.contentType, 10<<30)
		if ae := decodeAPIError(t, []byte(body)); status != http.StatusRequestEntityTooLarge || *ae.Error.Code != c.code {
			t.Errorf("%s claiming 10 GB: %d %s", c.path, status, body)
		}
	}

	status, body, ans = mcpPost(ctx, t, e, e.Key, toolCall(9, "get_transcript", map[string]any{"url": e.Host.PageURL() + "\x00"}))
	if status != http.StatusOK || ans.Error == nil || ans.Error.Code != -32602 || string(ans.ID) != "9" || !strings.Contains(ans.Error.Message, "'url'") {
		t.Fatalf("NUL in an argument: %d %s", status, body)
	}

	res, b := call(t, http.MethodGet, e.URL+"/jobs?limit=5&after=%00", e.Key, "")
	if ae := decodeAPIError(t, b); res.StatusCode != http.StatusBadRequest || *ae.Error.Code != "invalid_text" ||
		ae.Error.Param == nil || *ae.Error.Param != "after" {
		t.Fatalf("NUL in a query parameter: %d %s", res.StatusCode, b)
	}
	if n := jobsOf(); n != 0 {
		t.Fatalf("%d jobs", n)
	}
}

// TestMCPCallLimits: every MCP tool call is one request of the key's rate
// limit, and a call holds one of the key's stream slots while it runs
// (MAX_STREAMS_PER_KEY), as the HTTP doors' streams do.
func TestMCPCallLimits(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.MaxStreamsPerKey = 1 }})
	ctx := context.Background()

	t.Run("rate limit", func(t *testing.T) {
		_, secret, err := e.Store.CreateKey(ctx, store.NewKey{Name: "rpm4", Seconds: 600, RPM: 4})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			status, body, ans := mcpPost(ctx, t, e, secret, toolCall(i, "get_job", map[string]any{"job_id": "job-none"}))
			if status != http.StatusOK || ans.Result == nil {
				t.Fatalf("call %d: %d %s", i, status, body)
			}
		}
		status, body, _ := mcpPost(ctx, t, e, secret, toolCall(5, "get_job", map[string]any{"job_id": "job-none"}))
		if ae := decodeAPIError(t, []byte(body)); status != http.StatusTooManyRequests || *ae.Error.Code != "rate_limit_exceeded" {
			t.Fatalf("call 5 at 4 rpm: %d %s", status, body)
		}
	})

	t.Run("streams", func(t *testing.T) {
		leases := func() int64 {
			n, err := e.Deps.Redis.ZCard(ctx, "recap:"+e.Config.QueuePrefix+"streams:"+strconv.FormatInt(e.KeyRow.ID, 10)).Result()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// With no worker the job never ends: the call waits until it is
		// canceled, holding the key's one slot.
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			mcpPost(wctx, t, e, e.Key, toolCall(1, "summarize_video", map[string]any{"url": e.Host.PageURL()}))
		}()
		apptest.Poll(t, 30*time.Second, "the waiting call's stream slot", func() bool { return leases() == 1 })
		status, body, _ := mcpPost(ctx, t, e, e.Key, toolCall(2, "get_job", map[string]any{"job_id": "job-none"}))
		if ae := decodeAPIError(t, []byte(body)); status != http.StatusTooManyRequests || *ae.Error.Code != "too_many_streams" {
			t.Fatalf("a second call while one waits: %d %s", status, body)
		}
		// Messages that are not tool calls take no slot.
		status, body, ans := mcpPost(ctx, t, e, e.Key, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
		if status != http.StatusOK || ans.Error != nil {
			t.Fatalf("tools/list while a call waits: %d %s", status, body)
		}
		cancel()
		<-done
		apptest.Poll(t, 30*time.Second, "the slot's release", func() bool { return leases() == 0 })
		status, body, ans = mcpPost(ctx, t, e, e.Key, toolCall(4, "get_job", map[string]any{"job_id": "job-none"}))
		if status != http.StatusOK || ans.Result == nil {
			t.Fatalf("a call after the first ended: %d %s", status, body)
		}
	})
}

// TestMCPZeroBalanceParity: a key with an empty balance gets from MCP
// exactly what it gets from the HTTP door: a cached summary, free, with
// one job row per answer; an uncached video refused with
// insufficient_quota and no row; and a batch of calls no rows at all.
func TestMCPZeroBalanceParity(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	page := e.Host.PageURL()
	if _, err := e.Client.Chat.Completions.New(ctx, userMessage(page)); err != nil {
		t.Fatal(err)
	}
	broke, secret := e.NewKey(t, "broke", 0)
	rows := func() int {
		return countRows(t, e, `SELECT count(*) FROM jobs WHERE api_key_id = $1`, broke.ID)
	}

	brokeClient := e.ClientFor(secret)
	if _, err := brokeClient.Chat.Completions.New(ctx, userMessage(page)); err != nil {
		t.Fatalf("HTTP, cached: %v", err)
	}
	cs := mcpSession(t, e, secret, nil)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video", Arguments: map[string]any{"url": page}})
	if err != nil || res.IsError {
		t.Fatalf("MCP, cached: %v %v", err, res)
	}
	checkSummary(t, toolText(res))
	apptest.Poll(t, 10*time.Second, "the two cache hits' job rows", func() bool { return rows() == 2 })

	other := e.Host.NoSubsPageURL()
	_, err = brokeClient.Chat.Completions.New(ctx, userMessage(other))
	apiCode(t, err, http.StatusTooManyRequests, "insufficient_quota")
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video", Arguments: map[string]any{"url": other}})
	if err != nil || !res.IsError || !strings.HasPrefix(toolText(res), "insufficient_quota") {
		t.Fatalf("MCP, uncached: %v %s", err, toolText(res))
	}

	calls := make([]string, 500)
	for i := range calls {
		calls[i] = toolCall(i+1, "summarize_video", map[string]any{"url": page})
	}
	status, body, _ := mcpPost(ctx, t, e, secret, "["+strings.Join(calls, ",")+"]")
	if status != http.StatusBadRequest {
		t.Fatalf("batch: %d %.300s", status, body)
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d job rows for the broke key, want the 2 cache hits", n)
	}
}
