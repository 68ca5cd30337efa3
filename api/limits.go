package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/recap/recap/core"
	"github.com/recap/recap/textclean"
)

// Body limits of the routes that take no upload. The upload routes take
// MAX_UPLOAD_BYTES plus formSlack, OAuth's form posts oauthBodyBytes;
// every other route MaxBodyBytes.
const oauthBodyBytes = 64 << 10

// bodyLimit is the most a request to r's route may send, and the error
// of a body over it.
func (s *Server) bodyLimit(r *http.Request) (int64, func(n int64) error) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && (strings.HasSuffix(p, "/files") || strings.HasSuffix(p, "/audio/transcriptions")):
		// As multipartForm refuses it once it reads on past the cap.
		max := s.core.MaxUploadBytes()
		return max + formSlack, func(int64) error { return core.ErrTooLarge(max) }
	case strings.HasPrefix(p, "/api/auth/"):
		return oauthBodyBytes, func(n int64) error { return errBodyTooLarge(n, oauthBodyBytes) }
	}
	return MaxBodyBytes, func(n int64) error { return errBodyTooLarge(n, MaxBodyBytes) }
}

// errBodyTooLarge is the 413 of a body over its route's limit.
func errBodyTooLarge(n, max int64) *Error {
	msg := fmt.Sprintf("The request body is larger than this route's limit of %d bytes.", max)
	if n > 0 {
		msg = fmt.Sprintf("The request body is %d bytes; this route's limit is %d bytes.", n, max)
	}
	if max == MaxBodyBytes {
		msg += " Upload large files with the Files API (POST /v1/files) and send their file_id instead."
	}
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large", Message: msg,
		Header: http.Header{"X-Should-Retry": {"false"}}}
}

// limitBody answers a request whose Content-Length is over its route's
// limit with a 413 at once, before a byte of the body is read (waiting
// for a body that is refused anyway would hold the connection until the
// body deadline), and refuses query parameters Postgres could not store.
// It runs on every matched route, before authentication.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if max, tooLarge := s.bodyLimit(r); r.ContentLength > max {
			// The body stays unread: the connection cannot carry another
			// request.
			w.Header().Set("Connection", "close")
			s.writeError(w, r, tooLarge(r.ContentLength))
			return
		}
		// OAuth's routes answer in OAuth's shapes and check their own
		// parameters.
		if r.URL.RawQuery != "" && !strings.HasPrefix(r.URL.Path, "/api/auth/") {
			if name, bad := textclean.Values(r.URL.Query()); bad {
				s.writeError(w, r, core.Invalid("invalid_text", name,
					"The query parameter '%s' holds a NUL character or invalid UTF-8, which is not allowed.", name))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readMCPBody reads an MCP request's body (at most MaxBodyBytes) before
// the MCP server sees it, which would otherwise read any length, and
// hands it on from memory. An oversized body is a 413 in the API's shape.
func (s *Server) readMCPBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				s.writeError(w, r, errBodyTooLarge(0, MaxBodyBytes))
				return
			}
			s.writeError(w, r, badRequest("invalid_body", "", "The request body could not be read."))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		next.ServeHTTP(w, r)
	})
}

// limitMCPCalls holds one of the caller's stream slots while an MCP tool
// call runs: a call waits for its job as a stream does, so a key holds no
// more of them at once than it may hold streams. Other MCP messages
// (initialize, tools/list, notifications) take no slot.
func (s *Server) limitMCPCalls(l *StreamLimiter, next http.Handler) http.Handler {
	limited := s.limitStreams(l, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.GetBody != nil {
			if b, err := r.GetBody(); err == nil {
				body, _ := io.ReadAll(b)
				if isToolCall(body) {
					limited.ServeHTTP(w, r)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isToolCall reports whether an MCP request body is one tools/call
// request. A batch is the MCP server's to refuse.
func isToolCall(body []byte) bool {
	if !bytes.Contains(body, []byte(`tools/call`)) {
		return false
	}
	var m struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(body, &m) == nil && m.Method == "tools/call"
}
