package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// responsesRequest is the body of POST /v1/responses: OpenAI's Responses
// API request, reduced to what Recap uses, plus the extension fields of
// chat completions. input is a string or a list of input items (messages
// with input_text / input_image parts).
type responsesRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions"`
	Stream             bool            `json:"stream"`
	PreviousResponseID string          `json:"previous_response_id"`
	AudioLanguage      string          `json:"audio_language"`
	OutputLanguage     string          `json:"output_language"`
	Refresh            bool            `json:"refresh"`
	Text               json.RawMessage `json:"text"`
	Start              json.RawMessage `json:"start"`
	End                json.RawMessage `json:"end"`
	Frames             json.RawMessage `json:"frames"`
}

// responseItem is one input item: a message (type "message" or none).
type responseItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parseResponses turns a Responses request into the chat request it
// means: the same messages, so one parser applies to both doors.
func parseResponses(body []byte) (*responsesRequest, *Parsed, error) {
	var req responsesRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, nil, badRequest("invalid_json", "", "The request body is not valid JSON: %v.", err)
	}
	if dec.More() {
		return nil, nil, badRequest("invalid_json", "", "The request body has data after the JSON object.")
	}
	if req.PreviousResponseID != "" {
		return nil, nil, badRequest("unsupported_parameter", "previous_response_id",
			"Recap does not store responses: send the conversation in 'input' instead of 'previous_response_id'.")
	}
	chat := chatRequest{Model: req.Model, Stream: req.Stream, AudioLanguage: req.AudioLanguage,
		OutputLanguage: req.OutputLanguage, Refresh: req.Refresh, Start: req.Start, End: req.End, Frames: req.Frames}
	in := bytes.TrimSpace(req.Input)
	switch {
	case len(in) == 0 || string(in) == "null":
		return nil, nil, badRequest("missing_input", "input", "'input' must hold the video URL: a string, or a list of messages.")
	case in[0] == '"':
		chat.Messages = []chatMessage{{Role: "user", Content: in}}
	case in[0] == '[':
		var items []responseItem
		if err := json.Unmarshal(in, &items); err != nil {
			return nil, nil, badRequest("invalid_input", "input", "'input' must be a string or a list of messages: %v.", err)
		}
		for i, it := range items {
			if it.Type != "" && it.Type != "message" {
				return nil, nil, badRequest("invalid_input", fmt.Sprintf("input[%d].type", i),
					"Input item type %q is not supported; send messages.", truncate(it.Type, 40))
			}
			chat.Messages = append(chat.Messages, chatMessage{Role: it.Role, Content: it.Content})
		}
	default:
		return nil, nil, badRequest("invalid_input", "input", "'input' must be a string or a list of messages.")
	}
	p, err := parseChat(chat)
	if err != nil {
		if ae, ok := err.(*Error); ok {
			if rest, ok := strings.CutPrefix(ae.Param, "messages"); ok {
				cp := *ae
				cp.Param = "input" + rest
				err = &cp
			}
		}
		return nil, nil, err
	}
	if p.Format, err = parseResponsesFormat(req.Text); err != nil {
		return nil, nil, err
	}
	if ins := strings.TrimSpace(req.Instructions); ins != "" && !p.FollowUp {
		p.Prompt = strings.TrimSpace(ins + "\n\n" + p.Prompt)
	} else if ins != "" {
		p.History = append([]historyMessage{{Role: "system", Content: ins}}, p.History...)
	}
	return &req, p, nil
}

