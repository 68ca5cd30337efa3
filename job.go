package recap

import "time"

// Job states. A job moves forward through them and ends in exactly one of
// the terminal states.
const (
	StateQueued       = "queued"
	StateResolving    = "resolving"
	StateTranscribing = "transcribing"
	StateSummarizing  = "summarizing"
	StateSucceeded    = "succeeded"
	StateFailed       = "failed"
	StateCanceled     = "canceled"
)

// Terminal reports whether a state is final.
func Terminal(state string) bool {
	return state == StateSucceeded || state == StateFailed || state == StateCanceled
}

// runningStates are the non-terminal states in pipeline order.
var runningStates = [...]string{StateQueued, StateResolving, StateTranscribing, StateSummarizing}

// StageRank returns a non-terminal state's place along the pipeline
// (queued 0, resolving 1, transcribing 2, summarizing 3), or -1 for a
// terminal or unknown state.
func StageRank(state string) int {
	for i, s := range runningStates {
		if s == state {
			return i
		}
	}
	return -1
}

// MayStart reports whether a job in state from may start (or, being in
// it, run again) the stage whose state is stage: a job never moves
// backwards along the pipeline, so a duplicate task of an earlier stage
// changes nothing, and an ended job stays ended. Queued is no stage.
func MayStart(from, stage string) bool {
	r, f := StageRank(stage), StageRank(from)
	return r > 0 && f >= 0 && f <= r
}

// StatesBefore returns the non-terminal states a job may start stage
// from (see MayStart), in pipeline order; none when stage is no stage.
func StatesBefore(stage string) []string {
	var out []string
	for _, s := range runningStates {
		if MayStart(s, stage) {
			out = append(out, s)
		}
	}
	return out
}

// Job kinds: what a job makes.
const (
	// KindSummary summarizes a video (or images, or a file).
	KindSummary = "summary"
	// KindAnswer answers a follow-up question about a video summarized
	// before, with the conversation so far.
	KindAnswer = "answer"
)

// Message is one prior turn of a conversation, kept for follow-up
// answers; Role is "user", "assistant" or "system".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Job is one unit of work: summarize a video, or answer a question about one.
type Job struct {
	ID             string
	AccountID      int64
	APIKeyID       int64
	Kind           string // KindSummary or KindAnswer
	Queue          string
	URL            string
	VideoKey       string
	Prompt         string
	Model          string
	AudioLanguage  string
	OutputLanguage string
	Images         []string
	History        []Message
	Stream         bool
	Refresh        bool
	WebhookURL     string
	RequestHash    string
	// Range is the part of the video the job works on (the zero Range:
	// all of it). Its transcript and summary are kept apart from the whole
	// video's and from other ranges'.
	Range Range
	// TokenPrice is the credit seconds per 1,000 model tokens of a job
	// priced by tokens (set when it is admitted); 0 for a job priced by
	// its media's duration.
	TokenPrice float64
	// Frames asks for a JPEG at each highlight's moment; FrameCount is how
	// many were made, FramesNote why none were (audio-only media).
	Frames     bool
	FrameCount int
	FramesNote string

	State        string
	Progress     float64
	ErrorCode    string
	ErrorMessage string
	CostSeconds  int64
	Duration     float64
	Title        string
	TranscriptID *int64
	SummaryID    *int64

	ResultMarkdown   string
	ResultModel      string
	PromptTokens     int
	CompletionTokens int

	CreatedAt     time.Time
	UpdatedAt     time.Time
	ResolvedAt    *time.Time
	TranscribedAt *time.Time
	FinishedAt    *time.Time
}
