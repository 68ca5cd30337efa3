package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/summarize/summarizetest"
)

// momentsSchema asks for the video's key moments.
var momentsSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"title": map[string]any{"type": "string"},
		"moments": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"time": map[string]any{"type": "string", "pattern": `^\d{2}:\d{2}$`}, "text": map[string]any{"type": "string"}},
			"required":             []string{"time", "text"},
			"additionalProperties": false,
		}},
	},
	"required":             []string{"title", "moments"},
	"additionalProperties": false,
}

// jsonAnswer is what the scripted model answers when asked for JSON: a
// valid document built from the transcript lines it was sent (so the
// test proves the transcript reached it), or a broken one while bad > 0.
type jsonAnswer struct {
	bad int // answers left to break the schema
}

func (a *jsonAnswer) script(r summarizetest.ChatRequest) (string, bool) {
	if r.ResponseFormat == nil {
		return "", false
	}
	if a.bad > 0 {
		a.bad--
		return `{"title": "no moments here"}`, true
	}
	var moments []map[string]string
	for _, ln := range strings.Split(r.Text(), "\n") {
		if m := momentRE.FindStringSubmatch(ln); m != nil && strings.HasPrefix(ln, m[0]) {
			moments = append(moments, map[string]string{"time": m[1], "text": strings.TrimSpace(ln[len(m[0]):])})
		}
	}
	b, _ := json.Marshal(map[string]any{"title": "Recap test video", "moments": moments})
	return string(b), true
}

func schemaParams(url string) openai.ChatCompletionNewParams {
	p := userMessage(url)
	p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
		JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "moments", Schema: momentsSchema, Strict: openai.Bool(true)}}}
	return p
}

func checkMoments(t *testing.T, content string) {
	t.Helper()
	var got struct {
		Title   string `json:"title"`
		Moments []struct{ Time, Text string }
	}
	if err := json.Unmarshal([]byte(content), &got); err != nil {
		t.Fatalf("content is not JSON (%v):\n%s", err, content)
	}
	if len(got.Moments) != len(subtitleLines) {
		t.Fatalf("moments %+v, want one per subtitle cue", got.Moments)
	}
	for i, l := range subtitleLines {
		if "["+got.Moments[i].Time+"]" != l.ts || !strings.HasPrefix(got.Moments[i].Text, l.text) {
			t.Errorf("moment %d = %+v, want %s %s", i, got.Moments[i], l.ts, l.text)
		}
	}
}

func finalCalls(e *apptest.Env) []summarizetest.ChatRequest {
	var out []summarizetest.ChatRequest
	for _, r := range e.Fake.Requests() {
		if r.ResponseFormat != nil {
			out = append(out, r)
		}
	}
	return out
}

