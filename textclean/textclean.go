// Package textclean keeps text Postgres cannot store out of it. A UTF8
// database refuses invalid UTF-8 in text columns (SQLSTATE 22021), and
// text and jsonb refuse U+0000 however it is spelled (a NUL byte, or the
// \u0000 escape in JSON). Text from outside (request fields, OAuth
// parameters, form fields, query parameters, a video page's metadata,
// subtitles, speech-to-text and model output) passes through here where
// it enters: a request field that fails Valid is refused with a 400
// naming it; text Recap did not ask for (a page's title) is cleaned with
// String.
//
// The package imports nothing of Recap, so every package may use it.
package textclean

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Valid reports whether s can be stored as it is: valid UTF-8 holding no
// NUL.
func Valid(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// String returns s fit to store: NUL characters dropped, and each
// invalid UTF-8 sequence replaced by U+FFFD (the replacement character),
// as Go's JSON decoder does. Valid text comes back unchanged.
func String(s string) string {
	if Valid(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Strings cleans every element of ss in place with String and returns it.
func Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = String(s)
	}
	return ss
}

// Values returns the first of values' names (in sorted order: url.Values
// is a map) whose name or any value fails Valid, and whether there was
// one. It takes url.Values, or multipart fields, as the map they are.
func Values(values map[string][]string) (string, bool) {
	var bad []string
	for name, vs := range values {
		ok := Valid(name)
		for _, v := range vs {
			ok = ok && Valid(v)
		}
		if !ok {
			bad = append(bad, String(name))
		}
	}
	if len(bad) == 0 {
		return "", false
	}
	first := bad[0]
	for _, b := range bad[1:] {
		if b < first {
			first = b
		}
	}
	return first, true
}

var nulEscape = []byte(`\u0000`)

// JSONField finds the first string of a JSON text, in document order,
// that holds a NUL (the \u0000 escape, which Go's decoder keeps while it
// replaces invalid UTF-8 on its own), as an object key or a value. It
// returns that string's path, as a request's param is named
// ("messages[0].content", "" for a top-level string), and whether there
// was one. Text that is not JSON has none: refusing it is the parser's
// job. Bodies without the escape cost one bytes.Index.
func JSONField(body []byte) (string, bool) {
	if !bytes.Contains(body, nulEscape) {
		return "", false
	}
	type frame struct {
		array   bool
		n       int    // array: the current element's index
		key     string // object: the current member's key
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.n) + "]")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(String(f.key))
		}
		return b.String()
	}
	done := func() {
		if len(stack) == 0 {
			return
		}
		if f := &stack[len(stack)-1]; f.array {
			f.n++
		} else {
			f.wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				stack = append(stack, frame{array: v == '[', wantKey: v == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
			done()
		case string:
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = v, false
				if strings.IndexByte(v, 0) >= 0 {
					return path(), true
				}
				continue
			}
			if strings.IndexByte(v, 0) >= 0 {
				return path(), true
			}
			done()
		default:
			done()
		}
	}
}
