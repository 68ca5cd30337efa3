package summarize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Structured output: a caller may ask for JSON instead of markdown, either
// any JSON object (FormatJSONObject) or JSON that follows a JSON Schema
// (FormatJSONSchema). The format goes to the model as OpenAI's
// response_format, the answer is validated here, and an answer that fails
// is asked for once more with the validation errors; a second failure is a
// *SchemaError.

// Format types.
const (
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// Format asks for a JSON answer.
type Format struct {
	// Type is FormatJSONObject or FormatJSONSchema.
	Type string `json:"type"`
	// Name, Description, Schema and Strict describe a json_schema format.
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      bool            `json:"strict,omitempty"`
}

var (
	// ErrFormatUnsupported is a response format asked of a summarizer
	// that cannot produce one (the offline one).
	ErrFormatUnsupported = errors.New("response format unsupported")
	// ErrInvalidFormat is a response format that can never be followed.
	ErrInvalidFormat = errors.New("invalid response format")
)

// FormatError is an invalid format; Field names the offending field
// ("type", "name", "schema").
type FormatError struct {
	Field, Reason string
}

func (e *FormatError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FormatError an ErrInvalidFormat.
func (e *FormatError) Unwrap() error { return ErrInvalidFormat }

// SchemaError is an answer that did not follow the requested format on
// both tries. A retry of the job cannot be expected to do better, so it
// wraps ErrPermanent.
type SchemaError struct {
	// Errors lists what is wrong, one line each ("at /items/0: …").
	Errors []string
}

func (e *SchemaError) Error() string {
	return "the model's answer does not follow the response format: " + strings.Join(e.Errors, "; ")
}

// Unwrap marks the error permanent.
func (e *SchemaError) Unwrap() error { return ErrPermanent }

// Limits on a format.
const (
	// MaxSchemaBytes bounds a schema's JSON.
	MaxSchemaBytes = 64 << 10
	// maxSchemaErrors bounds the errors reported (and fed back to the model).
	maxSchemaErrors = 10
)

var formatName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// noLoader refuses every $ref outside the schema itself: a caller's schema
// must not make the server read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref to %q: only references inside the schema are allowed", url)
}

// Validator checks answers against one format.
type Validator struct {
	f      Format
	schema *jsonschema.Schema // nil for json_object
}

// CompileFormat checks f and returns its validator. Its errors are
// *FormatError naming the field at fault.
func CompileFormat(f Format) (*Validator, error) {
	switch f.Type {
	case FormatJSONObject:
		if len(f.Schema) > 0 {
			return nil, &FormatError{"schema", "a json_object format takes no schema; use type json_schema"}
		}
		return &Validator{f: f}, nil
	case FormatJSONSchema:
	case "":
		return nil, &FormatError{"type", "missing; use json_schema or json_object"}
	default:
		return nil, &FormatError{"type", fmt.Sprintf("%q is not supported; use json_schema or json_object", truncateRunes(f.Type, 40))}
	}
	if !formatName.MatchString(f.Name) {
		return nil, &FormatError{"name", "must be 1 to 64 letters, digits, underscores or dashes"}
	}
	if len(f.Schema) == 0 || bytes.Equal(bytes.TrimSpace(f.Schema), []byte("null")) {
		return nil, &FormatError{"schema", "missing"}
	}
	if len(f.Schema) > MaxSchemaBytes {
		return nil, &FormatError{"schema", fmt.Sprintf("is %d bytes; the limit is %d", len(f.Schema), MaxSchemaBytes)}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Schema))
	if err != nil {
		return nil, &FormatError{"schema", "not valid JSON: " + err.Error()}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, &FormatError{"schema", "must be a JSON object"}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "urn:recap:response-format"
	if err := c.AddResource(url, doc); err != nil {
		return nil, &FormatError{"schema", err.Error()}
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, &FormatError{"schema", "not a valid JSON Schema: " + strings.ReplaceAll(err.Error(), url, "schema")}
	}
	return &Validator{f: f, schema: sch}, nil
}

// Format returns the format the validator checks.
func (v *Validator) Format() Format { return v.f }

// Check validates an answer. It accepts the JSON wrapped in a markdown
// code fence, as models sometimes write it, and returns it compact and
// unwrapped; errs lists what is wrong when it does not validate.
func (v *Validator) Check(answer string) (out string, errs []string) {
	text := unfence(answer)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return "", []string{"the answer is not valid JSON: " + err.Error()}
	}
	if v.schema == nil {
		if _, ok := inst.(map[string]any); !ok {
			return "", []string{"the answer must be a JSON object"}
		}
	} else if err := v.schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return "", []string{err.Error()}
		}
		errs = flatten(ve.BasicOutput())
		if len(errs) == 0 {
			errs = []string{ve.Error()}
		}
		return "", errs
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return "", []string{"the answer is not valid JSON: " + err.Error()}
	}
	return b.String(), nil
}

