package mcp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/recap/recap/mcp"
	"github.com/recap/recap/textclean"
)

type rpcReply struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
}

func post(t *testing.T, h http.Handler, body string, header ...string) (*httptest.ResponseRecorder, rpcReply) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var r rpcReply
	answer := w.Body.String()
	if strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		for line := range strings.Lines(answer) {
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				answer = data
			}
		}
	}
	_ = json.Unmarshal([]byte(answer), &r)
	return w, r
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func call(id int, url string) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": "summarize_video", "arguments": map[string]any{"url": url}}})
	return string(b)
}

// TestBatchRefused: a JSON-RPC batch is refused whole with a JSON-RPC
// error, whatever protocol version the client claims (the SDK itself
// refuses batches only from clients claiming 2025-06-18 or later), and a
// single message still reaches the server.
func TestBatchRefused(t *testing.T) {
	t.Parallel()
	h := mcp.New(mcp.Config{})
	batch := "[" + call(1, "https://example.com/a") + "," + call(2, "https://example.com/b") + "]"
	for _, hdr := range [][]string{nil, {"Mcp-Protocol-Version", "2025-03-26"}, {"Mcp-Protocol-Version", "2025-06-18"}} {
		for _, body := range []string{batch, " \n[" + initialize + "]"} {
			w, r := post(t, h, body, hdr...)
			if w.Code != http.StatusBadRequest || r.Error == nil || r.Error.Code != -32600 || string(r.ID) != "null" ||
				!strings.Contains(r.Error.Message, "batch") {
				t.Fatalf("batch with %v: %d %s", hdr, w.Code, w.Body)
			}
		}
	}
	w, r := post(t, h, initialize)
	if w.Code != http.StatusOK || r.Error != nil || len(r.Result) == 0 {
		t.Fatalf("initialize: %d %s", w.Code, w.Body)
	}
}

// TestNULRefused: a NUL anywhere in a message is a JSON-RPC invalid
// params error naming the argument, answering the request's id; nothing
// runs.
func TestNULRefused(t *testing.T) {
	t.Parallel()
	h := mcp.New(mcp.Config{}) // no Core: a tool that ran would panic
	w, r := post(t, h, call(7, "https://example.com/\u0000v"))
	if w.Code != http.StatusOK || r.Error == nil || r.Error.Code != -32602 || string(r.ID) != "7" ||
		!strings.Contains(r.Error.Message, "'url'") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w, r = post(t, h, `{"jsonrpc":"2.0","method":"notifications/x","params":{"a":"\u0000"}}`)
	if w.Code != http.StatusBadRequest || r.Error == nil || r.Error.Code != -32602 {
		t.Fatalf("notification: %d %s", w.Code, w.Body)
	}
}

// TestBodyLimit: a body over MaxBodyBytes is refused with 413 before
// the server parses it.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := mcp.New(mcp.Config{})
	body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", mcp.MaxBodyBytes) + `"}}`
	w, r := post(t, h, body)
	if w.Code != http.StatusRequestEntityTooLarge || r.Error == nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// FuzzGuard: whatever the body, what reaches the MCP server is one
// message (never a batch) with no NUL in any of its strings, and what
// does not gets a JSON-RPC error. The seed corpus runs in every go test.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{initialize, "[" + initialize + "]", call(1, "https://example.com/\u0000"), `{"a":"\\u0000"}`,
		" [1]", `{"jsonrpc":"2.0","id":"\u0000","method":"ping"}`, "", "{", `{"k\u0000":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got []byte
		h := mcp.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
		}))
		w, _ := post(t, h, body)
		if got == nil {
			var r rpcReply
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Error == nil {
				t.Fatalf("refused %q without a JSON-RPC error: %d %s", body, w.Code, w.Body)
			}
			return
		}
		if string(got) != body {
			t.Fatalf("the server got %q, not the body %q", got, body)
		}
		if _, bad := textclean.JSONField(got); bad {
			t.Fatalf("a NUL reached the server: %q", got)
		}
		if strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), "[") {
			t.Fatalf("a batch reached the server: %q", body)
		}
	})
}
