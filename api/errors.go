package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
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

var errNotFound = &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: "No such resource."}

// jobErrorStatus maps a job's failure code to an HTTP status.
func jobErrorStatus(code string) (int, string) {
	switch code {
	case jobs.CodeInsufficientQuota:
		return http.StatusTooManyRequests, "insufficient_quota"
	case jobs.CodeURLNotAllowed, jobs.CodeUnsupported, jobs.CodeMediaTooLong, jobs.CodeLive, jobs.CodeNoTranscript, jobs.CodeTooLarge:
		return http.StatusBadRequest, "invalid_request_error"
	case jobs.CodeUnavailable:
		return http.StatusNotFound, "invalid_request_error"
	case jobs.CodeCanceled:
		return 499, "invalid_request_error"
	case jobs.CodeUpstream, jobs.CodeTranscription:
		return http.StatusBadGateway, "api_error"
	}
	return http.StatusInternalServerError, "api_error"
}

// jobError turns a failed job's error into an API error.
func jobError(e *jobs.ErrorInfo) *Error {
	status, typ := jobErrorStatus(e.Code)
	ae := &Error{Status: status, Type: typ, Code: e.Code, Message: e.Message}
	if e.Code == jobs.CodeInsufficientQuota {
		ae.Header = http.Header{"X-Should-Retry": {"false"}}
	}
	return ae
}

// asAPIError maps any error to an API error: the one place that decides
// statuses for errors that are not already API errors.
func asAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrInsufficientCredits):
		return insufficientQuota("Your credit balance is too low for this request.")
	case errors.Is(err, store.ErrIdempotencyReused):
		return errIdempotencyReused
	}
	return &Error{Status: http.StatusInternalServerError, Type: "api_error", Code: "internal_error",
		Message: "The server had an error while processing your request."}
}

func insufficientQuota(msg string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota", Message: msg,
		Header: http.Header{"X-Should-Retry": {"false"}}}
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
