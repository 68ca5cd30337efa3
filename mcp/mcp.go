// Package mcp is Recap's MCP door: a Model Context Protocol server
// (Streamable HTTP transport, github.com/modelcontextprotocol/go-sdk)
// whose tools summarize videos, fetch transcripts and answer questions
// about them through the same use cases as the HTTP API, with the same
// keys, scopes, credits and rate limits.
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// CallerKey is the key of auth.TokenInfo.Extra under which the
// authenticating middleware leaves the caller's *recap.Caller.
const CallerKey = "recap_key"

// Config configures the MCP server.
type Config struct {
	Core *core.Service
	// Version is reported to clients in the initialize handshake.
	Version string
	Logger  *slog.Logger
	// Heartbeat is how often a waiting tool call re-checks its job
	// (default 15s).
	Heartbeat time.Duration
}

// Tool names.
const (
	ToolSummarize     = "summarize_video"
	ToolGetTranscript = "get_transcript"
	ToolAsk           = "ask_video"
	ToolGetJob        = "get_job"
)

// New returns the MCP endpoint: a stateless Streamable HTTP handler (any
// API replica answers any request; progress notifications travel on the
// tool call's own response stream). It expects an authenticating
// middleware in front that sets auth.TokenInfo with the caller under
// CallerKey.
func New(cfg Config) http.Handler {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "1"
	}
	t := &tools{cfg: cfg}
	srv := sdk.NewServer(&sdk.Implementation{Name: "recap", Title: "Recap video summaries", Version: cfg.Version},
		&sdk.ServerOptions{Instructions: "Recap summarizes videos (YouTube, Bilibili, any page yt-dlp reads, direct media files) " +
			"and uploaded recordings with timestamps. Call summarize_video with a URL or the file_id of an upload (POST /v1/files); " +
			"ask_video answers questions from the transcript; get_transcript returns the timed text."})
	srv.AddReceivingMiddleware(endWithRequest)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolSummarize, Title: "Summarize a video",
		Description: "Summarize a video from its URL, or an uploaded audio or video file from its file_id. Returns the summary in markdown with [mm:ss] timestamps, and the job id. " +
			"Long videos can take minutes; progress is reported when the call carries a progress token. Costs credit by the video's length (cached summaries are free).",
		InputSchema: toolSchema[SummarizeInput]()},
		t.summarize)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolGetTranscript, Title: "Get a video's transcript",
		Description: "The transcript of a job (job_id), of a video summarized before (url) or of an uploaded file (file_id), with timestamps, as txt (default), srt or vtt."},
		t.transcript)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolAsk, Title: "Ask about a video",
		Description: "Answer a question about a video from its transcript (transcribed first if needed). Costs credit like a summary when the video is new."},
		t.ask)
	sdk.AddTool(srv, &sdk.Tool{Name: ToolGetJob, Title: "Get a job",
		Description:  "The state, progress, result or error of a job, by the job id summarize_video or the HTTP API returned.",
		OutputSchema: toolSchema[recap.View]()},
		t.getJob)
	addSubscriptionTools(srv, t)
	return Guard(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{Stateless: true, Logger: cfg.Logger}))
}

type tools struct {
	cfg Config
}

// SummarizeInput is summarize_video's input.
type SummarizeInput struct {
	URL            string `json:"url,omitempty" jsonschema:"the video's URL (http or https); give this or file_id"`
	FileID         string `json:"file_id,omitempty" jsonschema:"the id of an uploaded audio or video file (file-…); give this or url"`
	Prompt         string `json:"prompt,omitempty" jsonschema:"what to focus on, or how to write the summary"`
	OutputLanguage string `json:"output_language,omitempty" jsonschema:"language code of the summary, e.g. en or zh-Hans"`
	Model          string `json:"model,omitempty" jsonschema:"model id from GET /v1/models; default bibigpt"`
	// Start and End are a number of seconds or a "[h:]mm:ss" string;
	// their type is open so either reaches core, which parses them.
	// The schema says string (toolSchema), the form tool clients handle
	// best.
	Start any `json:"start,omitempty" jsonschema:"summarize from here: seconds (\"90\") or [h:]mm:ss (\"1:30\", \"1:02:03\"); default the beginning"`
	End   any `json:"end,omitempty" jsonschema:"summarize up to here: seconds (\"600\") or [h:]mm:ss (\"10:00\"); default the end of the video"`
	// Frames asks for a JPEG at each highlight's moment, linked from the
	// summary (served to the caller at /api/v1/jobs/{id}/frames/{n}.jpg).
	Frames bool `json:"frames,omitempty" jsonschema:"true: a JPEG at each highlight's moment, linked from the summary"`
}

