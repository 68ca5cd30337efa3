// Package jobs runs Recap's pipeline as asynq tasks: resolve the video,
// get its transcript, summarize it. Each stage persists its output before
// it enqueues the next, and publishes the job's progress on a Redis
// Stream that any API replica can follow.
package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/recap/recap"
)

// Task types, one per pipeline stage.
const (
	TypeResolve    = "media:resolve"
	TypeTranscript = "media:transcript"
	TypeSummary    = "summary:generate"
)

// Queue names (before Config.QueuePrefix). Interactive completions go
// ahead of batch jobs: the worker weighs them 6:3:1 with the default queue.
const (
	QueueInteractive = "interactive"
	QueueBatch       = "batch"
	// QueueDefault is asynq's own default queue, weighed last.
	QueueDefault = "default"
)

// Error is a job failure with a code clients can branch on. Permanent
// errors end the job at once; others are retried with backoff.
type Error struct {
	Code      string
	Message   string
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func permanent(code, msg string, err error) error {
	return &Error{Code: code, Message: msg, Permanent: true, Err: err}
}

// asError extracts a job error, or describes an unexpected one.
func asError(err error) *Error {
	var je *Error
	if errors.As(err, &je) {
		return je
	}
	return &Error{Code: recap.CodeInternal, Message: "processing failed: " + err.Error(), Err: err}
}

// payload is the body of every stage task: the job row holds the rest.
type payload struct {
	JobID string `json:"job_id"`
}

// Timeouts bounds each stage.
type Timeouts struct {
	Resolve    time.Duration
	Transcript time.Duration
	Summary    time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Resolve <= 0 {
		t.Resolve = 3 * time.Minute
	}
	if t.Transcript <= 0 {
		t.Transcript = 3 * time.Hour
	}
	if t.Summary <= 0 {
		t.Summary = 30 * time.Minute
	}
	return t
}

// TaskID is the asynq task id of a job's stage: one task per job and
// stage, so a duplicate enqueue (a retry, the reconciler) is refused.
func TaskID(jobID, typ string) string { return jobID + ":" + typ }

// Queues returns the asynq queue weights for a prefix, for the worker's
// asynq.Config.
func Queues(prefix string) map[string]int {
	return map[string]int{prefix + QueueInteractive: 6, prefix + QueueBatch: 3, prefix + QueueDefault: 1}
}
