package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/recap/recap/textclean"
)

// queryServer is a Server with nothing behind it: every request a test
// sends is answered before authentication looks anything up.
func queryServer() *Server {
	return New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// FuzzQueryText: whatever the query string, a parameter Postgres could
// not store (a NUL, invalid UTF-8, in a name or a value) is a 400
// invalid_text naming it before anything else runs, and any other query
// goes on (to authentication, which refuses the missing key). The seed
// corpus runs in every go test.
func FuzzQueryText(f *testing.F) {
	for _, q := range []string{"", "limit=5", "after=%00", "format=%ff", "%00=1", "a=1&b=%c3%28", "lang=en,zh&format=srt", "x=%e2%82", "&&=&"} {
		f.Add(q)
	}
	s := queryServer()
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{Path: "/api/v1/jobs", RawQuery: q}
		if strings.ContainsAny(q, " #\r\n\t") {
			return // not a query a request line can carry
		}
		r := httptest.NewRequest(http.MethodGet, u.String(), nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		name, bad := textclean.Values(r.URL.Query())
		// /api/v1 speaks the seed's shape: the code and param beside the
		// message.
		var body struct {
			Error struct {
				Code  string  `json:"code"`
				Param *string `json:"param"`
			}
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body.Error)
		switch {
		case bad:
			param := ""
			if body.Error.Param != nil {
				param = *body.Error.Param
			}
			if w.Code != http.StatusBadRequest || body.Error.Code != "invalid_text" || param != name || !textclean.Valid(w.Body.String()) {
				t.Fatalf("%q: %d %s, want 400 invalid_text naming %q", q, w.Code, w.Body, name)
			}
		case w.Code != http.StatusUnauthorized:
			t.Fatalf("%q: %d %s, want 401", q, w.Code, w.Body)
		}
	})
}

// TestClaimedLengthRefusedAtOnce: a Content-Length over the route's limit
// is a 413 before authentication and before a byte of the body is read.
func TestClaimedLengthRefusedAtOnce(t *testing.T) {
	t.Parallel()
	s := queryServer()
	for _, path := range []string{"/api/v1/chat/completions", "/v1/responses", "/api/v1/jobs", "/api/auth/token"} {
		r := httptest.NewRequest(http.MethodPost, path, failingBody{t})
		r.ContentLength = 10 << 30
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), `"request_too_large"`) ||
			w.Header().Get("Connection") != "close" {
			t.Errorf("%s: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
	}
}

// failingBody fails the test when read.
type failingBody struct{ t *testing.T }

func (b failingBody) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, io.EOF
}
