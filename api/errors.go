package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// Error is an API error: a status, OpenAI's error type, and the fields
// both wire shapes carry (see errorJSON).
type Error struct {
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// Header holds extra response headers (retry-after, x-should-retry).
	// Without x-should-retry, writeError derives it from Status.
	Header http.Header
}

func (e *Error) Error() string { return e.Message }

func badRequest(code, param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// kindError is an API error of a kind, for the refusals the door itself
// makes (authentication, routing).
func kindError(k core.Kind, code, msg string) *Error {
	status, typ := statusOf(k)
	return &Error{Status: status, Type: typ, Code: code, Message: msg}
}

// errUnauthorized is one fixed body for every authentication failure, so a
// caller learns nothing about which keys exist.
var errUnauthorized = kindError(core.KindUnauthorized, "invalid_api_key",
	"Invalid or missing API key. Send it as 'Authorization: Bearer <key>'.")

// kindStatus is the HTTP status and OpenAI error type of each use-case
// error kind: with core's code table (code → kind, retry rule) the one
// place that decides a status. TestStatusTable checks it covers every kind.
var kindStatus = map[core.Kind]struct {
	status int
	typ    string
}{
	core.KindInternal:         {http.StatusInternalServerError, "api_error"},
	core.KindInvalid:          {http.StatusBadRequest, "invalid_request_error"},
	core.KindUnauthorized:     {http.StatusUnauthorized, "invalid_request_error"},
	core.KindForbidden:        {http.StatusForbidden, "invalid_request_error"},
	core.KindNotFound:         {http.StatusNotFound, "invalid_request_error"},
	core.KindMethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	core.KindConflict:         {http.StatusConflict, "invalid_request_error"},
	core.KindTooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	core.KindUnprocessable:    {http.StatusUnprocessableEntity, "invalid_request_error"},
	core.KindQuota:            {http.StatusTooManyRequests, "insufficient_quota"},
	core.KindRateLimited:      {http.StatusTooManyRequests, "rate_limit_error"},
	// A job the caller canceled: nginx's "client closed request", as no
	// standard status says it.
	core.KindCanceled:    {499, "invalid_request_error"},
	core.KindUpstream:    {http.StatusBadGateway, "api_error"},
	core.KindUnavailable: {http.StatusServiceUnavailable, "api_error"},
	core.KindTimeout:     {http.StatusGatewayTimeout, "api_error"},
}

// statusOf is the HTTP status and OpenAI error type of a kind.
func statusOf(k core.Kind) (int, string) {
	if st, ok := kindStatus[k]; ok {
		return st.status, st.typ
	}
	return http.StatusInternalServerError, "api_error"
}

// fromCore turns a use-case error into an API error, with the code
// table's retry rule as x-should-retry.
func fromCore(e *core.Error) *Error {
	status, typ := statusOf(e.Kind)
	ae := &Error{Status: status, Type: typ, Code: e.Code, Param: e.Param, Message: e.Message, Header: http.Header{}}
	if e.RetryAfter > 0 {
		ae.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	ae.Header.Set("X-Should-Retry", strconv.FormatBool(e.ShouldRetry()))
	return ae
}

// retryStatus is the retry rule of the door's own errors by status: a
// limit (408, 429) or a server failure may pass; a refused request not.
func retryStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// jobError turns a failed job's error into an API error.
func jobError(e *recap.ErrorInfo) *Error { return fromCore(core.JobError(e)) }

// asAPIError maps any error to an API error: transport errors are already
// API errors; everything else goes through the use cases' classification.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return fromCore(core.As(err))
}

// seedPath reports whether r came in by the BibiGPT path, /api/v1, whose
// errors take the seed contract's shape; every other path (/v1, /mcp, an
// unknown one) speaks OpenAI's.
func seedPath(r *http.Request) bool {
	p := r.URL.Path
	return p == "/api/v1" || strings.HasPrefix(p, "/api/v1/")
}

// openAIError is OpenAI's error body: {"error":{"message","type","param","code"}}.
type openAIError struct {
	Error openAIFields `json:"error"`
}

type openAIFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// seedError is the BibiGPT seed contract's error body: "error" is the
// message, a string (the seed's 400, 401 and 429 schemas), and the
// machine-readable fields sit beside it.
type seedError struct {
	Error string  `json:"error"`
	Code  *string `json:"code"`
	Type  string  `json:"type"`
	Param *string `json:"param"`
}

// errorJSON is the body of e in the shape of r's path: the one writer of
// error bodies, for replies and for errors inside a stream alike.
func errorJSON(r *http.Request, e *Error) []byte {
	var param, code *string
	if e.Param != "" {
		param = &e.Param
	}
	if e.Code != "" {
		code = &e.Code
	}
	var v any = openAIError{Error: openAIFields{Message: e.Message, Type: e.Type, Param: param, Code: code}}
	if seedPath(r) {
		v = seedError{Error: e.Message, Code: code, Type: e.Type, Param: param}
	}
	b, _ := json.Marshal(v)
	return b
}

// writeError writes err with its status, headers (retry-after,
// x-should-retry on every error) and a body in the shape of r's path.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	for k, v := range ae.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("X-Should-Retry") == "" {
		w.Header().Set("X-Should-Retry", strconv.FormatBool(retryStatus(ae.Status)))
	}
	// RFC 6750 §3 on every 401/403 (oauth_discovery.go), unless the route
	// already challenged with a scheme of its own (the admin routes' Basic).
	if (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", s.bearerChallenge(r, ae))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	w.Write(errorJSON(r, ae)) //nolint:errcheck
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v) //nolint:errcheck
}
