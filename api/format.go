package api

import (
	"bytes"
	"encoding/json"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// wireFormat is OpenAI's response format object: chat completions nest
// name, schema and strict under json_schema; the Responses API's
// text.format holds them flat.
type wireFormat struct {
	Type        string          `json:"type"`
	JSONSchema  json.RawMessage `json:"json_schema"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

type wireSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// decodeFormat reads the format object at param; nil means markdown (no
// format, or type "text").
func decodeFormat(raw json.RawMessage, param string) (*wireFormat, error) {
	if isNull(raw) {
		return nil, nil
	}
	var wf wireFormat
	if err := json.Unmarshal(raw, &wf); err != nil {
		return nil, badRequest(recap.CodeInvalidResponseFormat, param, "'%s' must be an object such as {\"type\": \"json_schema\", …}: %v.", param, err)
	}
	switch wf.Type {
	case "text":
		return nil, nil
	case "json_object", "json_schema":
		return &wf, nil
	case "":
		return nil, badRequest(recap.CodeInvalidResponseFormat, param+".type", "'%s.type' is required: 'text', 'json_object' or 'json_schema'.", param)
	}
	return nil, badRequest(recap.CodeInvalidResponseFormat, param+".type", "'%s.type' %q is not supported: use 'text', 'json_object' or 'json_schema'.", param, truncate(wf.Type, 40))
}

// parseChatFormat reads a chat completion's response_format.
func parseChatFormat(raw json.RawMessage) (*core.ResponseFormat, error) {
	const param = "response_format"
	wf, err := decodeFormat(raw, param)
	if wf == nil || err != nil {
		return nil, err
	}
	f := &core.ResponseFormat{Type: wf.Type, Param: param, FieldParam: param + ".json_schema"}
	if wf.Type == "json_object" {
		return f, nil
	}
	if isNull(wf.JSONSchema) {
		return nil, badRequest(recap.CodeInvalidResponseFormat, param+".json_schema", "'%s.json_schema' is required with type 'json_schema': {\"name\", \"schema\", \"strict\"}.", param)
	}
	var ws wireSchema
	if err := json.Unmarshal(wf.JSONSchema, &ws); err != nil {
		return nil, badRequest(recap.CodeInvalidResponseFormat, param+".json_schema", "'%s.json_schema' must be an object {\"name\", \"schema\", \"strict\"}: %v.", param, err)
	}
	f.Name, f.Description, f.Schema, f.Strict = ws.Name, ws.Description, ws.Schema, ws.Strict != nil && *ws.Strict
	return f, nil
}

// parseResponsesFormat reads a Responses request's text.format.
func parseResponsesFormat(text json.RawMessage) (*core.ResponseFormat, error) {
	if isNull(text) {
		return nil, nil
	}
	var t struct {
		Format json.RawMessage `json:"format"`
	}
	if err := json.Unmarshal(text, &t); err != nil {
		return nil, badRequest(recap.CodeInvalidResponseFormat, "text", "'text' must be an object {\"format\": …}: %v.", err)
	}
	const param = "text.format"
	wf, err := decodeFormat(t.Format, param)
	if wf == nil || err != nil {
		return nil, err
	}
	f := &core.ResponseFormat{Type: wf.Type, Param: param, FieldParam: param}
	if wf.Type == "json_schema" {
		f.Name, f.Description, f.Schema, f.Strict = wf.Name, wf.Description, wf.Schema, wf.Strict != nil && *wf.Strict
	}
	return f, nil
}