// The Responses API's objects, as Recap fills them. Every field OpenAI's
// reference marks required is written, null or empty when Recap has
// nothing to say: clients validate replies against the reference (the AI
// SDK refuses an output_text without its annotations array, openai-node's
// stream helper a message without content).
type (
	responseObject struct {
		ID                 string            `json:"id"`
		Object             string            `json:"object"`
		CreatedAt          int64             `json:"created_at"`
		Status             string            `json:"status"`
		Model              string            `json:"model"`
		Output             []outputItem      `json:"output"`
		Usage              *responseUsage    `json:"usage"`
		Error              *responseError    `json:"error"`
		IncompleteDetails  any               `json:"incomplete_details"`
		Instructions       *string           `json:"instructions"`
		ParallelToolCalls  bool              `json:"parallel_tool_calls"`
		ToolChoice         string            `json:"tool_choice"`
		Tools              []any             `json:"tools"`
		Metadata           map[string]any    `json:"metadata"`
		Text               map[string]any    `json:"text"`
		Reasoning          *responseReason   `json:"reasoning,omitempty"`
		PreviousResponseID *string           `json:"previous_response_id"`
		AccessPrograms     map[string]string `json:"access_programs"`
		// Temperature and TopP are null: Recap's summaries are not
		// sampled with a client's settings.
		Temperature *float64 `json:"temperature"`
		TopP        *float64 `json:"top_p"`
	}
	responseReason struct {
		Summary string `json:"summary,omitempty"`
	}
	// outputItem is a message or a reasoning item; MarshalJSON writes
	// the fields of its type.
	outputItem struct {
		Type    string
		ID      string
		Status  string
		Role    string
		Content []contentItem
		Summary []contentItem
	}
	// contentItem is an output_text part or a summary_text part.
	contentItem struct {
		Type        string
		Text        string
		Annotations []any
	}
	responseUsage struct {
		InputTokens         int            `json:"input_tokens"`
		OutputTokens        int            `json:"output_tokens"`
		TotalTokens         int            `json:"total_tokens"`
		InputTokensDetails  map[string]int `json:"input_tokens_details"`
		OutputTokensDetails map[string]int `json:"output_tokens_details"`
	}
	responseError struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
)

// MarshalJSON writes a reasoning item as {type, id, summary} and a
// message as {type, id, status, role, content}, arrays empty, never
// absent.
func (o outputItem) MarshalJSON() ([]byte, error) {
	if o.Type == "reasoning" {
		summary := o.Summary
		if summary == nil {
			summary = []contentItem{}
		}
		return json.Marshal(struct {
			Type    string        `json:"type"`
			ID      string        `json:"id"`
			Summary []contentItem `json:"summary"`
		}{o.Type, o.ID, summary})
	}
	content := o.Content
	if content == nil {
		content = []contentItem{}
	}
	return json.Marshal(struct {
		Type    string        `json:"type"`
		ID      string        `json:"id"`
		Status  string        `json:"status"`
		Role    string        `json:"role"`
		Content []contentItem `json:"content"`
	}{o.Type, o.ID, o.Status, o.Role, content})
}

// MarshalJSON writes an output_text part with its annotations and
// logprobs (both empty: Recap has neither) and a summary_text part as
// {type, text}.
func (c contentItem) MarshalJSON() ([]byte, error) {
	if c.Type != "output_text" {
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{c.Type, c.Text})
	}
	ann := c.Annotations
	if ann == nil {
		ann = []any{}
	}
	return json.Marshal(struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Annotations []any  `json:"annotations"`
		Logprobs    []any  `json:"logprobs"`
	}{c.Type, c.Text, ann, []any{}})
}

