// Package mediatest holds test helpers for code that drives yt-dlp and
// ffmpeg: a loopback video host serving the repository's testdata, and a
// generator of long speech audio.
package mediatest

import (
	"bytes"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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

// SampleDir returns the directory of the sample talk (media/sample), found
// relative to this source file so tests work from any package directory.
func SampleDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("mediatest: cannot locate source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "sample")
}

// Host is a loopback web server that yt-dlp's generic extractor can read
// offline: a page with <video> and a <track kind="subtitles">, a page with
// only the video, the media file itself, and whatever routes a test adds.
type Host struct {
	srv   *httptest.Server
	conns atomic.Int64

	mu     sync.Mutex
	routes map[string]http.Handler
	hits   map[string]int
}

// NewHost starts a Host serving testdata; it is closed when the test ends.
func NewHost(t testing.TB) *Host {
	t.Helper()
	return NewHostAt(t, "127.0.0.1")
}

// NewHostAt is NewHost listening on ip (any of 127.0.0.0/8 works on Linux
// without configuration). Tests of the egress policy put a Host on an
// address the worker must never reach and check Conns stays zero: the
// host serves a working video, so a leak shows as a job that succeeds.
func NewHostAt(t testing.TB, ip string) *Host {
	t.Helper()
	dir := SampleDir()
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
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("mediatest: listen on %s: %v", ip, err)
	}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(h.serveHTTP))
	h.srv.Listener.Close()
	h.srv.Listener = &countingListener{Listener: ln, n: &h.conns}
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// Conns returns how many TCP connections the host accepted so far.
func (h *Host) Conns() int { return int(h.conns.Load()) }

// Addr is the host's address (ip:port).
func (h *Host) Addr() string { return h.srv.Listener.Addr().String() }

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
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

// Handler serves the host's routes, for a second server (TLS, say) that
// shares them.
func (h *Host) Handler() http.Handler { return http.HandlerFunc(h.serveHTTP) }

// Processes returns the ids of running processes whose command line
// contains s (Linux /proc), for tests that prove no subprocess outlived
// its worker. Zombies are not counted: they no longer run.
func Processes(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte(s)) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}
