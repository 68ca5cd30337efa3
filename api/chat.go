package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// PublicModel is the model name of the BibiGPT contract.
const PublicModel = "bibigpt"

// resolveModel maps the request's model to the provider model a job uses.
func (s *Server) resolveModel(m string) (string, error) {
	switch {
	case m == "" || m == PublicModel:
		if s.cfg.DefaultModel == "" {
			return summarize.ExtractiveModel, nil
		}
		return s.cfg.DefaultModel, nil
	case strings.HasPrefix(m, PublicModel+"/"):
		name := strings.TrimPrefix(m, PublicModel+"/")
		if name == "" || len(name) > 128 || strings.ContainsAny(name, " \t\r\n") {
			return "", badRequest("model_not_found", "model", "The model %q does not exist.", truncate(m, 140))
		}
		if name != summarize.ExtractiveModel && s.cfg.DefaultModel == "" {
			return "", badRequest("model_not_found", "model", "No language model is configured on this server; use 'bibigpt' or 'bibigpt/%s'.", summarize.ExtractiveModel)
		}
		return name, nil
	}
	for _, known := range s.modelNames() {
		if m == known {
			return s.resolveModel(PublicModel + "/" + m)
		}
	}
	return "", &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("The model %q does not exist; GET /api/v1/models lists the models of this server.", truncate(m, 140))}
}

