package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// PublicModel is the model name of the BibiGPT contract.
const PublicModel = core.PublicModel

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func modelJSON(m core.Model) modelObject {
	return modelObject{ID: m.ID, Object: "model", Created: m.Created, OwnedBy: m.OwnedBy}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	list := s.core.Models()
	data := make([]modelObject, 0, len(list))
	for _, m := range list {
		data = append(data, modelJSON(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// handleModel is GET /models/{id}: model ids hold a slash
// ("bibigpt/recap-extractive"), so the route matches the rest of the path.
func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	m, err := s.core.Model(mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, modelJSON(m))
}

// readBody reads a request body of at most MaxBodyBytes. A longer body
// that sends a file inline (a file_data part, read so far) is a file too
// large for the JSON body: 413 file_too_large, pointing at the Files
// API, which takes large files.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("invalid_body", "", "The request body could not be read.")
	}
	if len(body) > MaxBodyBytes {
		if bytes.Contains(body, []byte(`"file_data"`)) {
			return nil, fromCore(&core.Error{Kind: core.KindTooLarge, Code: "file_too_large", Param: "file_data", NoRetry: true,
				Message: fmt.Sprintf("The request body is larger than the limit of %d bytes, so a file sent inline (file_data) must be smaller. "+
					"Upload larger files with the Files API (POST /v1/files, purpose \"user_data\") and send their file_id instead.", MaxBodyBytes)})
		}
		return nil, errBodyTooLarge(0, MaxBodyBytes)
	}
	return body, nil
}

// summarizeRequest is a parsed chat completion as the use cases take it.
func (p *Parsed) summarizeRequest(r *http.Request, body []byte) (core.SummarizeRequest, error) {
	idem, err := idempotency(r, body)
	if err != nil {
		return core.SummarizeRequest{}, err
	}
	req := core.SummarizeRequest{Caller: caller(r), URL: p.URL, Prompt: p.Prompt, Model: p.Model,
		AudioLanguage: p.AudioLanguage, OutputLanguage: p.OutputLanguage, Images: p.Images, FollowUp: p.FollowUp,
		Refresh: p.Refresh, Stream: p.Stream, Idempotency: idem, Format: p.Format, Start: p.Start, End: p.End, Frames: p.Frames}
	for _, m := range p.History {
		req.History = append(req.History, recap.Message{Role: m.Role, Content: m.Content})
	}
	return req, nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := ParseChatRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.submit(r, body, p, "messages")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.replyChat(w, r, sub, p.Stream, p.IncludeUsage)
}

// submit hands a parsed summary request to the use cases (param names the
// field its URL came from) and, once it is accepted, sets the headers
// every door's reply carries: the job id, and Idempotent-Replayed.
func (s *Server) submit(r *http.Request, body []byte, p *Parsed, param string) (*core.Submission, error) {
	req, err := p.summarizeRequest(r, body)
	if err != nil {
		return nil, err
	}
	req.Param = param
	sub, err := s.core.Submit(r.Context(), req)
	if err != nil {
		return nil, err
	}
	if sub.CacheHit {
		s.cfg.Metrics.SummaryCacheHit()
	}
	return sub, nil
}

// announce sets the headers of a reply to an accepted submission.
func announce(w http.ResponseWriter, sub *core.Submission) {
	if sub.Replayed {
		replayed(w)
	}
	w.Header().Set("X-Recap-Job-Id", sub.Job.ID)
}

// replyChat answers a chat completion from its submission: a ready result
// at once, a failed replay with its error, else by following the job.
func (s *Server) replyChat(w http.ResponseWriter, r *http.Request, sub *core.Submission, stream, includeUsage bool) {
	announce(w, sub)
	j := sub.Job
	switch {
	case sub.Failed != nil:
		s.writeError(w, r, sub.Failed)
	case sub.Result != nil:
		writeCached(w, j, sub.Model, sub.Result, stream, includeUsage)
	case stream:
		s.streamJob(w, r, j, sub.Model, includeUsage)
	default:
		s.waitJob(w, r, j, sub.Model)
	}
}

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

// chatChoice is a choice of a completion (Message) or of a chunk
// (Delta). Logprobs is null: Recap has none, and the reference requires
// the field of a completion's choice.
type chatChoice struct {
	Index        int             `json:"index"`
	Message      *chatAnswer     `json:"message,omitempty"`
	Delta        *chatContent    `json:"delta,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason *string         `json:"finish_reason"`
}

// chatAnswer is a completion's message: content and refusal are required
// by the reference, so they are written even when empty or null.
type chatAnswer struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type chatContent struct {
	Role             string `json:"role,omitempty"`
	Content          string `json:"content,omitempty"`
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// jsonNull is a field written as null.
var jsonNull = json.RawMessage("null")

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(r *recap.Result) *chatUsage {
	return &chatUsage{PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, TotalTokens: r.PromptTokens + r.CompletionTokens}
}

// waitJob answers a non-stream completion once the job ends, or with
// job_still_running when it outlives SyncWait.
func (s *Server) waitJob(w http.ResponseWriter, r *http.Request, j *recap.Job, model string) {
	res, err := s.core.Wait(r.Context(), j.ID, s.cfg.Heartbeat)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client left; the job goes on
		}
		s.writeError(w, r, err)
		return
	}
	writeCompletion(w, j, model, res)
}

func writeCompletion(w http.ResponseWriter, j *recap.Job, model string, res *recap.Result) {
	stop := "stop"
	writeJSON(w, http.StatusOK, chatCompletion{ID: "chatcmpl-" + j.ID, Object: "chat.completion", Created: j.CreatedAt.Unix(),
		Model: model, Usage: usageOf(res),
		Choices: []chatChoice{{Message: &chatAnswer{Role: "assistant", Content: res.Markdown}, Logprobs: jsonNull, FinishReason: &stop}}})
}

// sseWriter writes Server-Sent Events, flushing each.
type sseWriter struct {
	w io.Writer
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sseWriter {
	f, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, f: f}
}

func (c *sseWriter) raw(s string) error {
	if _, err := io.WriteString(c.w, s); err != nil {
		return err
	}
	if c.f != nil {
		c.f.Flush()
	}
	return nil
}

func (c *sseWriter) keepAlive() error { return c.raw(": keep-alive\n\n") }

// chunkWriter writes chat.completion.chunk events of one completion.
type chunkWriter struct {
	*sseWriter
	id      string
	created int64
	model   string
}

func newChunkWriter(w http.ResponseWriter, j *recap.Job, model string) *chunkWriter {
	return &chunkWriter{sseWriter: newSSE(w), id: "chatcmpl-" + j.ID, created: j.CreatedAt.Unix(), model: model}
}

func (c *chunkWriter) send(delta *chatContent, finish *string, usage *chatUsage) error {
	b, _ := json.Marshal(chatCompletion{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model,
		Choices: []chatChoice{{Delta: delta, FinishReason: finish}}, Usage: usage})
	return c.raw("data: " + string(b) + "\n\n")
}

// finish sends the last chunk (finish_reason, optional usage).
func (c *chunkWriter) finish(res *recap.Result, includeUsage bool) error {
	stop := "stop"
	var usage *chatUsage
	if includeUsage {
		usage = usageOf(res)
	}
	return c.send(&chatContent{}, &stop, usage)
}

func (c *chunkWriter) done() { c.raw("data: [DONE]\n\n") } //nolint:errcheck

// writeCached answers from a ready result, as JSON or as a stream.
func writeCached(w http.ResponseWriter, j *recap.Job, model string, res *recap.Result, stream, includeUsage bool) {
	if !stream {
		writeCompletion(w, j, model, res)
		return
	}
	c := newChunkWriter(w, j, model)
	if c.send(&chatContent{Role: "assistant"}, nil, nil) != nil || c.send(&chatContent{Content: res.Markdown}, nil, nil) != nil ||
		c.finish(res, includeUsage) != nil {
		return
	}
	c.done()
}

// follow feeds a job's events to handle: the backlog AwaitStart read,
// then the live stream from where it ended. It reports whether the stream
// reached the job's end.
//
// A job its video site keeps refusing ends the stream at BlockedWait with
// the upstream_blocked error a non-stream request gets (core.FollowStart).
func (s *Server) follow(ctx context.Context, jobID string, st *core.Start, keepAlive func() error, handle func(recap.Event) error) bool {
	return s.core.FollowStart(ctx, jobID, st, s.cfg.Heartbeat, keepAlive, handle) == nil
}

// streamJob relays a job's events as chat.completion.chunk events:
// progress as reasoning_content, the summary as content.
func (s *Server) streamJob(w http.ResponseWriter, r *http.Request, j *recap.Job, model string, includeUsage bool) {
	ctx := r.Context()
	st, err := s.core.AwaitStart(ctx, j.ID)
	if err != nil {
		if ctx.Err() == nil {
			s.writeError(w, r, err)
		}
		return
	}
	c := newChunkWriter(w, j, model)
	var sent strings.Builder
	if err := c.send(&chatContent{Role: "assistant"}, nil, nil); err != nil {
		return
	}
	handle := func(ev recap.Event) error {
		switch ev.Type {
		case recap.EventState:
			if msg := core.StateMessage(ev.State); msg != "" {
				return c.send(&chatContent{ReasoningContent: msg + "\n"}, nil, nil)
			}
		case recap.EventProgress:
			if ev.Message != "" {
				return c.send(&chatContent{ReasoningContent: ev.Message + "\n"}, nil, nil)
			}
		case recap.EventDelta:
			sent.WriteString(ev.Text)
			return c.send(&chatContent{Content: ev.Text}, nil, nil)
		case recap.EventResult:
			// Deltas may be missing (a cache hit, a summary made by a job
			// this one shared its stage with): send what was not sent.
			// When the stored summary differs from what streamed (the
			// summarizer repaired its chapter list), the client keeps what it
			// has; GET /api/v1/jobs/{id} has the repaired text.
			if rest, ok := strings.CutPrefix(ev.Result.Markdown, sent.String()); ok && rest != "" {
				if err := c.send(&chatContent{Content: rest}, nil, nil); err != nil {
					return err
				}
			}
			return c.finish(ev.Result, includeUsage)
		case recap.EventError:
			return c.raw("data: " + string(errorJSON(r, jobError(ev.Error))) + "\n\n")
		}
		return nil
	}
	if s.follow(ctx, j.ID, st, c.keepAlive, handle) {
		c.done()
	}
}
