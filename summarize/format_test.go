package summarize

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/recap/recap/summarize/summarizetest"
)

const highlightsSchema = `{"type":"object","properties":{"title":{"type":"string"},"highlights":{"type":"array","minItems":1,
"items":{"type":"object","properties":{"time":{"type":"string","pattern":"^\\d{1,2}:\\d{2}(:\\d{2})?$"},"text":{"type":"string"}},
"required":["time","text"],"additionalProperties":false}}},"required":["title","highlights"],"additionalProperties":false}`

func TestCompileFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		f     Format
		field string // "" = valid
	}{
		{"json object", Format{Type: FormatJSONObject}, ""},
		{"schema", Format{Type: FormatJSONSchema, Name: "hl", Schema: json.RawMessage(highlightsSchema), Strict: true}, ""},
		{"no type", Format{}, "type"},
		{"text type", Format{Type: "text"}, "type"},
		{"object with schema", Format{Type: FormatJSONObject, Schema: json.RawMessage(`{}`)}, "schema"},
		{"no name", Format{Type: FormatJSONSchema, Schema: json.RawMessage(`{}`)}, "name"},
		{"bad name", Format{Type: FormatJSONSchema, Name: "a b", Schema: json.RawMessage(`{}`)}, "name"},
		{"no schema", Format{Type: FormatJSONSchema, Name: "x"}, "schema"},
		{"null schema", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`null`)}, "schema"},
		{"array schema", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`[1]`)}, "schema"},
		{"not a schema", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"type":5}`)}, "schema"},
		{"bad pattern", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"pattern":"("}`)}, "schema"},
		{"file ref", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)}, "schema"},
		{"remote ref", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"$ref":"http://127.0.0.1:1/s.json"}`)}, "schema"},
		{"local ref", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"$defs":{"a":{"type":"string"}},"$ref":"#/$defs/a"}`)}, ""},
		{"huge", Format{Type: FormatJSONSchema, Name: "x", Schema: json.RawMessage(`{"description":"` + strings.Repeat("a", MaxSchemaBytes) + `"}`)}, "schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := CompileFormat(tc.f)
			var fe *FormatError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.field != "" && !errors.As(err, &fe):
				t.Fatalf("err = %v, want a FormatError on %s", err, tc.field)
			case tc.field != "" && (fe.Field != tc.field || !errors.Is(err, ErrInvalidFormat)):
				t.Fatalf("err on %q (%v), want %q", fe.Field, err, tc.field)
			}
		})
	}
}

func TestValidatorCheck(t *testing.T) {
	t.Parallel()
	v, err := CompileFormat(Format{Type: FormatJSONSchema, Name: "hl", Schema: json.RawMessage(highlightsSchema)})
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := CompileFormat(Format{Type: FormatJSONObject})
	tests := []struct {
		name, answer string
		v            *Validator
		want         string // compact JSON, "" = invalid
		errHas       string
	}{
		{"valid", `{"title":"T","highlights":[{"time":"00:05","text":"a"}]}`, v, `{"title":"T","highlights":[{"time":"00:05","text":"a"}]}`, ""},
		{"fenced", "```json\n{\"title\":\"T\", \"highlights\":[{\"time\":\"1:00:05\",\"text\":\"a\"}]}\n```", v, `{"title":"T","highlights":[{"time":"1:00:05","text":"a"}]}`, ""},
		{"missing field", `{"highlights":[{"time":"00:05","text":"a"}]}`, v, "", "title"},
		{"wrong item", `{"title":"T","highlights":[{"time":"five","text":"a"}]}`, v, "", "/highlights/0/time"},
		{"extra field", `{"title":"T","highlights":[{"time":"00:05","text":"a"}],"x":1}`, v, "", "x"},
		{"not JSON", "## Overview\nmarkdown", v, "", "not valid JSON"},
		{"object ok", `{"a": [1, 2]}`, obj, `{"a":[1,2]}`, ""},
		{"object wanted", `[1,2]`, obj, "", "JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errs := tc.v.Check(tc.answer)
			if tc.want != "" {
				if errs != nil || out != tc.want {
					t.Fatalf("Check = %q, %v; want %q", out, errs, tc.want)
				}
				return
			}
			if errs == nil || !strings.Contains(strings.Join(errs, "\n"), tc.errHas) {
				t.Fatalf("errors %v, want one mentioning %q", errs, tc.errHas)
			}
		})
	}
}

func TestFormatPromptRoundTrip(t *testing.T) {
	t.Parallel()
	f := Format{Type: FormatJSONSchema, Name: "hl", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}
	p := WithFormat("list the jokes", f)
	if !HasFormatMarker(p) || HasFormatMarker("list the jokes") {
		t.Fatal("marker not detected")
	}
	got, gf, err := SplitFormat(p)
	if err != nil || got != "list the jokes" || gf == nil || gf.Name != "hl" || !gf.Strict || string(gf.Schema) != `{"type":"object"}` {
		t.Fatalf("SplitFormat = %q, %+v, %v", got, gf, err)
	}
	if got, gf, err := SplitFormat("plain"); got != "plain" || gf != nil || err != nil {
		t.Fatalf("plain prompt: %q %v %v", got, gf, err)
	}
}