// flatten lists the leaf errors of a validation output.
func flatten(u *jsonschema.OutputUnit) []string {
	var out []string
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if len(out) >= maxSchemaErrors {
			return
		}
		if u.Error != nil && len(u.Errors) == 0 {
			loc := u.InstanceLocation
			if loc == "" {
				loc = "/"
			}
			out = append(out, "at "+loc+": "+u.Error.String())
		}
		for _, c := range u.Errors {
			walk(c)
		}
	}
	walk(*u)
	return out
}

// unfence strips one surrounding ``` code fence.
func unfence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return t
	}
	t = strings.TrimSuffix(t[3:], "```")
	if i := strings.IndexByte(t, '\n'); i >= 0 && !strings.ContainsAny(t[:i], "{[\"") {
		t = t[i+1:] // the fence's language tag
	}
	return strings.TrimSpace(t)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// The job row carries a summary's response format inside its prompt,
// after formatMarker, so that everything keyed on the prompt (the summary
// cache's prompt hash, attaching a repeat to a running job, idempotency)
// tells formats apart without a column of its own.
const formatMarker = "\n\n[recap:response_format]\n"

// WithFormat returns prompt carrying f for SplitFormat.
func WithFormat(prompt string, f Format) string {
	b, _ := json.Marshal(f) // a struct of strings, bools and valid raw JSON
	return prompt + formatMarker + string(b)
}

// HasFormatMarker reports whether text holds what WithFormat appends, so
// a door can refuse a prompt that would pass itself off as a format.
func HasFormatMarker(text string) bool {
	return strings.Contains(text, strings.TrimSpace(formatMarker))
}

// SplitFormat separates a prompt made by WithFormat into the caller's
// prompt and its format (nil when it carries none).
func SplitFormat(prompt string) (string, *Format, error) {
	i := strings.LastIndex(prompt, formatMarker)
	if i < 0 {
		return prompt, nil, nil
	}
	var f Format
	if err := json.Unmarshal([]byte(prompt[i+len(formatMarker):]), &f); err != nil {
		return prompt, nil, fmt.Errorf("%w: %v", ErrInvalidFormat, err)
	}
	return prompt[:i], &f, nil
}

// takeFormat moves a format carried by the prompt into req.Format and
// compiles it; v is nil for a markdown request.
func takeFormat(req *Request) (*Validator, error) {
	if req.Format == nil {
		p, f, err := SplitFormat(req.Prompt)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		req.Prompt, req.Format = p, f
	}
	if req.Format == nil {
		return nil, nil
	}
	v, err := CompileFormat(*req.Format)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return v, nil
}

// responseFormatParam is f as OpenAI's response_format.
func responseFormatParam(f Format) openai.ChatCompletionNewParamsResponseFormatUnion {
	if f.Type == FormatJSONObject {
		return openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	}
	js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: f.Name, Schema: f.Schema}
	if f.Strict {
		js.Strict = openai.Bool(true)
	}
	if f.Description != "" {
		js.Description = openai.String(f.Description)
	}
	return openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}}
}

// structured makes the final call of a JSON answer: without streaming (a
// half-written JSON value is of no use to a reader, and a failed one is
// asked for again), validated, retried once with the validation errors,
// and emitted whole once it validates.
func (r *run) structured(ctx context.Context, msgs []openai.ChatCompletionMessageParamUnion, v *Validator, emit func(string)) (string, error) {
	params := openai.ChatCompletionNewParams{Model: r.model, Messages: msgs, ResponseFormat: responseFormatParam(v.Format())}
	for attempt := 1; ; attempt++ {
		text, err := r.callParams(ctx, params, nil)
		if err != nil {
			return "", err
		}
		out, errs := v.Check(text)
		if errs == nil {
			emit(out)
			return out, nil
		}
		if attempt == 2 {
			return "", &SchemaError{Errors: errs}
		}
		params.Messages = append(slices.Clone(params.Messages), openai.ChatCompletionMessageParamOfAssistant(text),
			openai.UserMessage("Your answer does not follow the required JSON format:\n- "+strings.Join(errs, "\n- ")+
				"\nReply again with only the corrected JSON value, nothing else."))
	}
}

// formatInstructions replaces the markdown layout of the system prompt
// when the answer must be JSON.
func formatInstructions(f Format) string {
	var b strings.Builder
	b.WriteString("Reply with one JSON value only: no markdown, no code fence, no text around it.\n")
	if f.Type == FormatJSONSchema {
		b.WriteString("It must validate against this JSON Schema")
		if f.Description != "" {
			b.WriteString(" (" + f.Description + ")")
		}
		b.WriteString(":\n" + string(f.Schema) + "\n")
	} else {
		b.WriteString("It must be a JSON object.\n")
	}
	b.WriteString("Where the JSON holds moments of the video, use timestamps that appear in the input, as written there (\"mm:ss\" or \"h:mm:ss\"); do not invent content.\n")
	return b.String()
}
