package jobs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize"
)

// An answer without substance is the model's failure: permanent (no
// retries), and not the caller's doing, so the job fails and its hold is
// released rather than captured.
func TestLLMErrorEmptyAnswer(t *testing.T) {
	t.Parallel()
	var je *Error
	if err := llmError(fmt.Errorf("summarize: %w", summarize.ErrEmptyAnswer)); !errors.As(err, &je) {
		t.Fatalf("llmError = %v, want a job error", err)
	}
	if je.Code != recap.CodeModelError || !je.Permanent || callerCaused(je.Code) {
		t.Errorf("job error %+v: want permanent %s, not caller-caused", je, recap.CodeModelError)
	}
}