// TestSummarizeStructured asks the fake model for a schema: the schema
// reaches it as response_format, a wrong answer is asked for again with
// the errors, and two wrong answers are a SchemaError.
func TestSummarizeStructured(t *testing.T) {
	t.Parallel()
	segs := volcanoTranscript()
	f := Format{Type: FormatJSONSchema, Name: "highlights", Schema: json.RawMessage(highlightsSchema), Strict: true}
	good := `{"title":"Volcanoes","highlights":[{"time":"00:40","text":"Vesuvius buried Pompeii"}]}`
	tests := []struct {
		name    string
		answers []string
		tokens  int
		wantErr bool
		calls   int
	}{
		{"first answer valid", []string{good}, 0, false, 1},
		{"repaired on retry", []string{`{"title":"Volcanoes"}`, good}, 0, false, 2},
		{"fenced answer", []string{"```json\n" + good + "\n```"}, 0, false, 1},
		{"fails twice", []string{`{"title":"Volcanoes"}`, `not json`}, 0, true, 2},
		{"map-reduce", []string{good}, 64, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := summarizetest.New(t, summarizetest.Options{})
			n := 0
			fake.SetScript(func(r summarizetest.ChatRequest) (string, bool) {
				if r.ResponseFormat == nil {
					return "", false // map calls
				}
				a := tc.answers[min(n, len(tc.answers)-1)]
				n++ // the handler runs one final call at a time
				return a, true
			})
			l := New(Config{BaseURL: fake.URL(), Model: "m", ContextTokens: tc.tokens})
			var streamed []string
			res, err := l.Summarize(context.Background(), Request{Segments: segs, Prompt: WithFormat("the key moments", f)}, func(s string) { streamed = append(streamed, s) })
			var finals []summarizetest.ChatRequest
			for _, r := range fake.Requests() {
				if r.ResponseFormat != nil {
					finals = append(finals, r)
				}
			}
			if tc.calls > 0 && len(finals) != tc.calls {
				t.Errorf("%d calls with a response format, want %d", len(finals), tc.calls)
			}
			if len(finals) == 0 {
				t.Fatal("the format never reached the model")
			}
			var rf struct {
				Type       string `json:"type"`
				JSONSchema struct {
					Name   string          `json:"name"`
					Strict bool            `json:"strict"`
					Schema json.RawMessage `json:"schema"`
				} `json:"json_schema"`
			}
			if err := json.Unmarshal(finals[0].ResponseFormat, &rf); err != nil || rf.Type != "json_schema" || rf.JSONSchema.Name != "highlights" || !rf.JSONSchema.Strict || len(rf.JSONSchema.Schema) < 20 {
				t.Errorf("response_format sent = %s (%v)", finals[0].ResponseFormat, err)
			}
			if strings.Contains(finals[0].Text(), "[recap:response_format]") || !strings.Contains(finals[0].Text(), "the key moments") {
				t.Errorf("the prompt reached the model with its marker or without the caller's words:\n%s", finals[0].Text())
			}
			if len(finals) == 2 && !strings.Contains(finals[1].Text(), "at /: ") && !strings.Contains(finals[1].Text(), "missing properties") {
				t.Errorf("the retry does not carry the validation errors:\n%s", finals[1].Text())
			}
			if tc.wantErr {
				var se *SchemaError
				if !errors.As(err, &se) || !errors.Is(err, ErrPermanent) || len(se.Errors) == 0 {
					t.Fatalf("err = %v, want a permanent SchemaError", err)
				}
				if len(streamed) != 0 {
					t.Errorf("streamed %q before the answer validated", streamed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := `{"title":"Volcanoes","highlights":[{"time":"00:40","text":"Vesuvius buried Pompeii"}]}`
			if res.Markdown != want || len(streamed) != 1 || streamed[0] != want {
				t.Errorf("result %q, streamed %q; want %q once", res.Markdown, streamed, want)
			}
			if res.Grounding != nil || res.Chapters != nil {
				t.Errorf("a JSON answer got grounding %+v / chapters %+v", res.Grounding, res.Chapters)
			}
		})
	}
}

func TestExtractiveRefusesFormat(t *testing.T) {
	t.Parallel()
	_, err := NewExtractive(ExtractiveConfig{}).Summarize(context.Background(),
		Request{Segments: volcanoTranscript(), Prompt: WithFormat("", Format{Type: FormatJSONObject})}, nil)
	if !errors.Is(err, ErrFormatUnsupported) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("err = %v, want ErrFormatUnsupported", err)
	}
}
