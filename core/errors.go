package core

import (
	"errors"
	"fmt"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// Kind is the class of a use-case error. Doors map it to their own
// vocabulary (api: an HTTP status; mcp: a tool error) in one place each.
type Kind int

// Error kinds.
const (
	// KindInternal is a fault of Recap's (a dependency failed).
	KindInternal Kind = iota
	// KindInvalid is a request that can never succeed as sent.
	KindInvalid
	// KindNotFound is something that does not exist for this caller.
	KindNotFound
	// KindQuota is a balance too low for the work asked.
	KindQuota
	// KindConflict is a request that contradicts an earlier one
	// (an Idempotency-Key reused for another request).
	KindConflict
	// KindTimeout is work still running past the caller's wait.
	KindTimeout
	// KindUpstream is a failure of a service Recap depends on (a video
	// site, the LLM, speech-to-text).
	KindUpstream
	// KindCanceled is a job the caller canceled.
	KindCanceled
	// KindRateLimited is a caller over one of its limits.
	KindRateLimited
	// KindUnprocessable is a well-formed request whose answer could not
	// be made to meet it (a model's JSON that breaks the caller's schema).
	KindUnprocessable
	// KindTooLarge is a request body (an upload) over the server's size
	// limit.
	KindTooLarge
	// KindForbidden is a caller whose key lacks the scope an action
	// needs.
	KindForbidden
	// KindUnauthorized is a request without a valid key or token.
	KindUnauthorized
	// KindMethodNotAllowed is a known path asked with a method it does
	// not take.
	KindMethodNotAllowed
	// KindUnavailable is work that cannot go on for now but is still
	// being retried (a video site refusing the worker): later may pass.
	KindUnavailable

	kindCount // the number of kinds; keep last
)

// Error is the one error type of the use cases: a kind for the doors to
// map, a stable code clients branch on, the offending field and a message
// written for the caller.
type Error struct {
	Kind    Kind
	Code    string
	Param   string
	Message string
	// RetryAfter, in seconds, when trying again later can succeed.
	RetryAfter int
	// NoRetry marks errors an automatic retry cannot fix.
	NoRetry bool
	// JobFailed marks the recorded failure of a job that ended (see
	// JobError), as opposed to a refused request or a wait cut short: a
	// door whose protocol has a failed-result object (Responses) answers
	// with it.
	JobFailed bool
}

func (e *Error) Error() string { return e.Message }

// Invalid returns a KindInvalid error.
func Invalid(code, param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a KindNotFound error.
func NotFound(code, format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InsufficientQuota is the error of a balance too low for a request.
func InsufficientQuota(msg string) *Error {
	return &Error{Kind: KindQuota, Code: recap.CodeInsufficientQuota, Message: msg, NoRetry: true}
}

var (
	errNoSuchResource = &Error{Kind: KindNotFound, Code: "not_found", Message: "No such resource."}
	errIdemReused     = &Error{Kind: KindConflict, Code: "idempotency_key_reused", Param: "Idempotency-Key", NoRetry: true,
		Message: "This Idempotency-Key was already used with a different request in the last 24 hours; use a new key for a new request."}
	errEmptyBalance = InsufficientQuota("Your credit balance is empty. Ask the operator to grant more minutes.")
)

// As returns err as a use-case error: errors of the store that callers
// cause (not found, no credit, a reused key) get their kind; anything
// else is KindInternal with a message that reveals nothing.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNoSuchResource
	case errors.Is(err, store.ErrInsufficientCredits):
		return InsufficientQuota("Your credit balance is too low for this request.")
	case errors.Is(err, store.ErrIdempotencyReused):
		return errIdemReused
	}
	return &Error{Kind: KindInternal, Code: "internal_error", Message: "The server had an error while processing your request."}
}

// JobError turns a failed job's recorded error into a use-case error:
// which failures are the caller's, the video site's or Recap's is decided
// by the code table (codes.go), once. A code the table lacks is Recap's.
func JobError(e *recap.ErrorInfo) *Error {
	out := &Error{Kind: KindInternal, Code: e.Code, Message: e.Message, JobFailed: true}
	if c, ok := CodeOf(e.Code); ok {
		out.Kind = c.Kind
		out.NoRetry = c.Retry == RetryNo
	}
	return out
}
