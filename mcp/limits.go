package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap/textclean"
)

// MaxBodyBytes bounds one MCP request body, as the HTTP API bounds its
// JSON bodies. The API reads /mcp bodies first and answers a longer one
// with its own 413; this bound holds when the handler is mounted alone.
const MaxBodyBytes = 1 << 20

// JSON-RPC 2.0 error codes.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeInvalidParams  = -32602
)

// Guard refuses what the MCP server must not run, before it parses
// anything: a JSON-RPC batch (MCP 2025-06-18 removed batching, but the
// SDK still runs one for a client claiming an earlier protocol version,
// or none, and a batch of thousands of tool calls would pass the rate
// limiter as one request), a body over MaxBodyBytes, and text Postgres
// cannot store (a NUL, the \u0000 escape) anywhere in the message, named
// by its path in the arguments. Each refusal is a JSON-RPC error. New
// puts its server behind Guard.
func Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			writeRPCError(w, http.StatusBadRequest, nil, codeParseError, "The request body could not be read.")
			return
		}
		if len(body) > MaxBodyBytes {
			w.Header().Set("Connection", "close")
			writeRPCError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest, "The request body is larger than the limit of 1 MiB.")
			return
		}
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
			writeRPCError(w, http.StatusBadRequest, nil, codeInvalidRequest,
				"JSON-RPC batches are not supported (MCP removed them in protocol version 2025-06-18): send one message per request.")
			return
		}
		if path, bad := textclean.JSONField(body); bad {
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(body, &m)
			param := strings.TrimPrefix(path, "params.arguments.")
			status := http.StatusOK // the answer to a request is a JSON-RPC response
			if len(m.ID) == 0 || string(m.ID) == "null" {
				status = http.StatusBadRequest // a notification gets none
			}
			writeRPCError(w, status, m.ID, codeInvalidParams,
				"'"+param+"' contains a NUL character (\\u0000), which is not allowed.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// rpcError is a JSON-RPC 2.0 error response.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorObject  `json:"error"`
}

type rpcErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeRPCError writes a JSON-RPC error response with the request's id
// (null when there is none or it is unknown).
func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(rpcError{JSONRPC: "2.0", ID: id, Error: rpcErrorObject{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// httpContextKey is the key of auth.TokenInfo.Extra under which
// Authenticated leaves the HTTP request's context.
const httpContextKey = "recap_http_context"

// endWithRequest ends a request's handler when its HTTP request ends. The
// server is stateless: one POST carries one call, and once its client is
// gone the answer can no longer be delivered. The SDK itself cancels
// handlers so only for protocol versions from 2026-07-28 on; otherwise a
// summarize_video whose client left would wait for its job to the end,
// holding a goroutine and one of the key's stream slots. The job goes on.
func endWithRequest(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		if ex := req.GetExtra(); ex != nil && ex.TokenInfo != nil {
			if hctx, ok := ex.TokenInfo.Extra[httpContextKey].(context.Context); ok {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				defer context.AfterFunc(hctx, cancel)()
				return next(ctx, method, req)
			}
		}
		return next(ctx, method, req)
	}
}
