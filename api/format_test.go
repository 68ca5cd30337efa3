package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/recap/recap"
)

func TestParseResponseFormat(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"}]`
	tests := []struct {
		name, body string
		typ        string // "" = no format
		schemaName string
		strict     bool
		errParam   string
	}{
		{"absent", `{` + msgs + `}`, "", "", false, ""},
		{"null", `{` + msgs + `,"response_format":null}`, "", "", false, ""},
		{"text", `{` + msgs + `,"response_format":{"type":"text"}}`, "", "", false, ""},
		{"json_object", `{` + msgs + `,"response_format":{"type":"json_object"}}`, "json_object", "", false, ""},
		{"json_schema", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}}}`, "json_schema", "n", true, ""},
		{"no json_schema", `{` + msgs + `,"response_format":{"type":"json_schema"}}`, "", "", false, "response_format.json_schema"},
		{"json_schema not an object", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":"x"}}`, "", "", false, "response_format.json_schema"},
		{"no type", `{` + msgs + `,"response_format":{}}`, "", "", false, "response_format.type"},
		{"bad type", `{` + msgs + `,"response_format":{"type":"xml"}}`, "", "", false, "response_format.type"},
		{"array", `{` + msgs + `,"response_format":[]}`, "", "", false, "response_format"},
		{"strict not a bool", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{},"strict":"yes"}}}`, "", "", false, "response_format.json_schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseChatRequest([]byte(tc.body))
			if tc.errParam != "" {
				ae, ok := err.(*Error)
				if !ok || ae.Status != 400 || ae.Param != tc.errParam || ae.Code != "invalid_response_format" {
					t.Fatalf("err = %#v, want 400 invalid_response_format on %s", err, tc.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.typ == "" {
				if p.Format != nil {
					t.Fatalf("format %+v, want none", p.Format)
				}
				return
			}
			f := p.Format
			if f == nil || f.Type != tc.typ || f.Name != tc.schemaName || f.Strict != tc.strict || f.Param != "response_format" {
				t.Fatalf("format %+v", f)
			}
		})
	}
}

func TestParseResponsesTextFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		typ        string
		errParam   string
	}{
		{"absent", ``, "", ""},
		{"text", `,"text":{"format":{"type":"text"}}`, "", ""},
		{"json_schema", `,"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"},"strict":true}}`, "json_schema", ""},
		{"json_object", `,"text":{"format":{"type":"json_object"}}`, "json_object", ""},
		{"bad text", `,"text":"json"`, "", "text"},
		{"bad type", `,"text":{"format":{"type":"yaml"}}`, "", "text.format.type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, p, err := parseResponses([]byte(`{"model":"bibigpt","input":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"` + tc.text + `}`))
			if tc.errParam != "" {
				ae, ok := err.(*Error)
				if !ok || ae.Param != tc.errParam {
					t.Fatalf("err = %#v, want one on %s", err, tc.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.Format == nil) != (tc.typ == "") || (p.Format != nil && (p.Format.Type != tc.typ || p.Format.Param != "text.format" || p.Format.FieldParam != "text.format")) {
				t.Fatalf("format %+v, want type %q", p.Format, tc.typ)
			}
		})
	}
}

func TestSchemaValidationFailedIs422(t *testing.T) {
	t.Parallel()
	ae := jobError(&recap.ErrorInfo{Code: recap.CodeSchemaValidationFailed, Message: "at /: missing properties: 'title'"})
	if ae.Status != http.StatusUnprocessableEntity || ae.Code != "schema_validation_failed" || ae.Header.Get("X-Should-Retry") != "false" {
		t.Fatalf("%+v", ae)
	}
}

// TestEchoText: the Responses object's text is the request's, its format
// as sent, and {"format": {"type": "text"}} when none was.
func TestEchoText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{``, `{"format":{"type":"text"}}`},
		{`null`, `{"format":{"type":"text"}}`},
		{`{}`, `{"format":{"type":"text"}}`},
		{`{"format":null}`, `{"format":{"type":"text"}}`},
		{`{"format":{"type":"json_object"}}`, `{"format":{"type":"json_object"}}`},
		{`{"format":{"type":"json_schema","name":"m","schema":{"type":"object","required":["a"]},"strict":true},"verbosity":"low"}`,
			`{"format":{"type":"json_schema","name":"m","schema":{"type":"object","required":["a"]},"strict":true},"verbosity":"low"}`},
	} {
		b, err := json.Marshal(echoText(json.RawMessage(tc.in)))
		if err != nil || string(b) != tc.want {
			t.Errorf("echoText(%s) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}