func (s *Server) modelNames() []string {
	names := []string{summarize.ExtractiveModel}
	if s.cfg.DefaultModel != "" {
		names = append(names, s.cfg.DefaultModel)
	}
	for _, m := range s.cfg.Models {
		if m != "" && m != s.cfg.DefaultModel && m != summarize.ExtractiveModel {
			names = append(names, m)
		}
	}
	return names
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	data := []modelObject{{ID: PublicModel, Object: "model", Created: 1700000000, OwnedBy: "recap"}}
	for _, m := range s.modelNames() {
		data = append(data, modelObject{ID: PublicModel + "/" + m, Object: "model", Created: 1700000000, OwnedBy: "recap"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// readBody reads a request body of at most MaxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("invalid_body", "", "The request body could not be read.")
	}
	if len(body) > MaxBodyBytes {
		return nil, badRequest("request_too_large", "", "The request body is larger than the limit of %d bytes.", MaxBodyBytes)
	}
	return body, nil
}

// urlKey checks that u is an http(s) URL and returns its canonical video
// key. It touches no network: a cache hit never needs to.
func urlKey(u string) (string, error) {
	key, err := jobs.VideoKey(u)
	if err != nil {
		return "", badRequest("invalid_url", "messages", "%q is not an http(s) URL.", truncate(u, 100))
	}
	return key, nil
}

// admitTarget checks where a URL that is about to be fetched points (DNS
// included): private, loopback and link-local targets are refused unless
// the policy admits them.
func (s *Server) admitTarget(ctx context.Context, u string) error {
	err := jobs.CheckURLPolicy(ctx, u, jobs.URLPolicy{AllowPrivate: s.cfg.AllowPrivateNetworks, Allow: s.cfg.AllowedNetworks})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jobs.ErrURLNotAllowed):
		return badRequest("url_not_allowed", "messages", "The URL %q points at a private, loopback or link-local address, which this server does not fetch.", truncate(u, 100))
	case errors.Is(err, jobs.ErrBadURL):
		return badRequest("invalid_url", "messages", "%q is not an http(s) URL.", truncate(u, 100))
	}
	return badRequest("invalid_url", "messages", "The host of %q could not be resolved.", truncate(u, 100))
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
	model, err := s.resolveModel(p.Model)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	key := caller(r)
	j := &store.Job{AccountID: key.AccountID, APIKeyID: key.ID, Kind: "summary", Queue: jobs.QueueInteractive, URL: p.URL, Prompt: p.Prompt,
		Model: model, AudioLanguage: p.AudioLanguage, OutputLanguage: p.OutputLanguage, Images: p.Images,
		Stream: p.Stream, Refresh: p.Refresh}
	if p.FollowUp {
		j.Kind = "answer"
		for _, m := range p.History {
			j.History = append(j.History, store.Message{Role: m.Role, Content: m.Content})
		}
	}
	if p.URL != "" {
		if j.VideoKey, err = urlKey(p.URL); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	for _, im := range p.Images {
		if strings.HasPrefix(im, "data:") {
			continue
		}
		if err := jobs.CheckURL(ctx, im, s.cfg.AllowPrivateNetworks); err != nil {
			s.writeError(w, r, badRequest("url_not_allowed", "messages", "The image URL %q is not allowed or could not be resolved.", truncate(im, 100)))
			return
		}
	}
	j.RequestHash = requestHash(j)
	reply := replyModel(p.Model, model)
	idem, err := idempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Without an Idempotency-Key a cache hit is answered and recorded in one
	// statement; with one, the plan only reads, and is carried out by the
	// request that claims the key.
	plan, planErr := s.planChat(r, j, idem == "")
	if idem != "" {
		// The plan is made before the key is claimed, so that a replay is
		// never refused for what happened since (a balance the first
		// request spent); it is carried out only by the claiming request.
		ids, again, err := s.cfg.Store.Idempotent(ctx, key.AccountID, idem, requestDigest(r, body), s.cfg.IdempotencyTTL,
			func(ctx context.Context, tx *store.JobTx) ([]string, error) {
				if planErr != nil {
					return nil, planErr
				}
				switch {
				case plan.cached != nil:
					err = tx.CreateCachedJob(ctx, j, plan.cached)
				case plan.attach != nil:
					j = plan.attach
				default:
					err = tx.CreateJob(ctx, j)
				}
				if err != nil {
					return nil, err
				}
				return []string{j.ID}, nil
			})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if again {
			replayed(w)
			s.replayChat(w, r, ids, reply, p.Stream, p.IncludeUsage)
			return
		}
		if plan.cached == nil && plan.attach == nil {
			if err := s.cfg.Jobs.Start(ctx, j); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	} else {
		if planErr != nil {
			s.writeError(w, r, planErr)
			return
		}
		switch {
		case plan.cached != nil: // recorded by planChat
		case plan.attach != nil:
			j = plan.attach
		default:
			err = s.cfg.Jobs.Submit(ctx, j)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	w.Header().Set("X-Recap-Job-Id", j.ID)
	if plan.cached != nil {
		s.cfg.Metrics.SummaryCacheHit()
		sm := plan.cached
		res := &jobs.Result{Markdown: sm.Markdown, Model: sm.Model, PromptTokens: sm.PromptTokens,
			CompletionTokens: sm.CompletionTokens, Cached: true, Truncated: sm.Truncated}
		writeCached(w, j, reply, res, p.Stream, p.IncludeUsage)
		return
	}
	if p.Stream {
		s.streamJob(w, r, j, reply, p.IncludeUsage)
		return
	}
	s.waitJob(w, r, j, reply)
}

// chatPlan is what a chat completion will do: answer from the summary
// cache, attach to the same request's running job, or (neither set)
// start a new job.
type chatPlan struct {
	cached *store.Summary
	attach *store.Job
}

// planChat decides how to answer j. It writes nothing, except that with
// record a cache hit is recorded as j in the same statement that finds it.
// An empty balance refuses new paid work at once; a URL about to be
// fetched is checked against the network policy.
func (s *Server) planChat(r *http.Request, j *store.Job, record bool) (chatPlan, error) {
	ctx := r.Context()
	key := caller(r)
	// A summary made before for the same video, prompt, model and languages
	// answers at once, free, without the queue.
	if !j.Refresh && j.Kind == "summary" && j.URL != "" {
		var sm *store.Summary
		var err error
		promptHash := jobs.PromptHash(j.Prompt, j.Images)
		if record {
			sm, err = s.cfg.Store.CreateJobFromCache(ctx, j, promptHash)
		} else {
			sm, err = s.cfg.Store.CachedSummary(ctx, j.VideoKey, j.AudioLanguage, promptHash, j.Model, j.OutputLanguage)
		}
		if err == nil {
			return chatPlan{cached: sm}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return chatPlan{}, err
		}
	}
	bal, err := s.cfg.Store.Balance(ctx, key.AccountID)
	if err != nil {
		return chatPlan{}, err
	}
	if bal.Available <= 0 && j.Kind != "answer" && j.URL != "" {
		return chatPlan{}, insufficientQuota("Your credit balance is empty. Ask the operator to grant more minutes.")
	}
	// The same request again (a client retrying after job_still_running)
	// attaches to the job already running instead of starting another.
	if !j.Refresh {
		prev, err := s.cfg.Store.ActiveJobByHash(ctx, key.AccountID, j.RequestHash)
		if err == nil {
			return chatPlan{attach: prev}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return chatPlan{}, err
		}
	}
	if j.URL != "" {
		if err := s.admitTarget(ctx, j.URL); err != nil {
			return chatPlan{}, err
		}
	}
	return chatPlan{}, nil
}

// replayChat answers a repeated idempotent completion with the first
// request's job.
func (s *Server) replayChat(w http.ResponseWriter, r *http.Request, ids []string, model string, stream, includeUsage bool) {
	list, err := s.cfg.Store.AccountJobs(r.Context(), caller(r).AccountID, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(list) != 1 {
		s.writeError(w, r, fmt.Errorf("idempotent replay: %d jobs for a completion", len(list)))
		return
	}
	s.replyChat(w, r, &list[0], model, stream, includeUsage)
}

// replyModel is the model named in replies: what the client asked for, but
// never hiding that the offline summarizer answered.
func replyModel(asked, used string) string {
	if used == summarize.ExtractiveModel {
		return PublicModel + "/" + summarize.ExtractiveModel
	}
	if asked == "" {
		return PublicModel
	}
	return asked
}

// requestHash identifies a request for attaching repeats to a running job.
func requestHash(j *store.Job) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.Encode([]any{j.Kind, j.VideoKey, j.URL, j.Prompt, j.Model, j.AudioLanguage, j.OutputLanguage, j.Images, j.History}) //nolint:errcheck
	return hex.EncodeToString(h.Sum(nil))
}

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatContent `json:"message,omitempty"`
	Delta        *chatContent `json:"delta,omitempty"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Role             string `json:"role,omitempty"`
	Content          string `json:"content,omitempty"`
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(r *jobs.Result) *chatUsage {
	return &chatUsage{PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, TotalTokens: r.PromptTokens + r.CompletionTokens}
}

// waitJob answers a non-stream completion once the job ends, or with
// job_still_running when it outlives SyncWait.
func (s *Server) waitJob(w http.ResponseWriter, r *http.Request, j *store.Job, model string) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SyncWait)
	defer cancel()
	var final *jobs.Event
	err := s.cfg.Jobs.Events().Follow(ctx, j.ID, "0", s.cfg.Heartbeat, nil, func(ev jobs.Event) error {
		if ev.Terminal() {
			final = &ev
		}
		return nil
	})
	if final == nil {
		if r.Context().Err() != nil {
			return // the client left; the job goes on
		}
		if errors.Is(err, context.DeadlineExceeded) {
			s.writeError(w, r, &Error{Status: http.StatusGatewayTimeout, Type: "api_error", Code: "job_still_running",
				Message: fmt.Sprintf("Job %s is still running. Send the same request again to wait for it, or follow GET /api/v1/jobs/%s.", j.ID, j.ID),
				Header:  http.Header{"Retry-After": {"5"}}})
			return
		}
		s.writeError(w, r, fmt.Errorf("follow job %s: %w", j.ID, err))
		return
	}
	if final.Type == jobs.EventError {
		s.writeError(w, r, jobError(final.Error))
		return
	}
	writeCompletion(w, j, model, final.Result)
}

func writeCompletion(w http.ResponseWriter, j *store.Job, model string, res *jobs.Result) {
	stop := "stop"
	writeJSON(w, http.StatusOK, chatCompletion{ID: "chatcmpl-" + j.ID, Object: "chat.completion", Created: j.CreatedAt.Unix(),
		Model: model, Usage: usageOf(res),
		Choices: []chatChoice{{Message: &chatContent{Role: "assistant", Content: res.Markdown}, FinishReason: &stop}}})
}

// chunkWriter writes chat.completion.chunk events of one completion.
type chunkWriter struct {
	w       io.Writer
	f       http.Flusher
	id      string
	created int64
	model   string
}

func newChunkWriter(w http.ResponseWriter, j *store.Job, model string) *chunkWriter {
	f, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &chunkWriter{w: w, f: f, id: "chatcmpl-" + j.ID, created: j.CreatedAt.Unix(), model: model}
}

func (c *chunkWriter) raw(s string) error {
	if _, err := io.WriteString(c.w, s); err != nil {
		return err
	}
	if c.f != nil {
		c.f.Flush()
	}
	return nil
}

func (c *chunkWriter) send(delta *chatContent, finish *string, usage *chatUsage) error {
	b, _ := json.Marshal(chatCompletion{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model,
		Choices: []chatChoice{{Delta: delta, FinishReason: finish}}, Usage: usage})
	return c.raw("data: " + string(b) + "\n\n")
}

// finish sends the last chunk (finish_reason, optional usage).
func (c *chunkWriter) finish(res *jobs.Result, includeUsage bool) error {
	stop := "stop"
	var usage *chatUsage
	if includeUsage {
		usage = usageOf(res)
	}
	return c.send(&chatContent{}, &stop, usage)
}

func (c *chunkWriter) done() { c.raw("data: [DONE]\n\n") } //nolint:errcheck

// writeCached answers from the summary cache, as JSON or as a stream.
func writeCached(w http.ResponseWriter, j *store.Job, model string, res *jobs.Result, stream, includeUsage bool) {
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

// streamJob relays a job's events as chat.completion.chunk events:
// progress as reasoning_content, the summary as content.
func (s *Server) streamJob(w http.ResponseWriter, r *http.Request, j *store.Job, model string, includeUsage bool) {
	ctx := r.Context()
	events := s.cfg.Jobs.Events()

	// Wait briefly for the price (or the end) so a refused hold is still a
	// plain 429 before any byte of the stream.
	var backlog []jobs.Event
	last := "0"
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PricedWait)
	_ = events.Follow(pctx, j.ID, "0", s.cfg.PricedWait, nil, func(ev jobs.Event) error {
		backlog = append(backlog, ev)
		last = ev.ID
		if ev.Type == jobs.EventPriced || ev.Terminal() {
			return errStop
		}
		return nil
	})
	cancel()
	if ctx.Err() != nil {
		return
	}
	if n := len(backlog); n > 0 && backlog[n-1].Type == jobs.EventError && !hasDelta(backlog) {
		s.writeError(w, r, jobError(backlog[n-1].Error))
		return
	}

	c := newChunkWriter(w, j, model)
	var sent strings.Builder
	if err := c.send(&chatContent{Role: "assistant"}, nil, nil); err != nil {
		return
	}
	handle := func(ev jobs.Event) error {
		switch ev.Type {
		case jobs.EventState:
			if msg := stateMessage(ev.State); msg != "" {
				return c.send(&chatContent{ReasoningContent: msg + "\n"}, nil, nil)
			}
		case jobs.EventProgress:
			if ev.Message != "" {
				return c.send(&chatContent{ReasoningContent: ev.Message + "\n"}, nil, nil)
			}
		case jobs.EventDelta:
			sent.WriteString(ev.Text)
			return c.send(&chatContent{Content: ev.Text}, nil, nil)
		case jobs.EventResult:
			md := ev.Result.Markdown
			// Deltas may be missing (a cache hit, a summary made by a job
			// this one shared its stage with): send what was not sent.
			// When the stored summary differs from what streamed (the
			// summarizer repaired its chapter list), the client keeps what it
			// has; GET /api/v1/jobs/{id} has the repaired text.
			if rest, ok := strings.CutPrefix(md, sent.String()); ok && rest != "" {
				if err := c.send(&chatContent{Content: rest}, nil, nil); err != nil {
					return err
				}
			}
			return c.finish(ev.Result, includeUsage)
		case jobs.EventError:
			return c.raw("data: " + string(errorJSON(jobError(ev.Error))) + "\n\n")
		}
		return nil
	}
	for _, ev := range backlog {
		if err := handle(ev); err != nil {
			return
		}
		if ev.Terminal() {
			c.done()
			return
		}
	}
	err := events.Follow(ctx, j.ID, last, s.cfg.Heartbeat, func() error { return c.raw(": keep-alive\n\n") }, handle)
	if err == nil {
		c.done()
	}
}

var errStop = errors.New("stop")

func hasDelta(evs []jobs.Event) bool {
	for _, e := range evs {
		if e.Type == jobs.EventDelta {
			return true
		}
	}
	return false
}

func stateMessage(state string) string {
	switch state {
	case store.StateQueued:
		return "Queued…"
	case store.StateResolving:
		return "Resolving the video…"
	case store.StateTranscribing:
		return "Getting the transcript…"
	case store.StateSummarizing:
		return "Summarizing…"
	}
	return ""
}
