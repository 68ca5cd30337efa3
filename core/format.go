package core

import (
	"encoding/json"
	"errors"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize"
)

// ResponseFormat asks for a summary as JSON instead of markdown: any JSON
// object (Type "json_object") or JSON valid against Schema (Type
// "json_schema"). Doors fill it from OpenAI's response_format (chat) or
// text.format (Responses).
type ResponseFormat struct {
	Type        string
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      bool
	// Param is the wire path of the object holding type, name and schema
	// ("response_format", "text.format"); FieldParam that of name, schema
	// and strict when they are nested ("response_format.json_schema").
	Param, FieldParam string
}

func (f *ResponseFormat) summarize() summarize.Format {
	return summarize.Format{Type: f.Type, Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}
}

// checkFormat validates r's response format (compiling its schema) and
// refuses a prompt that would pass itself off as one.
func (r *SummarizeRequest) checkFormat() error {
	if summarize.HasFormatMarker(r.Prompt) {
		return Invalid("invalid_prompt", r.param(), "The prompt holds Recap's reserved marker '[recap:response_format]'; send a response format as 'response_format' instead.")
	}
	f := r.Format
	if f == nil {
		return nil
	}
	if r.FollowUp {
		return Invalid(recap.CodeResponseFormatUnsupported, f.Param, "A response format applies to a video's summary, not to a follow-up question; ask without one.")
	}
	_, err := summarize.CompileFormat(f.summarize())
	var fe *summarize.FormatError
	if errors.As(err, &fe) {
		param := f.Param + "." + fe.Field
		if fe.Field != "type" && f.FieldParam != "" {
			param = f.FieldParam + "." + fe.Field
		}
		return Invalid(recap.CodeInvalidResponseFormat, param, "'%s' is invalid: %s.", param, fe.Reason)
	}
	return err
}

// applyFormat makes j carry r's response format for its summary stage,
// once the model is known: the offline summarizer writes markdown only.
// The format travels inside the job's prompt (summarize.WithFormat), so
// the summary cache, attaching repeats and idempotency key on it too.
func (r *SummarizeRequest) applyFormat(model string, j *recap.Job) error {
	if r.Format == nil {
		return nil
	}
	if model == summarize.ExtractiveModel {
		return Invalid(recap.CodeResponseFormatUnsupported, r.Format.Param, "The offline summarizer (%s) writes markdown only; a response format needs a language model (set LLM_BASE_URL on the server, or name a model other than %s/%s).",
			summarize.ExtractiveModel, PublicModel, summarize.ExtractiveModel)
	}
	j.Prompt = summarize.WithFormat(j.Prompt, r.Format.summarize())
	return nil
}