func responseUsageOf(r *recap.Result) *responseUsage {
	return &responseUsage{InputTokens: r.PromptTokens, OutputTokens: r.CompletionTokens, TotalTokens: r.PromptTokens + r.CompletionTokens,
		InputTokensDetails: map[string]int{"cached_tokens": 0, "cache_write_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0}}
}

// newResponse is the response object of a job, in status st, echoing
// the request's instructions and text settings as OpenAI does.
func newResponse(j *recap.Job, model string, rq *responsesRequest, st string) *responseObject {
	ro := &responseObject{ID: "resp_" + j.ID, Object: "response", CreatedAt: j.CreatedAt.Unix(), Status: st, Model: model,
		Output: []outputItem{}, ToolChoice: "none", Tools: []any{}, Metadata: map[string]any{}, Text: echoText(rq.Text),
		AccessPrograms: map[string]string{"cyber": "standard"}}
	if rq.Instructions != "" {
		ro.Instructions = &rq.Instructions
	}
	return ro
}

// echoText is the response's text object: the request's, field for field
// (its format exactly as sent, e.g. a json_schema with its name, schema
// and strict), with format {"type": "text"} when none was sent.
func echoText(text json.RawMessage) map[string]any {
	out := map[string]any{}
	var fields map[string]json.RawMessage
	if !isNull(text) && json.Unmarshal(text, &fields) == nil {
		for k, v := range fields {
			out[k] = v
		}
	}
	if f, ok := out["format"].(json.RawMessage); !ok || isNull(f) {
		out["format"] = map[string]string{"type": "text"}
	}
	return out
}

func messageItem(j *recap.Job, text, status string) outputItem {
	return outputItem{Type: "message", ID: "msg_" + j.ID, Status: status, Role: "assistant",
		Content: []contentItem{{Type: "output_text", Text: text, Annotations: []any{}}}}
}

// failResponse marks a response failed with a job's error.
func failResponse(ro *responseObject, e *Error) {
	ro.Status = "failed"
	ro.Error = &responseError{Code: e.Code, Message: e.Message}
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rq, p, err := parseResponses(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.submit(r, body, p, "input")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	announce(w, sub)
	j := sub.Job
	if p.Stream {
		s.streamResponse(w, r, sub, rq)
		return
	}
	ro := newResponse(j, sub.Model, rq, "completed")
	res := sub.Result
	switch {
	case sub.Failed != nil:
		s.writeError(w, r, sub.Failed)
		return
	case res == nil:
		res, err = s.core.Wait(r.Context(), j.ID, s.cfg.Heartbeat)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			var ce *core.Error
			if !errors.As(err, &ce) || !ce.JobFailed {
				// Not the job's end: a wait cut short (504
				// job_still_running, 503 upstream_blocked), or Recap's fault.
				s.writeError(w, r, err)
				return
			}
			// The job ran and failed, whatever the cause (its video, the
			// LLM, Recap): a response object with status "failed" and its
			// error, HTTP 200, as OpenAI reports a response that could not
			// be completed and as the stream's response.failed says it.
			failResponse(ro, asAPIError(err))
			writeJSON(w, http.StatusOK, ro)
			return
		}
	}
	ro.Output = []outputItem{messageItem(j, res.Markdown, "completed")}
	ro.Usage = responseUsageOf(res)
	writeJSON(w, http.StatusOK, ro)
}

// responseStream writes the Responses API's streaming events.
type responseStream struct {
	*sseWriter
	seq int
}

func (rs *responseStream) event(typ string, fields map[string]any) error {
	fields["type"] = typ
	fields["sequence_number"] = rs.seq
	rs.seq++
	b, _ := json.Marshal(fields)
	return rs.raw("event: " + typ + "\ndata: " + string(b) + "\n\n")
}

// streamResponse relays a job as the Responses API's event sequence:
// response.created and .in_progress, then a reasoning item whose summary
// text carries the progress (clients that do not show reasoning ignore
// it), then the assistant message with its output_text deltas, and
// response.completed (or response.failed).
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, sub *core.Submission, rq *responsesRequest) {
	ctx := r.Context()
	j := sub.Job
	if sub.Failed != nil {
		s.writeError(w, r, sub.Failed)
		return
	}
	st := &core.Start{Last: "0"}
	if sub.Result != nil {
		st.Backlog = []recap.Event{{Type: recap.EventResult, Result: sub.Result}}
	} else {
		var err error
		if st, err = s.core.AwaitStart(ctx, j.ID); err != nil {
			if ctx.Err() == nil {
				s.writeError(w, r, err)
			}
			return
		}
	}
	rs := &responseStream{sseWriter: newSSE(w)}
	ro := newResponse(j, sub.Model, rq, "in_progress")
	if rs.event("response.created", map[string]any{"response": ro}) != nil ||
		rs.event("response.in_progress", map[string]any{"response": ro}) != nil {
		return
	}
	reasonID, msgID := "rs_"+j.ID, "msg_"+j.ID
	var progress, text strings.Builder
	reasoning, reasoningClosed, message := false, false, false
	openReasoning := func() error {
		if reasoning {
			return nil
		}
		reasoning = true
		if err := rs.event("response.output_item.added", map[string]any{"output_index": 0,
			"item": outputItem{Type: "reasoning", ID: reasonID, Summary: []contentItem{}}}); err != nil {
			return err
		}
		return rs.event("response.reasoning_summary_part.added", map[string]any{"item_id": reasonID, "output_index": 0,
			"summary_index": 0, "part": contentItem{Type: "summary_text", Text: ""}})
	}
	closeReasoning := func() error {
		if !reasoning || reasoningClosed {
			return nil
		}
		reasoningClosed = true
		t := progress.String()
		part := contentItem{Type: "summary_text", Text: t}
		if err := rs.event("response.reasoning_summary_text.done", map[string]any{"item_id": reasonID, "output_index": 0, "summary_index": 0, "text": t}); err != nil {
			return err
		}
		if err := rs.event("response.reasoning_summary_part.done", map[string]any{"item_id": reasonID, "output_index": 0, "summary_index": 0, "part": part}); err != nil {
			return err
		}
		return rs.event("response.output_item.done", map[string]any{"output_index": 0,
			"item": outputItem{Type: "reasoning", ID: reasonID, Summary: []contentItem{part}}})
	}
	msgIndex := func() int {
		if reasoning {
			return 1
		}
		return 0
	}
	progressLine := func(line string) error {
		if message || line == "" {
			return nil
		}
		if err := openReasoning(); err != nil {
			return err
		}
		progress.WriteString(line + "\n")
		return rs.event("response.reasoning_summary_text.delta", map[string]any{"item_id": reasonID, "output_index": 0,
			"summary_index": 0, "delta": line + "\n"})
	}
	openMessage := func() error {
		if message {
			return nil
		}
		if err := closeReasoning(); err != nil {
			return err
		}
		message = true
		if err := rs.event("response.output_item.added", map[string]any{"output_index": msgIndex(),
			"item": outputItem{Type: "message", ID: msgID, Status: "in_progress", Role: "assistant", Content: []contentItem{}}}); err != nil {
			return err
		}
		return rs.event("response.content_part.added", map[string]any{"item_id": msgID, "output_index": msgIndex(), "content_index": 0,
			"part": contentItem{Type: "output_text", Text: "", Annotations: []any{}}})
	}
	delta := func(d string) error {
		if err := openMessage(); err != nil {
			return err
		}
		if d == "" {
			return nil
		}
		text.WriteString(d)
		return rs.event("response.output_text.delta", map[string]any{"item_id": msgID, "output_index": msgIndex(), "content_index": 0,
			"delta": d, "logprobs": []any{}})
	}
	output := func() []outputItem {
		out := []outputItem{}
		if reasoning {
			out = append(out, outputItem{Type: "reasoning", ID: reasonID, Summary: []contentItem{{Type: "summary_text", Text: progress.String()}}})
		}
		if message {
			out = append(out, messageItem(j, text.String(), "completed"))
		}
		return out
	}
	handle := func(ev recap.Event) error {
		switch ev.Type {
		case recap.EventState:
			return progressLine(core.StateMessage(ev.State))
		case recap.EventProgress:
			return progressLine(ev.Message)
		case recap.EventDelta:
			return delta(ev.Text)
		case recap.EventResult:
			// Send what the deltas did not (a cache hit, a shared stage).
			rest, _ := strings.CutPrefix(ev.Result.Markdown, text.String())
			if err := delta(rest); err != nil {
				return err
			}
			full := text.String()
			if err := rs.event("response.output_text.done", map[string]any{"item_id": msgID, "output_index": msgIndex(), "content_index": 0,
				"text": full, "logprobs": []any{}}); err != nil {
				return err
			}
			if err := rs.event("response.content_part.done", map[string]any{"item_id": msgID, "output_index": msgIndex(), "content_index": 0,
				"part": contentItem{Type: "output_text", Text: full, Annotations: []any{}}}); err != nil {
				return err
			}
			if err := rs.event("response.output_item.done", map[string]any{"output_index": msgIndex(),
				"item": messageItem(j, full, "completed")}); err != nil {
				return err
			}
			ro.Status, ro.Output, ro.Usage = "completed", output(), responseUsageOf(ev.Result)
			return rs.event("response.completed", map[string]any{"response": ro})
		case recap.EventError:
			if err := closeReasoning(); err != nil {
				return err
			}
			ro.Output = output()
			failResponse(ro, jobError(ev.Error))
			return rs.event("response.failed", map[string]any{"response": ro})
		}
		return nil
	}
	s.follow(ctx, j.ID, st, rs.keepAlive, handle)
}
