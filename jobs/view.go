package jobs

import (
	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// ViewOf renders a job; sm is its summary when it has one.
func ViewOf(j *recap.Job, sm *store.Summary) recap.View {
	v := recap.View{ID: j.ID, Object: "job", State: j.State, Progress: j.Progress, URL: j.URL, VideoKey: j.VideoKey, Title: j.Title,
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
		r := &recap.ViewResult{Summary: j.ResultMarkdown, Model: j.ResultModel, PromptTokens: j.PromptTokens,
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
		v.Error = &recap.ErrorInfo{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	return v
}
