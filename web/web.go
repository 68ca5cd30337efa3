// Package web is Recap's web page: one more door over the same JSON API.
// It serves a static page (HTML, CSS and JavaScript modules embedded in the
// binary; no CDN, no build step) at GET / and its assets under /ui/. The
// page itself calls the API with fetch, as any other client does: chat
// completions (streamed) to summarize and to answer follow-up questions,
// the job list, a job's event stream and its transcript. The server side
// decides nothing about a request; it only serves files with a strict
// Content-Security-Policy.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

//go:embed assets
var assets embed.FS

// AssetPrefix is the path the page's assets are served under.
const AssetPrefix = "/ui/"

// CSP is the page's Content-Security-Policy. Scripts and styles come
// only from this origin (no inline code, no eval), fetches go only to
// this origin's API, and nothing may frame the page. Media may load from
// any http(s) origin: the embedded player plays the summarized video from
// where it is hosted. A job's frames (frames: true) are fetched with the
// caller's key and shown from blob: URLs the page makes. Model output and
// transcripts are rendered as text nodes (assets/markdown.js); the policy
// is the second line of defence.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' blob:; " +
	"media-src http: https:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Config configures the page.
type Config struct {
	// OAuthClientID is the public OAuth2 client (created with
	// `api oauth-clients create`) whose redirect URI is the page's own
	// URL; when set, the page offers "Sign in" besides pasting a key.
	OAuthClientID string
}

// Handler serves the page and its assets.
type Handler struct {
	index []byte
	etag  string
	files fs.FS
}

// New builds the page handler. The index page is rendered once.
func New(cfg Config) *Handler {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	tmpl := template.Must(template.ParseFS(files, "index.html"))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, cfg); err != nil {
		panic(err) // a fixed template over a struct of strings cannot fail
	}
	sum := sha256.Sum256(b.Bytes())
	return &Handler{index: b.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, files: files}
}

// ServeHTTP serves GET and HEAD of / and of the assets; anything else is
// a 404 or 405 in the API's error shape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+truncate(r.URL.Path)+"; use GET.")
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/index.html" {
		h.serve(w, r, "index.html", h.index, "no-cache")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
	if !ok || name == "" || name == "index.html" || !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), ".") {
		writeError(w, http.StatusNotFound, "not_found", "No page at "+truncate(r.URL.Path)+". The web page is at /.")
		return
	}
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "No page at "+truncate(r.URL.Path)+". The web page is at /.")
		return
	}
	// Assets change only with the binary; the ETag tells a browser when.
	h.serve(w, r, name, b, "no-cache")
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string, body []byte, cache string) {
	hdr := w.Header()
	secure(hdr)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr.Set("Content-Type", ctype)
	hdr.Set("Cache-Control", cache)
	etag := h.etag
	if name != "index.html" {
		sum := sha256.Sum256(body)
		etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(body))
}

// secure sets the headers every response of the page carries.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Mount adds GET and HEAD of / and of /ui/… to the API's router.
func Mount(r *mux.Router, h *Handler) {
	r.Handle("/", h).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/index.html", h).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(AssetPrefix).Handler(h).Methods(http.MethodGet, http.MethodHead)
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// zeroTime leaves Last-Modified out: the ETag identifies the content.
var zeroTime time.Time

// writeError answers in OpenAI's error shape, as the API does.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": code}})
	w.Write(append(b, '\n')) //nolint:errcheck
}