// toolSchema is T's JSON schema with one type per property, as tool
// clients read best: no ["null", X] type arrays (the pointers and
// slices of the tools' types are omitted or non-nil, never null), and
// start and end, which core reads as seconds or [h:]mm:ss, are strings.
func toolSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(fmt.Sprintf("mcp: schema of %T: %v", *new(T), err))
	}
	oneType(s)
	for _, p := range []string{"start", "end"} {
		if ps := s.Properties[p]; ps != nil && ps.Type == "" && len(ps.Types) == 0 {
			ps.Type = "string"
		}
	}
	return s
}

// nullableSchema is T's JSON schema for an output that has null fields
// (a subscription's last_checked_at before its first check): a nullable
// property becomes anyOf [X, null], so a null validates while no "type"
// is an array.
func nullableSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(fmt.Sprintf("mcp: schema of %T: %v", *new(T), err))
	}
	anyOfNull(s)
	return s
}

func anyOfNull(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	for _, p := range s.Properties {
		anyOfNull(p)
	}
	anyOfNull(s.Items)
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		inner := *s
		inner.Type = slices.DeleteFunc(slices.Clone(s.Types), func(t string) bool { return t == "null" })[0]
		inner.Types, inner.Description = nil, ""
		*s = jsonschema.Schema{Description: s.Description, AnyOf: []*jsonschema.Schema{&inner, {Type: "null"}}}
	}
}

func oneType(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && slices.Contains(s.Types, "null") {
		s.Type, s.Types = slices.DeleteFunc(slices.Clone(s.Types), func(t string) bool { return t == "null" })[0], nil
	}
	for _, p := range s.Properties {
		oneType(p)
	}
	oneType(s.Items)
}

// SummaryOutput is summarize_video's and ask_video's structured output.
type SummaryOutput struct {
	JobID    string `json:"job_id"`
	Markdown string `json:"markdown"`
	Model    string `json:"model"`
	Cached   bool   `json:"cached"`
}

// TranscriptInput is get_transcript's input.
type TranscriptInput struct {
	JobID    string `json:"job_id,omitempty" jsonschema:"a job id; give this or url"`
	URL      string `json:"url,omitempty" jsonschema:"a video URL summarized before; give this, file_id or job_id"`
	FileID   string `json:"file_id,omitempty" jsonschema:"an uploaded file transcribed before (file-…); give this, url or job_id"`
	Language string `json:"language,omitempty" jsonschema:"the transcript's language code ('' = detected); with job_id another language the video has (fetched once, billed like a transcription, needs the write scope) or two separated by a comma (en,zh) for both side by side per cue"`
	Format   string `json:"format,omitempty" jsonschema:"txt (default), srt or vtt"`
}

// TranscriptOutput is get_transcript's structured output.
type TranscriptOutput struct {
	VideoKey string `json:"video_key"`
	Language string `json:"language"`
	Format   string `json:"format"`
	Text     string `json:"text"`
}

// AskInput is ask_video's input.
type AskInput struct {
	URL      string `json:"url,omitempty" jsonschema:"the video's URL; give this or file_id"`
	FileID   string `json:"file_id,omitempty" jsonschema:"the id of an uploaded audio or video file; give this or url"`
	Question string `json:"question" jsonschema:"the question to answer from the video's transcript"`
	Model    string `json:"model,omitempty" jsonschema:"model id; default bibigpt"`
}

// JobInput is get_job's input.
type JobInput struct {
	JobID string `json:"job_id" jsonschema:"the job id"`
}

// caller is the authenticated key of a tool call.
func caller(req *sdk.CallToolRequest) *recap.Caller {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		return nil
	}
	k, _ := req.Extra.TokenInfo.Extra[CallerKey].(*recap.Caller)
	return k
}

// toolError is a tool result that reports err to the model: Recap's error
// code first, so agents can branch on it.
func toolError(err error) *sdk.CallToolResult {
	e := core.As(err)
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: e.Code + ": " + e.Message}}}
}

