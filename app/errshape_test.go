package app_test

import "encoding/json"

// openAIShaped returns an error body in OpenAI's shape, so that one
// decoder reads the errors of both paths: /v1's as they are, /api/v1's
// (the seed's {"error":"<message>","code","type","param"}) rewritten.
func openAIShaped(b []byte) []byte {
	var seed struct {
		Error json.RawMessage `json:"error"`
		Code  *string         `json:"code"`
		Type  string          `json:"type"`
		Param *string         `json:"param"`
	}
	var msg string
	if json.Unmarshal(b, &seed) != nil || json.Unmarshal(seed.Error, &msg) != nil {
		return b
	}
	out, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": seed.Type, "param": seed.Param, "code": seed.Code}})
	return out
}

// UnmarshalJSON reads an error body of either path (see openAIShaped).
func (e *errorShape) UnmarshalJSON(b []byte) error {
	type plain errorShape
	var p plain
	if err := json.Unmarshal(openAIShaped(b), &p); err != nil {
		return err
	}
	*e = errorShape(p)
	return nil
}
