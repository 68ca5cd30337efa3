package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// checkNever5xx runs every request parser of the HTTP door and the use
// cases' validation on body: whatever the bytes, an error is a 4xx, never
// a 5xx, and nothing panics.
func checkNever5xx(t *testing.T, body []byte) {
	key := &recap.Caller{ID: 1, AccountID: 1}
	status := func(where string, err error) {
		if err == nil {
			return
		}
		if ae := asAPIError(err); ae.Status >= 500 {
			t.Fatalf("%s: %d %s (%q) for %q", where, ae.Status, ae.Code, ae.Message, body)
		}
	}
	toCore := func(p *Parsed) core.SummarizeRequest {
		r := core.SummarizeRequest{Caller: key, URL: p.URL, Prompt: p.Prompt, Model: p.Model, AudioLanguage: p.AudioLanguage,
			OutputLanguage: p.OutputLanguage, Images: p.Images, FollowUp: p.FollowUp}
		for _, m := range p.History {
			r.History = append(r.History, recap.Message{Role: m.Role, Content: m.Content})
		}
		return r
	}
	if p, err := ParseChatRequest(body); err != nil {
		status("chat parse", err)
	} else {
		r := toCore(p)
		status("chat validate", r.Validate())
	}
	if _, p, err := parseResponses(body); err != nil {
		status("responses parse", err)
	} else {
		r := toCore(p)
		status("responses validate", r.Validate())
	}
	var b createJobsRequest
	if json.NewDecoder(bytes.NewReader(body)).Decode(&b) == nil {
		br := core.BatchRequest{Caller: key, URLs: b.URLs, Prompt: b.Prompt, Model: b.Model, AudioLanguage: b.AudioLanguage,
			OutputLanguage: b.OutputLanguage, WebhookURL: b.WebhookURL}
		status("batch validate", br.Validate())
	}
}

// nulBodies hold a NUL character in each text that would reach Postgres.
var nulBodies = []struct{ name, body, param string }{
	{"message", `{"model":"bibigpt","messages":[{"role":"user","content":"sum\u0000up https://example.com/v"}]}`, "messages"},
	{"assistant history", `{"messages":[{"role":"user","content":"https://example.com/v"},{"role":"assistant","content":"a\u0000b"},{"role":"user","content":"why?"}]}`, "messages[1].content"},
	{"data url", `{"messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":"data:image/png;base64,AA\u0000"}]}]}`, "messages[0].content[1].image_url"},
	{"responses input", `{"model":"bibigpt","input":"https://example.com/v \u0000"}`, "input"},
}

func TestNULRefusedWithField(t *testing.T) {
	key := &recap.Caller{ID: 1, AccountID: 1}
	for _, tc := range nulBodies {
		t.Run(tc.name, func(t *testing.T) {
			var p *Parsed
			var err error
			if bytes.Contains([]byte(tc.body), []byte(`"input"`)) {
				_, p, err = parseResponses([]byte(tc.body))
			} else {
				p, err = ParseChatRequest([]byte(tc.body))
			}
			if err == nil {
				r := core.SummarizeRequest{Caller: key, URL: p.URL, Prompt: p.Prompt, Images: p.Images, FollowUp: p.FollowUp, Param: "messages"}
				if bytes.Contains([]byte(tc.body), []byte(`"input"`)) {
					r.Param = "input"
				}
				for _, m := range p.History {
					r.History = append(r.History, recap.Message{Role: m.Role, Content: m.Content})
				}
				err = r.Validate()
			}
			ae := asAPIError(err)
			if err == nil || ae.Status != 400 || ae.Type != "invalid_request_error" || ae.Param != tc.param {
				t.Fatalf("got %v (status %d, param %q), want a 400 naming %q", err, ae.Status, ae.Param, tc.param)
			}
		})
	}
	br := core.BatchRequest{Caller: key, URLs: []string{"https://example.com/v"}, Prompt: "a\x00b"}
	if ae := asAPIError(br.Validate()); ae.Status != 400 || ae.Param != "prompt" {
		t.Fatalf("batch prompt: %d %q", ae.Status, ae.Param)
	}
}

func FuzzRequestsNever5xx(f *testing.F) {
	for _, tc := range nulBodies {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"urls":["https://example.com/a\u0000"],"prompt":"x"}`))
	f.Add([]byte(`{"urls":["https://example.com/a"],"prompt":"\u0000","webhook_url":"http://h/\u0000"}`))
	f.Add([]byte(`{"model":"bibigpt","input":[{"role":"user","content":[{"type":"input_text","text":"https://example.com/v"}]}],"instructions":"\u0000"}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":"https://example.com/v"}],"audio_language":"e\u0000n"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkNever5xx(t, body)
	})
}
