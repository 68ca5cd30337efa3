package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/recap/recap/web"
)

func setup(t *testing.T, cfg web.Config) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	web.Mount(r, web.New(cfg))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestServesPageAndAssets(t *testing.T) {
	t.Parallel()
	srv := setup(t, web.Config{})
	for path, ctype := range map[string]string{
		"/":               "text/html; charset=utf-8",
		"/index.html":     "text/html; charset=utf-8",
		"/ui/app.js":      "text/javascript; charset=utf-8",
		"/ui/markdown.js": "text/javascript; charset=utf-8",
		"/ui/app.css":     "text/css; charset=utf-8",
		"/ui/icon.svg":    "image/svg+xml",
	} {
		resp, body := do(t, http.MethodGet, srv.URL+path, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || body == "" {
			t.Errorf("GET %s: %d %q (%d bytes)", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if resp.Header.Get("Content-Security-Policy") != web.CSP || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers %v", path, resp.Header)
		}
		// Revalidation answers 304 with the ETag.
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		resp, _ = do(t, http.MethodGet, srv.URL+path, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, resp.StatusCode)
		}
	}
	resp, body := do(t, http.MethodHead, srv.URL+"/", nil)
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestOAuthClientInPage(t *testing.T) {
	t.Parallel()
	_, body := do(t, http.MethodGet, setup(t, web.Config{}).URL+"/", nil)
	if !strings.Contains(body, `<meta name="recap-oauth-client" content="">`) {
		t.Error("without a client the page has no client id")
	}
	// The id is escaped as an attribute value.
	_, body = do(t, http.MethodGet, setup(t, web.Config{OAuthClientID: `rcpc_x"><script>`}).URL+"/", nil)
	if !strings.Contains(body, `content="rcpc_x&#34;&gt;&lt;script&gt;"`) || strings.Contains(body, `"><script>`) {
		t.Errorf("client id not escaped:\n%s", body)
	}
}

func TestRefusesOtherPaths(t *testing.T) {
	t.Parallel()
	srv := setup(t, web.Config{})
	// Paths the handler sees: a 404 in the API's error shape.
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/.hidden"} {
		resp, body := do(t, http.MethodGet, srv.URL+path, nil)
		var e struct {
			Error struct{ Message, Code string }
		}
		if resp.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "not_found" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	// Paths with dot segments are cleaned by the router first; none reaches
	// a file outside the assets.
	for _, path := range []string{"/ui/../web.go", "/ui/sub/../../web.go", "/ui/%2e%2e/web.go", "/ui/..%2fweb.go"} {
		resp, body := do(t, http.MethodGet, srv.URL+path, nil)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "package web") {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	resp, body := do(t, http.MethodPost, srv.URL+"/ui/app.js", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /ui/app.js: %d %q", resp.StatusCode, body)
	}
}

func TestHandlerMethods(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.New(web.Config{}))
	t.Cleanup(srv.Close)
	resp, body := do(t, http.MethodPost, srv.URL+"/", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(body, "method_not_allowed") {
		t.Errorf("POST /: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}