func (t *tools) need(req *sdk.CallToolRequest, scope string) (*recap.Caller, *sdk.CallToolResult) {
	k := caller(req)
	if err := core.CheckScope(k, scope, "this tool"); err != nil {
		return nil, toolError(err)
	}
	return k, nil
}

func (t *tools) summarize(ctx context.Context, req *sdk.CallToolRequest, in SummarizeInput) (*sdk.CallToolResult, SummaryOutput, error) {
	k, denied := t.need(req, recap.ScopeWrite)
	if denied != nil {
		return denied, SummaryOutput{}, nil
	}
	return t.run(ctx, req, core.SummarizeRequest{Caller: k, URL: strings.TrimSpace(in.URL), FileID: strings.TrimSpace(in.FileID), Param: "url",
		Prompt: strings.TrimSpace(in.Prompt), Model: in.Model, OutputLanguage: in.OutputLanguage,
		Start: rawArg(in.Start), End: rawArg(in.End), Frames: rawArg(in.Frames)})
}

// rawArg is a tool argument as JSON again, for core to parse.
func rawArg(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // decoded from JSON, so it encodes
	return b
}

func (t *tools) ask(ctx context.Context, req *sdk.CallToolRequest, in AskInput) (*sdk.CallToolResult, SummaryOutput, error) {
	k, denied := t.need(req, recap.ScopeWrite)
	if denied != nil {
		return denied, SummaryOutput{}, nil
	}
	q := strings.TrimSpace(in.Question)
	if q == "" {
		return toolError(core.Invalid("missing_question", "question", "'question' must hold the question to answer.")), SummaryOutput{}, nil
	}
	return t.run(ctx, req, core.SummarizeRequest{Caller: k, URL: strings.TrimSpace(in.URL), FileID: strings.TrimSpace(in.FileID), Param: "url",
		Prompt: q, Model: in.Model, FollowUp: true})
}

// run submits a request and waits for its answer, reporting the job's
// progress to a client that sent a progress token.
func (t *tools) run(ctx context.Context, req *sdk.CallToolRequest, r core.SummarizeRequest) (*sdk.CallToolResult, SummaryOutput, error) {
	switch {
	case r.URL != "" && r.FileID != "":
		return toolError(core.Invalid("invalid_request", "file_id", "Give either 'url' or 'file_id', not both.")), SummaryOutput{}, nil
	case r.FileID != "":
		if !core.IsFileRef(r.FileID) {
			return toolError(core.Invalid("invalid_file_id", "file_id", "'file_id' must be the id of an upload (file-…).")), SummaryOutput{}, nil
		}
		r.Param = "file_id"
	case r.URL == "":
		return toolError(core.Invalid("missing_video_url", "url", "'url' must hold the video's URL (or give 'file_id').")), SummaryOutput{}, nil
	case core.IsFileRef(r.URL) || core.IsFileData(r.URL):
		return toolError(core.Invalid("invalid_url", "url", "'url' must be an http(s) URL; pass an uploaded file as 'file_id'.")), SummaryOutput{}, nil
	}
	uc := t.cfg.Core
	sub, err := uc.Submit(ctx, r)
	if err != nil {
		return toolError(err), SummaryOutput{}, nil
	}
	res := sub.Result
	if sub.Failed != nil {
		return toolError(sub.Failed), SummaryOutput{}, nil
	}
	if res == nil {
		res, err = t.wait(ctx, req, sub.Job.ID)
		if err != nil {
			if ctx.Err() != nil {
				return nil, SummaryOutput{}, ctx.Err()
			}
			return toolError(err), SummaryOutput{}, nil
		}
	}
	out := SummaryOutput{JobID: sub.Job.ID, Markdown: res.Markdown, Model: sub.Model, Cached: sub.CacheHit}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: res.Markdown}}}, out, nil
}

// stageSpan is the share of the progress bar each state starts at.
var stageSpan = map[string]float64{recap.StateQueued: 0, recap.StateResolving: 5, recap.StateTranscribing: 15, recap.StateSummarizing: 60}

