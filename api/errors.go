package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/recap/recap/core"
	"github.com/recap/recap/jobs"
)

// Error is an API error in OpenAI's shape:
// {"error":{"message","type","param","code"}}.
type Error struct {
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// Header holds extra response headers (retry-after, x-should-retry).
	Header http.Header
}

func (e *Error) Error() string { return e.Message }

func badRequest(code, param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// errUnauthorized is one fixed body for every authentication failure, so a
// caller learns nothing about which keys exist.
var errUnauthorized = &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
	Message: "Invalid or missing API key. Send it as 'Authorization: Bearer <key>'."}

// statusOf is the HTTP status and OpenAI error type of a use-case error
// kind: the one place that decides them.
func statusOf(k core.Kind) (int, string) {
	switch k {
	case core.KindInvalid:
		return http.StatusBadRequest, "invalid_request_error"
	case core.KindNotFound:
		return http.StatusNotFound, "invalid_request_error"
	case core.KindQuota:
		return http.StatusTooManyRequests, "insufficient_quota"
	case core.KindConflict:
		return http.StatusConflict, "invalid_request_error"
	case core.KindTimeout:
		return http.StatusGatewayTimeout, "api_error"
	case core.KindUpstream:
		return http.StatusBadGateway, "api_error"
	case core.KindCanceled:
		return 499, "invalid_request_error"
	case core.KindRateLimited:
		return http.StatusTooManyRequests, "rate_limit_error"
	case core.KindUnprocessable:
		return http.StatusUnprocessableEntity, "invalid_request_error"
	case core.KindTooLarge:
		return http.StatusRequestEntityTooLarge, "invalid_request_error"
	case core.KindForbidden:
		return http.StatusForbidden, "invalid_request_error"
	}
	return http.StatusInternalServerError, "api_error"
}

// fromCore turns a use-case error into an API error.
func fromCore(e *core.Error) *Error {
	status, typ := statusOf(e.Kind)
	ae := &Error{Status: status, Type: typ, Code: e.Code, Param: e.Param, Message: e.Message}
	if e.RetryAfter > 0 || e.NoRetry {
		ae.Header = http.Header{}
		if e.RetryAfter > 0 {
			ae.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		if e.NoRetry {
			ae.Header.Set("X-Should-Retry", "false")
		}
	}
	return ae
}

// jobError turns a failed job's error into an API error.
func jobError(e *jobs.ErrorInfo) *Error { return fromCore(core.JobError(e)) }

// asAPIError maps any error to an API error: transport errors are already
// API errors; everything else goes through the use cases' classification.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return fromCore(core.As(err))
}

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func errorJSON(e *Error) []byte {
	f := errorFields{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		f.Param = &e.Param
	}
	if e.Code != "" {
		f.Code = &e.Code
	}
	b, _ := json.Marshal(errorBody{Error: f})
	return b
}

// writeError writes err as OpenAI-shaped JSON with its status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	for k, v := range ae.Header {
		w.Header()[k] = v
	}
	// RFC 6750 §3 on every 401/403 (oauth_discovery.go), unless the route
	// already challenged with a scheme of its own (the admin routes' Basic).
	if (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", s.bearerChallenge(r, ae))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	w.Write(errorJSON(ae)) //nolint:errcheck
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v) //nolint:errcheck
}
