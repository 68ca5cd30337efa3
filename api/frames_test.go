package api_test

import (
	"errors"
	"testing"

	"github.com/recap/recap/api"
)

// frames is a boolean: true, false, null or absent pass; anything else is
// a 400 invalid_request_error naming the param.
func TestParseFrames(t *testing.T) {
	t.Parallel()
	base := `{"messages":[{"role":"user","content":"` + video + `"}]`
	for _, ok := range []string{``, `,"frames":true`, `,"frames":false`, `,"frames":null`} {
		p, err := api.ParseChatRequest([]byte(base + ok + `}`))
		if err != nil {
			t.Fatalf("frames %q: %v", ok, err)
		}
		if ok == `,"frames":true` && string(p.Frames) != "true" {
			t.Fatalf("frames true parsed as %q", p.Frames)
		}
	}
	for _, bad := range []string{`"true"`, `1`, `0`, `"yes"`, `[]`, `{}`, `"false"`} {
		_, err := api.ParseChatRequest([]byte(base + `,"frames":` + bad + `}`))
		var ae *api.Error
		if !errors.As(err, &ae) {
			t.Fatalf("frames %s: %v, want *api.Error", bad, err)
		}
		if ae.Status != 400 || ae.Type != "invalid_request_error" || ae.Param != "frames" || ae.Code != "invalid_frames" {
			t.Fatalf("frames %s: %d %s %s param %q, want 400 invalid_request_error invalid_frames param frames", bad, ae.Status, ae.Type, ae.Code, ae.Param)
		}
	}
}