// wait follows a job to its end. Without a progress token it is Wait;
// with one, every state and progress event becomes a progress
// notification (0 to 100, never going back).
func (t *tools) wait(ctx context.Context, req *sdk.CallToolRequest, jobID string) (*recap.Result, error) {
	token := req.Params.GetProgressToken()
	if token == nil {
		return t.cfg.Core.Wait(ctx, jobID, t.cfg.Heartbeat)
	}
	var done float64
	notify := func(p float64, msg string) {
		if p < done {
			p = done
		}
		done = p
		// A client that stopped listening does not stop the job.
		_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: token, Progress: p, Total: 100, Message: msg})
	}
	var final *recap.Event
	err := t.cfg.Core.Follow(ctx, jobID, "0", t.cfg.Heartbeat, nil, func(ev recap.Event) error {
		switch ev.Type {
		case recap.EventState:
			if base, ok := stageSpan[ev.State]; ok {
				notify(base, core.StateMessage(ev.State))
			}
		case recap.EventProgress:
			if ev.Message != "" {
				notify(done+0.5*(100-done)/10, ev.Message)
			}
		}
		if ev.Terminal() {
			final = &ev
		}
		return nil
	})
	if final == nil {
		if err == nil {
			err = errors.New("event stream ended without a result")
		}
		return nil, fmt.Errorf("follow job %s: %w", jobID, err)
	}
	if final.Type == recap.EventError {
		return nil, core.JobError(final.Error)
	}
	notify(100, "Done")
	return final.Result, nil
}

func (t *tools) transcript(ctx context.Context, req *sdk.CallToolRequest, in TranscriptInput) (*sdk.CallToolResult, TranscriptOutput, error) {
	k, denied := t.need(req, recap.ScopeRead)
	if denied != nil {
		return denied, TranscriptOutput{}, nil
	}
	format := strings.TrimSpace(in.Format)
	if format == "" {
		format = core.FormatTXT
	}
	if format == core.FormatJSON {
		return toolError(core.Invalid("invalid_format", "format", "'format' must be txt, srt or vtt.")), TranscriptOutput{}, nil
	}
	var tr *recap.Transcript
	var err error
	switch {
	case in.JobID != "" && strings.TrimSpace(in.Language) != "":
		var ts []*recap.Transcript
		_, ts, err = t.cfg.Core.TranscriptLangs(ctx, k, in.JobID, format, strings.Split(strings.TrimSpace(in.Language), ","), t.cfg.Heartbeat)
		if err == nil && len(ts) == 2 {
			text, _ := core.FormatBilingual(core.Bilingual(ts[0], ts[1]), format)
			out := TranscriptOutput{VideoKey: ts[0].VideoKey, Language: ts[0].Language + "," + ts[1].Language, Format: format, Text: text}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, out, nil
		}
		if err == nil {
			tr = ts[0]
		}
	case in.JobID != "":
		_, tr, err = t.cfg.Core.Transcript(ctx, k, in.JobID, format)
	case strings.TrimSpace(in.FileID) != "":
		if err = core.CheckTranscriptFormat(format); err == nil {
			tr, err = t.cfg.Core.TranscriptOfFile(ctx, k, strings.TrimSpace(in.FileID), in.Language)
		}
	case in.URL != "":
		if err = core.CheckTranscriptFormat(format); err == nil {
			tr, err = t.cfg.Core.TranscriptByURL(ctx, strings.TrimSpace(in.URL), in.Language)
		}
	default:
		err = core.Invalid("missing_job_id", "job_id", "Give 'job_id', 'url' or 'file_id'.")
	}
	if err != nil {
		return toolError(err), TranscriptOutput{}, nil
	}
	text, _ := core.FormatTranscript(tr, format)
	out := TranscriptOutput{VideoKey: tr.VideoKey, Language: tr.Language, Format: format, Text: text}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, out, nil
}

func (t *tools) getJob(ctx context.Context, req *sdk.CallToolRequest, in JobInput) (*sdk.CallToolResult, recap.View, error) {
	k, denied := t.need(req, recap.ScopeRead)
	if denied != nil {
		return denied, recap.View{}, nil
	}
	v, err := t.cfg.Core.JobView(ctx, k, strings.TrimSpace(in.JobID))
	if err != nil {
		return toolError(err), recap.View{}, nil
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}, v, nil
}

// Authenticated hands the caller that callerOf finds on a request (set by
// the API's own authentication, which runs first) to the MCP server as
// the request's auth.TokenInfo, where tool calls find it.
func Authenticated(next http.Handler, callerOf func(*http.Request) *recap.Caller) http.Handler {
	return auth.RequireBearerToken(func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		k := callerOf(r)
		if k == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: k.Scopes, UserID: strconv.FormatInt(k.ID, 10), Extra: map[string]any{CallerKey: k, httpContextKey: r.Context()}}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
}
