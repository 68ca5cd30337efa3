package core

import "github.com/recap/recap/jobs"

// The job records doors relay and render. They are defined beside the
// code that writes them (the workers publish events, the queue renders
// views); doors name them through core, so they need not import jobs.

// Event is one entry of a job's event stream (see Follow).
type Event = jobs.Event

// Result is a finished job's answer, as its result event carries it.
type Result = jobs.Result

// ErrorInfo is why a job ended without a result (see JobError).
type ErrorInfo = jobs.ErrorInfo

// View is a job as clients see it: in the jobs API, in lists and in
// webhook deliveries.
type View = jobs.View

// ViewResult is a succeeded job's summary in its View.
type ViewResult = jobs.ViewResult

// TaskView is a job's stage task as the queue holds it (admin routes).
type TaskView = jobs.TaskView

// Event types of a job's stream.
const (
	EventState    = jobs.EventState
	EventProgress = jobs.EventProgress
	EventPriced   = jobs.EventPriced
	EventDelta    = jobs.EventDelta
	EventResult   = jobs.EventResult
	EventError    = jobs.EventError
)
