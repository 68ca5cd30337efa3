package jobs

import (
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

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
	Summary          string          `json:"summary"`
	Chapters         []recap.Chapter `json:"chapters"`
	Model            string          `json:"model"`
	PromptTokens     int             `json:"prompt_tokens"`
	CompletionTokens int             `json:"completion_tokens"`
	Truncated        bool            `json:"truncated"`
	// Highlights are the summary's timestamped lines, each with the
	// transcript segment that supports it; Grounding counts the
	// timestamps checked and repaired and the lines dropped.
	Highlights []recap.Highlight `json:"highlights,omitempty"`
	Grounding  *recap.Grounding  `json:"grounding,omitempty"`
}

// ViewOf renders a job; sm is its summary when it has one.
func ViewOf(j *recap.Job, sm *store.Summary) View {
	v := View{ID: j.ID, Object: "job", State: j.State, Progress: j.Progress, URL: j.URL, VideoKey: j.VideoKey, Title: j.Title,
		Duration: j.Duration, Model: j.Model, Prompt: j.Prompt, AudioLanguage: j.AudioLanguage, OutputLanguage: j.OutputLanguage,
		CostSeconds: j.CostSeconds, CostMinutes: j.CostSeconds / 60, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		ResolvedAt: j.ResolvedAt, TranscribedAt: j.TranscribedAt, FinishedAt: j.FinishedAt}
	if r := j.Range; !r.IsZero() {
		v.Start = &r.Start
		if r.End > 0 { // else to the end of the video
			v.End = &r.End
		}
	}
	switch j.State {
	case recap.StateSucceeded:
		r := &ViewResult{Summary: j.ResultMarkdown, Model: j.ResultModel, PromptTokens: j.PromptTokens,
			CompletionTokens: j.CompletionTokens, Chapters: []recap.Chapter{}}
		if sm != nil {
			r.Summary, r.Model, r.Truncated = sm.Markdown, sm.Model, sm.Truncated
			if j.ResultMarkdown != "" { // the job's own: the summary with its frames
				r.Summary = j.ResultMarkdown
			}
			r.Highlights, r.Grounding = sm.Highlights, sm.Grounding
			r.Chapters = append(r.Chapters, sm.Chapters...)
		}
		v.Result = r
		if j.Frames {
			n := j.FrameCount
			v.Frames, v.FramesNote = &n, j.FramesNote
		}
	case recap.StateFailed, recap.StateCanceled:
		v.Error = &ErrorInfo{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	return v
}
