package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// summaryTask writes a job's summary or answer: in the job's queue, bounded
// by Timeouts.Summary, retried MaxRetry times.
var summaryTask = task{typ: TypeSummary, state: recap.StateSummarizing, timeout: func(t Timeouts) time.Duration { return t.Summary }}

// summary summarizes the transcript (once per transcript, prompt, model
// and output language), or answers the job's question, or describes its
// images, streaming the text to the job's followers.
func (w *Worker) summary(ctx context.Context, j *recap.Job) error {
	sum := w.summarizer(j.Model)
	model := w.summaryModel(j)
	deltas := &deltaPublisher{publish: func(text string) { w.publish(ctx, j.ID, recap.Event{Type: recap.EventDelta, Text: text}) }}
	defer deltas.flush()
	onDelta := deltas.add
	images, err := w.imageData(ctx, j.Images)
	if err != nil {
		return err
	}
	if j.TranscriptID == nil { // images only
		res, err := sum.Summarize(ctx, summarize.Request{Prompt: j.Prompt, Model: model, OutputLanguage: j.OutputLanguage, Images: images}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		return w.succeed(ctx, j, nil, resultOf(res, model, false))
	}
	t, err := w.cfg.Store.Transcript(ctx, *j.TranscriptID)
	if err != nil {
		return err
	}
	segs := t.Segments
	if j.Kind == "answer" {
		res, err := sum.Answer(ctx, summarize.Question{Title: j.Title, Segments: segs, History: j.History, Question: j.Prompt,
			Model: model, OutputLanguage: j.OutputLanguage}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		return w.succeed(ctx, j, nil, resultOf(res, model, false))
	}
	hash := PromptHash(j.Prompt, j.Images)
	var sm *store.Summary
	cached := false
	err = w.cfg.Store.WithLock(ctx, fmt.Sprintf("summary:%d:%s:%s:%s", t.ID, hash, model, j.OutputLanguage), func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			sm, err = w.cfg.Store.FindSummary(ctx, t.ID, hash, model, j.OutputLanguage)
			if err == nil {
				cached = true
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Summarizing…"})
		start, end := 0.0, t.Duration
		if rg := j.Range; !rg.IsZero() {
			start, end = rg.Start, rg.EndIn(t.Duration)
		}
		res, err := sum.Summarize(ctx, summarize.Request{Title: j.Title, Start: start, Duration: end, Segments: segs, Prompt: j.Prompt,
			Model: model, OutputLanguage: j.OutputLanguage, Images: images}, onDelta)
		deltas.flush()
		if err != nil {
			return llmError(err)
		}
		sm = &store.Summary{TranscriptID: t.ID, PromptHash: hash, Model: model, OutputLanguage: j.OutputLanguage,
			Markdown: res.Markdown, Chapters: res.Chapters, PromptTokens: res.Usage.PromptTokens,
			CompletionTokens: res.Usage.CompletionTokens, Truncated: res.Truncated}
		g := groundingOf(res)
		sm.Highlights, sm.Grounding = g.Highlights, g.Counts
		cleanSummary(sm)
		return w.cfg.Store.SaveGroundedSummary(ctx, sm, g)
	})
	if err != nil {
		return err
	}
	r := &recap.Result{Markdown: sm.Markdown, Model: sm.Model, PromptTokens: sm.PromptTokens, CompletionTokens: sm.CompletionTokens,
		Cached: cached, Truncated: sm.Truncated, Highlights: sm.Highlights, Grounding: sm.Grounding}
	r.Chapters = append(r.Chapters, sm.Chapters...)
	if j.Frames {
		// The summary is shared; its frames and their links are the job's.
		if r.Markdown, err = w.frames(ctx, j, sm.Highlights, sm.Markdown); err != nil {
			return err
		}
	}
	return w.succeed(ctx, j, &sm.ID, r)
}

// deltaWindow is the longest a summary's text waits before it goes out.
// An LLM streams a token every few milliseconds; one event (a Redis round
// trip) per token would make the stream the summary stage's main cost.
const deltaWindow = 40 * time.Millisecond

// deltaPublisher coalesces the LLM's text deltas into one event per
// deltaWindow, in order.
type deltaPublisher struct {
	publish func(text string)

	pubMu sync.Mutex // orders publishes: the timer's and flush's
	mu    sync.Mutex
	buf   strings.Builder
	timer *time.Timer
}

// add buffers text and makes sure it goes out within deltaWindow.
func (d *deltaPublisher) add(text string) {
	if text == "" {
		return
	}
	d.mu.Lock()
	d.buf.WriteString(text)
	if d.timer == nil {
		d.timer = time.AfterFunc(deltaWindow, d.flush)
	}
	d.mu.Unlock()
}

// flush publishes what is buffered now.
func (d *deltaPublisher) flush() {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	d.mu.Lock()
	text := d.buf.String()
	d.buf.Reset()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
	if text != "" {
		d.publish(text)
	}
}

func (w *Worker) succeed(ctx context.Context, j *recap.Job, summaryID *int64, r *recap.Result) error {
	o := store.Outcome{State: recap.StateSucceeded, SummaryID: summaryID, ResultModel: r.Model,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens}
	if summaryID == nil || j.Frames {
		// A job with frames keeps its own markdown: the summary's with
		// links to the job's frames.
		o.ResultMarkdown = r.Markdown
	}
	ok, err := w.cfg.Store.Finish(ctx, j.ID, o)
	if err != nil {
		return err
	}
	if ok {
		w.cfg.Metrics.JobFinished(recap.StateSucceeded, "")
		w.publish(ctx, j.ID, recap.Event{Type: recap.EventResult, State: recap.StateSucceeded, Result: r})
		if j.WebhookURL != "" {
			w.ended(ctx, j.ID)
		}
	}
	return nil
}

// summaryModel is the model name a job's summary is made and cached under.
func (w *Worker) summaryModel(j *recap.Job) string {
	sum := w.summarizer(j.Model)
	if j.Model == "" || sum != w.cfg.LLM {
		return sum.Model()
	}
	return j.Model
}

// summarizer picks the model's implementation: the offline extractive
// summarizer when asked for by name or when no LLM is configured.
func (w *Worker) summarizer(model string) Summarizer {
	if w.cfg.LLM == nil || model == summarize.ExtractiveModel {
		return w.cfg.Extractive
	}
	return w.cfg.LLM
}

func resultOf(res *summarize.Result, model string, cached bool) *recap.Result {
	r := &recap.Result{Markdown: res.Markdown, Model: res.Model, PromptTokens: res.Usage.PromptTokens,
		CompletionTokens: res.Usage.CompletionTokens, Cached: cached, Truncated: res.Truncated}
	if r.Model == "" {
		r.Model = model
	}
	r.Chapters = append(r.Chapters, res.Chapters...)
	g := groundingOf(res)
	if len(g.Highlights) > 0 {
		r.Highlights = g.Highlights
	}
	r.Grounding = g.Counts
	return r
}

// PromptHash identifies a custom prompt (and images) for the summary cache.
func PromptHash(prompt string, images []string) string {
	h := sha256.New()
	h.Write([]byte(strings.TrimSpace(prompt)))
	for _, im := range images {
		h.Write([]byte{0})
		h.Write([]byte(im))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func llmError(err error) error {
	var se *summarize.SchemaError
	if errors.As(err, &se) {
		return permanent(recap.CodeSchemaValidationFailed, se.Error(), err)
	}
	if errors.Is(err, summarize.ErrFormatUnsupported) {
		return permanent(recap.CodeResponseFormatUnsupported, "the offline summarizer cannot write JSON; a response format needs a language model", err)
	}
	if errors.Is(err, summarize.ErrEmptyAnswer) {
		return permanent(recap.CodeModelError, "the language model's answer was empty, or had nothing left once the moments the transcript does not hold were taken out", err)
	}
	if errors.Is(err, summarize.ErrPermanent) {
		return providerRefused("the language model", err)
	}
	return &Error{Code: recap.CodeUpstream, Message: "the language model failed: " + err.Error(), Err: err}
}

// imageData fetches a job's image URLs itself, under the network policy
// (each redirect checked when dialed, size capped, type sniffed), and
// hands the model data URLs: a provider given the URL would follow its
// redirects from inside its own network. An image the policy forbids, or
// that is not an image, fails the job at once.
func (w *Worker) imageData(ctx context.Context, urls []string) ([]string, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	out := make([]string, len(urls))
	for i, u := range urls {
		d, err := w.images.DataURL(ctx, u)
		if err != nil {
			return nil, imageError(i, err)
		}
		out[i] = d
	}
	return out, nil
}

// groundingOf is a summary's highlights and grounding counts as stored.
func groundingOf(res *summarize.Result) store.SummaryGrounding {
	g := store.SummaryGrounding{Highlights: append(make([]recap.Highlight, 0, len(res.Highlights)), res.Highlights...)}
	if res.Grounding != nil {
		c := *res.Grounding
		g.Counts = &c
	}
	return g
}
