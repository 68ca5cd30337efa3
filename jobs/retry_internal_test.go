package jobs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/summarize"
)

// TestProviderRefused: an LLM's 4xx (but 408, 409, 429) fails the job at
// once with upstream_rejected, or context_length_exceeded when the
// provider says the text does not fit.
func TestProviderRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		apiErr *openai.Error
		code   string
	}{
		{&openai.Error{StatusCode: http.StatusBadRequest, Code: "invalid_request_error", Message: "bad"}, recap.CodeUpstreamRejected},
		{&openai.Error{StatusCode: http.StatusUnauthorized, Message: "bad key"}, recap.CodeUpstreamRejected},
		{&openai.Error{StatusCode: http.StatusBadRequest, Code: "context_length_exceeded", Message: "too long"}, recap.CodeContextLength},
		{&openai.Error{StatusCode: http.StatusBadRequest, Message: "This model's maximum context length is 8192 tokens"}, recap.CodeContextLength},
	} {
		err := llmError(fmt.Errorf("llm: %w: %w", summarize.ErrPermanent, tt.apiErr))
		var je *Error
		if !errors.As(err, &je) || je.Code != tt.code || !je.Permanent {
			t.Errorf("%+v: %v, want permanent %s", tt.apiErr, err, tt.code)
		}
	}
	// Not marked permanent by the client (5xx, 408, 409, 429): retried.
	var je *Error
	if err := llmError(errors.New("llm: 503")); !errors.As(err, &je) || je.Permanent || je.Code != recap.CodeUpstream {
		t.Errorf("transient: %v", err)
	}
}

// TestRetryLine: a site's refusal is said as such in the progress line.
func TestRetryLine(t *testing.T) {
	t.Parallel()
	ue := &media.UpstreamError{Code: recap.CodeUpstreamBlocked, Site: "bilibili", Reason: "Unable to download webpage: HTTP Error 412: Precondition Failed", Retry: true}
	se := &stageError{je: mediaError(ue).(*Error), err: ue, attempt: 1, budget: 5, delay: 40 * time.Second}
	rt := &recap.RetryInfo{Code: se.je.Code, Attempt: 1, MaxAttempts: 5}
	if got, want := retryLine(se, rt), "Bilibili refused (412); next try in 40 s, 2 of 5"; got != want {
		t.Errorf("retryLine = %q, want %q", got, want)
	}
	se = &stageError{je: &Error{Code: recap.CodeUpstream, Message: "the language model failed: 503"}, attempt: 2, budget: 3, delay: 3 * time.Minute}
	if got := retryLine(se, &recap.RetryInfo{Code: recap.CodeUpstream, Attempt: 2, MaxAttempts: 3}); !strings.Contains(got, "next try in 3 min, 3 of 3") || !strings.Contains(got, "503") {
		t.Errorf("retryLine = %q", got)
	}
}