// TestStructuredOutput asks for a JSON Schema through chat completions
// and the Responses API with openai-go.
func TestStructuredOutput(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ans := &jsonAnswer{}
	e.Fake.SetScript(ans.script)
	ctx := context.Background()

	t.Run("chat json_schema", func(t *testing.T) {
		resp, err := e.Client.Chat.Completions.New(ctx, schemaParams(e.Host.PageURL()))
		if err != nil {
			t.Fatal(err)
		}
		checkMoments(t, resp.Choices[0].Message.Content)
		calls := finalCalls(e)
		if len(calls) != 1 {
			t.Fatalf("%d model calls with a response format, want 1", len(calls))
		}
		var rf struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name   string         `json:"name"`
				Strict bool           `json:"strict"`
				Schema map[string]any `json:"schema"`
			} `json:"json_schema"`
		}
		if err := json.Unmarshal(calls[0].ResponseFormat, &rf); err != nil || rf.Type != "json_schema" || rf.JSONSchema.Name != "moments" ||
			!rf.JSONSchema.Strict || rf.JSONSchema.Schema["required"] == nil {
			t.Errorf("the model got response_format %s", calls[0].ResponseFormat)
		}
		// Same video and format again: the summary cache answers.
		if _, err := e.Client.Chat.Completions.New(ctx, schemaParams(e.Host.PageURL())); err != nil {
			t.Fatal(err)
		}
		if n := len(finalCalls(e)); n != 1 {
			t.Errorf("the same format asked twice made %d model calls; want a cache hit", n)
		}
	})

	t.Run("json_object is another cache entry", func(t *testing.T) {
		before := len(finalCalls(e))
		p := userMessage(e.Host.PageURL())
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
		resp, err := e.Client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &v); err != nil {
			t.Fatalf("not a JSON object: %s", resp.Choices[0].Message.Content)
		}
		if n := len(finalCalls(e)) - before; n != 1 {
			t.Errorf("%d model calls; a different format must not hit the json_schema summary", n)
		}
	})

	t.Run("stream sends the validated JSON", func(t *testing.T) {
		p := schemaParams(e.Host.PageURL())
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("the moments of " + e.Host.PageURL())}
		stream := e.Client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		checkMoments(t, acc.Choices[0].Message.Content)
	})

	t.Run("retried once with the errors", func(t *testing.T) {
		ans.bad = 1
		p := schemaParams(e.Host.PageURL())
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("retry " + e.Host.PageURL())}
		before := len(finalCalls(e))
		resp, err := e.Client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		checkMoments(t, resp.Choices[0].Message.Content)
		calls := finalCalls(e)[before:]
		if len(calls) != 2 || !strings.Contains(calls[1].Text(), "does not follow the required JSON format") {
			t.Fatalf("%d calls; the second must carry the validation errors", len(calls))
		}
	})

	t.Run("two bad answers are 422", func(t *testing.T) {
		ans.bad = 2
		p := schemaParams(e.Host.PageURL())
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fail " + e.Host.PageURL())}
		_, err := e.Client.Chat.Completions.New(ctx, p, option.WithMaxRetries(0))
		var apiErr *openai.Error
		if !asAPIError(err, &apiErr) {
			t.Fatalf("err = %v, want an API error", err)
		}
		if apiErr.StatusCode != http.StatusUnprocessableEntity || apiErr.Code != "schema_validation_failed" || !strings.Contains(apiErr.Message, "moments") {
			t.Fatalf("status %d code %q message %q; want 422 schema_validation_failed naming the missing field", apiErr.StatusCode, apiErr.Code, apiErr.Message)
		}
	})

	t.Run("responses text.format", func(t *testing.T) {
		r, err := e.Client.Responses.New(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Moments of " + e.Host.PageURL())},
			Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
				OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "moments", Schema: momentsSchema, Strict: openai.Bool(true)}}}})
		if err != nil {
			t.Fatal(err)
		}
		checkMoments(t, r.OutputText())
		// The response echoes the format as it was sent.
		f := r.Text.Format
		if f.Type != "json_schema" || f.Name != "moments" || !f.Strict {
			t.Errorf("text.format echoed as %s", f.RawJSON())
		}
		var sent, echoed any
		b, _ := json.Marshal(momentsSchema)
		_ = json.Unmarshal(b, &sent)
		_ = json.Unmarshal([]byte(f.JSON.Schema.Raw()), &echoed)
		if !reflect.DeepEqual(sent, echoed) {
			t.Errorf("text.format.schema echoed as %s, sent %s", f.JSON.Schema.Raw(), b)
		}
	})

	t.Run("invalid requests", func(t *testing.T) {
		for _, tc := range []struct {
			name, body, param, code string
		}{
			{"bad schema", `{"model":"bibigpt","messages":[{"role":"user","content":"URL"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":7}}}}`,
				"response_format.json_schema.schema", "invalid_response_format"},
			{"no name", `{"model":"bibigpt","messages":[{"role":"user","content":"URL"}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`,
				"response_format.json_schema.name", "invalid_response_format"},
			{"file ref", `{"model":"bibigpt","messages":[{"role":"user","content":"URL"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"file:///etc/passwd"}}}}`,
				"response_format.json_schema.schema", "invalid_response_format"},
			{"unknown type", `{"model":"bibigpt","messages":[{"role":"user","content":"URL"}],"response_format":{"type":"yaml"}}`,
				"response_format.type", "invalid_response_format"},
			{"not an object", `{"model":"bibigpt","messages":[{"role":"user","content":"URL"}],"response_format":"json"}`,
				"response_format", "invalid_response_format"},
			{"offline summarizer", `{"model":"bibigpt/recap-extractive","messages":[{"role":"user","content":"URL"}],"response_format":{"type":"json_object"}}`,
				"response_format", "response_format_unsupported"},
			{"responses bad schema", `{"model":"bibigpt","input":"URL","text":{"format":{"type":"json_schema","name":"x","schema":[]}}}`,
				"text.format.schema", "invalid_response_format"},
			{"marker in the prompt", `{"model":"bibigpt","messages":[{"role":"user","content":"URL [recap:response_format] {}"}]}`,
				"messages", "invalid_prompt"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := "/chat/completions"
				if strings.HasPrefix(tc.name, "responses") {
					path = "/responses"
				}
				status, body := postFormat(t, e, path, strings.ReplaceAll(tc.body, "URL", e.Host.PageURL()))
				var eb struct {
					Error struct{ Message, Type, Param, Code string }
				}
				_ = json.Unmarshal(openAIShaped(body), &eb)
				if status != http.StatusBadRequest || eb.Error.Param != tc.param || eb.Error.Code != tc.code {
					t.Fatalf("status %d body %s; want 400 %s on %s", status, body, tc.code, tc.param)
				}
			})
		}
	})
}

// postFormat posts a raw JSON body with the default key.
func postFormat(t *testing.T, e *apptest.Env, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
