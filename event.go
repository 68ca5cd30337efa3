package recap

import "time"

// Event types published on a job's stream.
const (
	EventState    = "state"    // the job entered State
	EventProgress = "progress" // Percent and Message of the running stage
	EventPriced   = "priced"   // the credit hold is placed (CostSeconds), or none is needed
	EventDelta    = "delta"    // Text is the next piece of the summary
	EventResult   = "result"   // the job succeeded; Result holds the answer
	EventError    = "error"    // the job failed or was canceled; Error says why
)

// Event is one entry of a job's event stream.
type Event struct {
	// ID is the Redis stream entry id, usable as an SSE id / Last-Event-ID.
	ID          string     `json:"-"`
	Type        string     `json:"type"`
	State       string     `json:"state,omitempty"`
	Percent     float64    `json:"percent,omitempty"`
	Message     string     `json:"message,omitempty"`
	Text        string     `json:"text,omitempty"`
	CostSeconds int64      `json:"cost_seconds,omitempty"`
	Result      *Result    `json:"result,omitempty"`
	Error       *ErrorInfo `json:"error,omitempty"`
	// Retry is set on the progress event of a failed attempt that will
	// run again: why, and when.
	Retry *RetryInfo `json:"retry,omitempty"`
}

// RetryInfo is a stage's failed attempt that asynq will run again: a waiting
// caller learns the code, when the next attempt runs and how many are
// left (core answers a site's refusal promptly from it).
type RetryInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Attempt is the attempt that failed, from 1; MaxAttempts the
	// stage's budget (MaxRetry+1).
	Attempt     int `json:"attempt"`
	MaxAttempts int `json:"max_attempts"`
	// At is when the attempt failed, Next when the next one runs.
	At   time.Time `json:"at"`
	Next time.Time `json:"next"`
}

// Terminal reports whether no event follows this one.
func (e Event) Terminal() bool { return e.Type == EventResult || e.Type == EventError }

// Result is a finished job's answer.
type Result struct {
	Markdown         string    `json:"markdown"`
	Model            string    `json:"model"`
	Chapters         []Chapter `json:"chapters,omitempty"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Cached           bool      `json:"cached,omitempty"`
	Truncated        bool      `json:"truncated,omitempty"`
	// Highlights and Grounding: see ViewResult.
	Highlights []Highlight `json:"highlights,omitempty"`
	Grounding  *Grounding  `json:"grounding,omitempty"`
}

// ErrorInfo is why a job ended without a result.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error makes an ErrorInfo the error of what fails with a code before or
// without a job (a playlist's expansion): "code: message".
func (e *ErrorInfo) Error() string { return e.Code + ": " + e.Message }

// View is a job as clients see it: in GET /api/v1/jobs/{id}, in lists and
// in webhook deliveries.
type View struct {
	ID             string      `json:"id"`
	Object         string      `json:"object"`
	State          string      `json:"state"`
	Progress       float64     `json:"progress"`
	URL            string      `json:"url,omitempty"`
	VideoKey       string      `json:"video_key,omitempty"`
	Title          string      `json:"title,omitempty"`
	Duration       float64     `json:"duration_seconds,omitempty"`
	Model          string      `json:"model"`
	Prompt         string      `json:"prompt,omitempty"`
	AudioLanguage  string      `json:"audio_language,omitempty"`
	OutputLanguage string      `json:"output_language,omitempty"`
	CostSeconds    int64       `json:"cost_seconds"`
	CostMinutes    int64       `json:"cost_minutes"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at"`
	ResolvedAt     *time.Time  `json:"resolved_at,omitempty"`
	TranscribedAt  *time.Time  `json:"transcribed_at,omitempty"`
	FinishedAt     *time.Time  `json:"finished_at,omitempty"`
	Result         *ViewResult `json:"result,omitempty"`
	Error          *ErrorInfo  `json:"error,omitempty"`
	// Start and End are the part of the video a ranged job works on, in
	// seconds (absent for the whole video; End absent: to its end).
	Start *float64 `json:"start,omitempty"`
	End   *float64 `json:"end,omitempty"`
	// Frames is how many frames a job that asked for them (frames: true)
	// has, at /api/v1/jobs/{id}/frames/{n}.jpg; FramesNote says why it has
	// none (audio-only media). Absent for a job that did not ask.
	Frames     *int   `json:"frames,omitempty"`
	FramesNote string `json:"frames_note,omitempty"`
}

// ViewResult is a succeeded job's summary.
type ViewResult struct {
	Summary          string    `json:"summary"`
	Chapters         []Chapter `json:"chapters"`
	Model            string    `json:"model"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	Truncated        bool      `json:"truncated"`
	// Highlights are the summary's timestamped lines, each with the
	// transcript segment that supports it; Grounding counts the
	// timestamps checked and repaired and the lines dropped.
	Highlights []Highlight `json:"highlights,omitempty"`
	Grounding  *Grounding  `json:"grounding,omitempty"`
}

// TaskView is a job's stage task as asynq holds it.
type TaskView struct {
	ID            string     `json:"id"`
	Type          string     `json:"type"`
	Queue         string     `json:"queue"`
	State         string     `json:"state"`
	Retried       int        `json:"retried"`
	MaxRetry      int        `json:"max_retry"`
	LastError     string     `json:"last_error,omitempty"`
	LastFailedAt  *time.Time `json:"last_failed_at,omitempty"`
	NextProcessAt *time.Time `json:"next_process_at,omitempty"`
}
