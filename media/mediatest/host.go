// Package mediatest holds test helpers for code that drives yt-dlp and
// ffmpeg: a loopback video host serving the repository's testdata, and a
// generator of long speech audio.
package mediatest

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Paths served by a Host.
const (
	PagePath       = "/talk.html"
	NoSubsPagePath = "/nosubs.html"
	MediaPath      = "/talk.webm"
	SubtitlePath   = "/talk.en.vtt"
)

// Title is the <title> of the pages a Host serves.
const Title = "Recap test talk"

// TestdataDir returns the repository's testdata directory, found relative
// to this source file so tests work from any package directory.
func TestdataDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("mediatest: cannot locate source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}

// Host is a loopback web server that yt-dlp's generic extractor can read
// offline: a page with <video> and a <track kind="subtitles">, a page with
// only the video, the media file itself, and whatever routes a test adds.
type Host struct {
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]http.Handler
	hits   map[string]int
}

// NewHost starts a Host serving testdata; it is closed when the test ends.
func NewHost(t testing.TB) *Host {
	t.Helper()
	dir := TestdataDir()
	media, err := os.ReadFile(filepath.Join(dir, "talk.webm"))
	if err != nil {
		t.Fatalf("mediatest: %v (run scripts/gen-testdata.sh)", err)
	}
	vtt, err := os.ReadFile(filepath.Join(dir, "talk.en.vtt"))
	if err != nil {
		t.Fatalf("mediatest: %v (run scripts/gen-testdata.sh)", err)
	}
	h := &Host{routes: map[string]http.Handler{}, hits: map[string]int{}}
	modTime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	h.routes[PagePath] = PageHandler(Title, MediaPath[1:], SubtitlePath[1:])
	h.routes[NoSubsPagePath] = PageHandler(Title+" without subtitles", MediaPath[1:], "")
	h.routes[MediaPath] = BytesHandler("talk.webm", "video/webm", media, modTime)
	h.routes[SubtitlePath] = BytesHandler("talk.en.vtt", "text/vtt", vtt, modTime)
	h.srv = httptest.NewServer(http.HandlerFunc(h.serveHTTP))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *Host) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits[r.URL.Path]++
	rt := h.routes[r.URL.Path]
	h.mu.Unlock()
	if rt == nil {
		http.NotFound(w, r)
		return
	}
	rt.ServeHTTP(w, r)
}

// URL returns the absolute URL of path on the host.
func (h *Host) URL(path string) string { return h.srv.URL + path }

// PageURL is a page with the talk as <video> and English subtitles.
func (h *Host) PageURL() string { return h.URL(PagePath) }

// NoSubsPageURL is a page with the talk as <video> and no subtitle track.
func (h *Host) NoSubsPageURL() string { return h.URL(NoSubsPagePath) }

// MediaURL is the talk's media file itself.
func (h *Host) MediaURL() string { return h.URL(MediaPath) }

// Serve adds (or replaces) the handler for an exact path.
func (h *Host) Serve(path string, handler http.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[path] = handler
}

// Hits returns how many requests reached path so far.
func (h *Host) Hits(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

// Close stops the server early; NewHost already registers it for cleanup.
func (h *Host) Close() { h.srv.Close() }

// PageHandler serves an HTML page whose <video> plays mediaSrc, with a
// subtitle <track> for subtitleSrc unless it is empty. Sources are
// relative or absolute URLs.
func PageHandler(title, mediaSrc, subtitleSrc string) http.Handler {
	track := ""
	if subtitleSrc != "" {
		track = fmt.Sprintf(`<track kind="subtitles" src="%s" srclang="en" label="English">`, html.EscapeString(subtitleSrc))
	}
	page := fmt.Sprintf(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s</title></head>
<body><h1>%s</h1>
<video controls src="%s">%s</video>
</body></html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(mediaSrc), track)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
}

// BytesHandler serves data with range support, as a static file server would.
func BytesHandler(name, contentType string, data []byte, modTime time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		http.ServeContent(w, r, name, modTime, bytes.NewReader(data))
	})
}

// FileHandler serves a file from disk with range support.
func FileHandler(path, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		http.ServeContent(w, r, filepath.Base(path), st.ModTime(), f)
	})
}
