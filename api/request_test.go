package api_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recap/recap/api"
)

const video = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"

func body(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type msg = map[string]any

func user(content any) msg { return msg{"role": "user", "content": content} }

func textPart(s string) msg  { return msg{"type": "text", "text": s} }
func videoPart(u string) msg { return msg{"type": "video_url", "video_url": u} }
func imagePart(u string) msg { return msg{"type": "image_url", "image_url": msg{"url": u}} }

func chat(msgs ...msg) map[string]any { return map[string]any{"model": "bibigpt", "messages": msgs} }

func repeat[T any](n int, v T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// history builds a follow-up conversation whose earlier turns total n runes.
func history(n int) map[string]any {
	return chat(user(video), msg{"role": "assistant", "content": strings.Repeat("a", n)}, user("and then?"))
}

// Each limit: the request at the limit is accepted, one past it is a 400
// whose code and message name the limit.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	longURL := func(n int) string { return video + "&x=" + strings.Repeat("a", n-len(video)-3) }
	tests := []struct {
		name      string
		ok, over  []byte
		code      string
		limitText string
	}{
		{
			name:      "body size",
			ok:        []byte(`{"messages":[{"role":"user","content":"` + video + `"}]}` + strings.Repeat(" ", api.MaxBodyBytes-len(`{"messages":[{"role":"user","content":"`+video+`"}]}`))),
			over:      []byte(`{"messages":[{"role":"user","content":"` + video + `"}]}` + strings.Repeat(" ", api.MaxBodyBytes)),
			code:      "request_too_large",
			limitText: strconv.Itoa(api.MaxBodyBytes),
		},
		{
			name:      "url length",
			ok:        body(t, chat(user([]msg{videoPart(longURL(api.MaxURLLength))}))),
			over:      body(t, chat(user([]msg{videoPart(longURL(api.MaxURLLength + 1))}))),
			code:      "url_too_long",
			limitText: strconv.Itoa(api.MaxURLLength),
		},
		{
			name:      "url length in text",
			ok:        body(t, chat(user("summarize "+longURL(api.MaxURLLength)))),
			over:      body(t, chat(user("summarize "+longURL(api.MaxURLLength+1)))),
			code:      "url_too_long",
			limitText: strconv.Itoa(api.MaxURLLength),
		},
		{
			name:      "messages",
			ok:        body(t, chat(append(repeat(api.MaxMessages-1, msg{"role": "system", "content": "be brief"}), user(video))...)),
			over:      body(t, chat(append(repeat(api.MaxMessages, msg{"role": "system", "content": "be brief"}), user(video))...)),
			code:      "too_many_messages",
			limitText: strconv.Itoa(api.MaxMessages),
		},
		{
			name:      "parts",
			ok:        body(t, chat(user(append(repeat(api.MaxParts-1, textPart("x")), videoPart(video))))),
			over:      body(t, chat(user(append(repeat(api.MaxParts, textPart("x")), videoPart(video))))),
			code:      "too_many_parts",
			limitText: strconv.Itoa(api.MaxParts),
		},
		{
			name:      "prompt",
			ok:        body(t, chat(user([]msg{videoPart(video), textPart(strings.Repeat("é", api.MaxPromptRunes))}))),
			over:      body(t, chat(user([]msg{videoPart(video), textPart(strings.Repeat("é", api.MaxPromptRunes+1))}))),
			code:      "prompt_too_long",
			limitText: strconv.Itoa(api.MaxPromptRunes),
		},
		{
			name:      "images",
			ok:        body(t, chat(user(append(repeat(api.MaxImages, imagePart("https://example.com/a.png")), videoPart(video))))),
			over:      body(t, chat(user(append(repeat(api.MaxImages+1, imagePart("https://example.com/a.png")), videoPart(video))))),
			code:      "too_many_images",
			limitText: strconv.Itoa(api.MaxImages),
		},
		{
			name:      "conversation",
			ok:        body(t, history(api.MaxHistoryRunes-utf8.RuneCountInString(video))),
			over:      body(t, history(api.MaxHistoryRunes)),
			code:      "conversation_too_long",
			limitText: strconv.Itoa(api.MaxHistoryRunes),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := api.ParseChatRequest(tt.ok); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			_, err := api.ParseChatRequest(tt.over)
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("over the limit: %v, want *api.Error", err)
			}
			if ae.Status != 400 || ae.Code != tt.code || ae.Type != "invalid_request_error" {
				t.Fatalf("over the limit: %d %s %s, want 400 %s", ae.Status, ae.Type, ae.Code, tt.code)
			}
			if !strings.Contains(ae.Message, "limit is "+tt.limitText) && !strings.Contains(ae.Message, "limit of "+tt.limitText) {
				t.Fatalf("message %q does not name the limit %s", ae.Message, tt.limitText)
			}
		})
	}
}

var fuzzSeeds = []string{
	`{"model":"bibigpt","messages":[{"role":"user","content":"https://www.bilibili.com/video/BV1Sk4y1x7r2 summarize"}]}`,
	`{"messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"https://youtu.be/dQw4w9WgXcQ"}},{"type":"text","text":"key points"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,AAAA"},{"type":"text","text":"what is this"}]}]}`,
	`{"messages":[{"role":"user","content":"https://a.example/v"},{"role":"assistant","content":"sum"},{"role":"user","content":"why?"}],"audio_language":"zh_Hans","output_language":"auto"}`,
	`{"messages":[{"role":"user","content":{"type":"video_url","video_url":"--exec=id"}}]}`,
	`{"messages":[{"role":"tool","content":null},{"role":"user","content":"http://[::1]:80/x"}]}`,
	`{"messages":[{"role":"user","content":[{"type":"video_url","video_url":7}]}]}`,
	`{"messages":[]}`,
	`{"messages":[{"role":"user","content":"x"}]} {}`,
	`[]`,
	`{"messages":[{"role":"user","content":"\ud800 https://x.example/\u0000"}]}`,
	``,
}

// FuzzParseChatRequest: whatever the body, the parser returns a request
// within every limit or a 400 *api.Error, and never panics. The seeds run
// as a normal test in CI; `make fuzz` explores further.
func FuzzParseChatRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := api.ParseChatRequest(data)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v is not *api.Error", err, err)
			}
			if ae.Status != 400 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("error %+v: want a 400 with a code and a message", ae)
			}
			return
		}
		if p.URL == "" && len(p.Images) == 0 {
			t.Fatalf("accepted a request with neither video nor image: %+v", p)
		}
		if p.URL != "" {
			u, err := url.Parse(p.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(p.URL) > api.MaxURLLength {
				t.Fatalf("accepted video URL %q", p.URL)
			}
		}
		if utf8.RuneCountInString(p.Prompt) > api.MaxPromptRunes || len(p.Images) > api.MaxImages {
			t.Fatalf("accepted over-limit request: %d runes, %d images", utf8.RuneCountInString(p.Prompt), len(p.Images))
		}
	})
}
