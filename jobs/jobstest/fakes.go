package jobstest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/summarize"
)

// Media is a scripted jobs.Media. Each field answers its method; a nil
// one fails with media.ErrUnsupported. Calls are counted.
type Media struct {
	ResolveFunc   func(ctx context.Context, url string) (*media.Info, error)
	SubtitlesFunc func(ctx context.Context, url string, info *media.Info, lang string) ([]recap.Segment, media.SubtitleTrack, error)
	AudioFunc     func(ctx context.Context, url string, info *media.Info, dir string, progress func(float64)) (string, error)
	ProbeFunc     func(ctx context.Context, path string) (float64, error)
	SplitFunc     func(ctx context.Context, path, dir string, maxChunk float64, section recap.Range) ([]media.Chunk, error)

	mu    sync.Mutex
	calls map[string]int
}

func (m *Media) count(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls == nil {
		m.calls = map[string]int{}
	}
	m.calls[name]++
}

// Calls returns how often a method was called.
func (m *Media) Calls(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[name]
}

// Resolve answers with ResolveFunc.
func (m *Media) Resolve(ctx context.Context, url string) (*media.Info, error) {
	m.count("Resolve")
	if m.ResolveFunc == nil {
		return nil, media.ErrUnsupported
	}
	return m.ResolveFunc(ctx, url)
}

// Subtitles answers with SubtitlesFunc.
func (m *Media) Subtitles(ctx context.Context, url string, info *media.Info, lang string) ([]recap.Segment, media.SubtitleTrack, error) {
	m.count("Subtitles")
	if m.SubtitlesFunc == nil {
		return nil, media.SubtitleTrack{}, media.ErrNoSubtitles
	}
	return m.SubtitlesFunc(ctx, url, info, lang)
}

// DownloadAudio answers with AudioFunc.
func (m *Media) DownloadAudio(ctx context.Context, url string, info *media.Info, dir string, progress func(float64)) (string, error) {
	m.count("DownloadAudio")
	if m.AudioFunc == nil {
		return "", media.ErrUnsupported
	}
	return m.AudioFunc(ctx, url, info, dir, progress)
}

// Probe answers with ProbeFunc.
func (m *Media) Probe(ctx context.Context, path string) (float64, error) {
	m.count("Probe")
	if m.ProbeFunc == nil {
		return 0, media.ErrUnsupported
	}
	return m.ProbeFunc(ctx, path)
}

// SplitAudio answers with SplitFunc.
func (m *Media) SplitAudio(ctx context.Context, path, dir string, maxChunk float64, section recap.Range) ([]media.Chunk, error) {
	m.count("SplitAudio")
	if m.SplitFunc == nil {
		return nil, media.ErrUnsupported
	}
	return m.SplitFunc(ctx, path, dir, maxChunk, section)
}

// Summarizer is a scripted jobs.Summarizer; a nil func answers with the
// transcript's first segment.
type Summarizer struct {
	Name          string
	SummarizeFunc func(ctx context.Context, req summarize.Request) (*summarize.Result, error)

	mu    sync.Mutex
	calls int
}

// Calls returns how many summaries and answers were asked for.
func (s *Summarizer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Summarize answers with SummarizeFunc, streaming the markdown as one delta.
func (s *Summarizer) Summarize(ctx context.Context, req summarize.Request, onDelta func(string)) (*summarize.Result, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	var res *summarize.Result
	var err error
	if s.SummarizeFunc != nil {
		res, err = s.SummarizeFunc(ctx, req)
	} else {
		md := "Summary."
		if len(req.Segments) > 0 {
			md = "[00:00] " + req.Segments[0].Text
		}
		res = &summarize.Result{Markdown: md, Model: req.Model}
	}
	if err == nil && onDelta != nil {
		onDelta(res.Markdown)
	}
	return res, err
}

// Answer answers a question like Summarize does.
func (s *Summarizer) Answer(ctx context.Context, q summarize.Question, onDelta func(string)) (*summarize.Result, error) {
	return s.Summarize(ctx, summarize.Request{Title: q.Title, Segments: q.Segments, Prompt: q.Question, Model: q.Model}, onDelta)
}

// Model is the summarizer's default model name.
func (s *Summarizer) Model() string {
	if s.Name == "" {
		return "fake-model"
	}
	return s.Name
}

// Task is one enqueued task.
type Task struct {
	Type  string
	JobID string
	ID    string
	Queue string
}

// Queue records enqueued tasks (a jobs.Enqueuer), refusing a second task
// with the same id as asynq does.
type Queue struct {
	mu    sync.Mutex
	tasks []Task
	ids   map[string]bool
	// Err, when set, fails every enqueue.
	Err error
}

// EnqueueContext records the task.
func (q *Queue) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Err != nil {
		return nil, q.Err
	}
	rec := Task{Type: t.Type(), JobID: jobID(t.Payload())}
	for _, o := range opts {
		switch o.Type() {
		case asynq.TaskIDOpt:
			rec.ID, _ = o.Value().(string)
		case asynq.QueueOpt:
			rec.Queue, _ = o.Value().(string)
		}
	}
	if q.ids == nil {
		q.ids = map[string]bool{}
	}
	if rec.ID != "" && q.ids[rec.ID] {
		return nil, asynq.ErrTaskIDConflict
	}
	q.ids[rec.ID] = true
	q.tasks = append(q.tasks, rec)
	return &asynq.TaskInfo{ID: rec.ID, Queue: rec.Queue, Type: rec.Type}, nil
}

// Tasks returns the tasks enqueued so far.
func (q *Queue) Tasks() []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Task(nil), q.tasks...)
}

// Events records published events (a jobs.Publisher).
type Events struct {
	mu     sync.Mutex
	events map[string][]recap.Event
}

// Publish records an event.
func (e *Events) Publish(_ context.Context, jobID string, ev recap.Event) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.events == nil {
		e.events = map[string][]recap.Event{}
	}
	e.events[jobID] = append(e.events[jobID], ev)
	return "", nil
}

// Of returns a job's events.
func (e *Events) Of(jobID string) []recap.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recap.Event(nil), e.events[jobID]...)
}

// ErrTransient is a failure a retry may fix.
var ErrTransient = errors.New("jobstest: transient failure")

// jobID reads a stage task's payload.
func jobID(payload []byte) string {
	var p struct {
		JobID string `json:"job_id"`
	}
	_ = json.Unmarshal(payload, &p)
	return p.JobID
}
