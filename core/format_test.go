package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/summarize"
)

func TestCheckFormat(t *testing.T) {
	t.Parallel()
	chat := func(typ, name, schema string) *ResponseFormat {
		return &ResponseFormat{Type: typ, Name: name, Schema: json.RawMessage(schema), Param: "response_format", FieldParam: "response_format.json_schema"}
	}
	tests := []struct {
		name  string
		r     SummarizeRequest
		code  string // "" = valid
		param string
	}{
		{"none", SummarizeRequest{Prompt: "hi"}, "", ""},
		{"schema", SummarizeRequest{Format: chat("json_schema", "n", `{"type":"object"}`)}, "", ""},
		{"object", SummarizeRequest{Format: chat("json_object", "", "")}, "", ""},
		{"bad schema", SummarizeRequest{Format: chat("json_schema", "n", `{"minLength":"x"}`)}, recap.CodeInvalidResponseFormat, "response_format.json_schema.schema"},
		{"bad name", SummarizeRequest{Format: chat("json_schema", "a/b", `{}`)}, recap.CodeInvalidResponseFormat, "response_format.json_schema.name"},
		{"bad type", SummarizeRequest{Format: chat("yaml", "", "")}, recap.CodeInvalidResponseFormat, "response_format.type"},
		{"follow-up", SummarizeRequest{FollowUp: true, Format: chat("json_object", "", "")}, recap.CodeResponseFormatUnsupported, "response_format"},
		{"marker", SummarizeRequest{Prompt: summarize.WithFormat("x", summarize.Format{Type: "json_object"})}, "invalid_prompt", "messages"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.r.checkFormat()
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || e.Code != tc.code || e.Param != tc.param {
				t.Fatalf("err = %#v, want %s on %s", err, tc.code, tc.param)
			}
		})
	}
}

func TestApplyFormat(t *testing.T) {
	t.Parallel()
	f := &ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(`{"type":"object"}`), Param: "text.format"}
	r := SummarizeRequest{Prompt: "moments", Format: f}
	j := &recap.Job{Prompt: "moments"}
	if err := r.applyFormat(summarize.ExtractiveModel, j); err == nil || As(err).Code != recap.CodeResponseFormatUnsupported || As(err).Param != "text.format" {
		t.Fatalf("extractive: %v", err)
	}
	if err := r.applyFormat("gpt", j); err != nil {
		t.Fatal(err)
	}
	p, got, err := summarize.SplitFormat(j.Prompt)
	if err != nil || p != "moments" || got == nil || got.Name != "n" {
		t.Fatalf("job prompt %q → %q %+v %v", j.Prompt, p, got, err)
	}
	// Another format is another summary-cache key.
	other := &recap.Job{Prompt: "moments"}
	r2 := SummarizeRequest{Prompt: "moments", Format: &ResponseFormat{Type: "json_object"}}
	if err := r2.applyFormat("gpt", other); err != nil {
		t.Fatal(err)
	}
	if jobs.PromptHash(j.Prompt, nil) == jobs.PromptHash(other.Prompt, nil) || jobs.PromptHash(j.Prompt, nil) == jobs.PromptHash("moments", nil) {
		t.Fatal("formats share a prompt hash")
	}
}

func TestSchemaFailureIsUnprocessable(t *testing.T) {
	t.Parallel()
	e := JobError(&recap.ErrorInfo{Code: recap.CodeSchemaValidationFailed, Message: "at /moments: missing"})
	if e.Kind != KindUnprocessable || !e.NoRetry || !strings.Contains(e.Message, "/moments") {
		t.Fatalf("%+v", e)
	}
	if JobError(&recap.ErrorInfo{Code: recap.CodeResponseFormatUnsupported}).Kind != KindInvalid {
		t.Fatal("response_format_unsupported is not the caller's")
	}
}
