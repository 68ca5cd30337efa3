package textclean_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recap/recap/textclean"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Recap test talk", "Recap test talk"},
		{"Recap\x00 test\x00 talk", "Recap test talk"},
		{"caf\xe9", "caf\uFFFD"},
		{"\xff\xfe\x00", "\uFFFD"}, // one run of invalid bytes, one replacement
		{"日本語\x00", "日本語"},
	} {
		if got := textclean.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !textclean.Valid(textclean.String(tc.in)) {
			t.Errorf("String(%q) is not Valid", tc.in)
		}
	}
	if textclean.Valid("a\x00") || textclean.Valid("\xff") || !textclean.Valid("ok ✓") {
		t.Fatal("Valid")
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("format=srt&lang=en&after=%00x&b=%ff")
	if name, bad := textclean.Values(q); !bad || name != "after" {
		t.Fatalf("Values = %q %v, want after", name, bad)
	}
	q, _ = url.ParseQuery("format=srt&lang=en")
	if name, bad := textclean.Values(q); bad {
		t.Fatalf("clean values refused: %q", name)
	}
	if name, bad := textclean.Values(map[string][]string{"mo\x00del": {"x"}}); !bad || name != "model" {
		t.Fatalf("a NUL in a name: %q %v", name, bad)
	}
}

func TestJSONField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body, path string
		bad        bool
	}{
		{`{"url":"https://example.com/v"}`, "", false},
		{`{"url":"https://example.com/\u0000"}`, "url", true},
		{`{"a":1,"b":[true,null,{"c":"x"},"\u0000"]}`, "b[3]", true},
		{`{"params":{"name":"summarize_video","arguments":{"url":"u","prompt":"p\u0000"}}}`, "params.arguments.prompt", true},
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":"\u0000"}]}]}`,
			"messages[0].content[1].image_url", true},
		{`{"k\u0000ey":"v"}`, "key", true},
		{`"\u0000"`, "", true},
		{`{"escaped":"\\u0000 is text, not a NUL"}`, "", false},
		{`{"broken":"\u0000`, "", false}, // not JSON: the parser's to refuse
		{`[{"a":[[]]},{"b":"\u0000"}]`, "[1].b", true},
	} {
		path, bad := textclean.JSONField([]byte(tc.body))
		if path != tc.path || bad != tc.bad {
			t.Errorf("JSONField(%s) = %q %v, want %q %v", tc.body, path, bad, tc.path, tc.bad)
		}
	}
}

// FuzzClean: whatever the text, String makes it Valid and leaves valid
// text alone; JSONField finds a NUL in any JSON string it is encoded in,
// at the path it was put at, and nothing in JSON without one. The seed
// corpus runs in every go test.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x00b", "\xff", "caf\xe9\x00", "\\u0000", `"\u0000"`, "日本\x00語", "\x00\x00\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := textclean.String(s)
		if !textclean.Valid(c) {
			t.Fatalf("String(%q) = %q, not Valid", s, c)
		}
		if textclean.Valid(s) && c != s {
			t.Fatalf("String changed valid %q to %q", s, c)
		}
		if textclean.Valid(s) != (strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)) {
			t.Fatalf("Valid(%q)", s)
		}
		body, _ := json.Marshal(map[string]any{"params": map[string]any{"arguments": map[string]any{"url": []string{"x", s}}}})
		path, bad := textclean.JSONField(body)
		// json.Marshal replaces invalid UTF-8 and escapes a NUL as \u0000.
		if want := strings.IndexByte(s, 0) >= 0; bad != want || (bad && path != "params.arguments.url[1]") {
			t.Fatalf("JSONField(%s) = %q %v, want a NUL: %v", body, path, bad, want)
		}
	})
}
