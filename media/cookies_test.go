package media_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// lockedBuffer is a bytes.Buffer for a logger written by many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cookieRecorder serves h and keeps the Cookie header of every request.
type cookieRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (c *cookieRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Header.Get("Cookie"))
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *cookieRecorder) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// A run for a site with an operator cookie file sends the site's cookies
// (and only them: another domain's cookie in the same file goes nowhere),
// from a private copy that is removed after the run; the operator's file
// is left as it was, and no cookie value reaches a log line or an error.
func TestOperatorCookies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	soon, later := time.Now().Add(24*time.Hour).Unix(), time.Now().Add(72*time.Hour).Unix()
	file := fmt.Sprintf("# Netscape HTTP Cookie File\n"+
		"127.0.0.1\tFALSE\t/\tFALSE\t%d\tsession\tsecret-value-one\n"+
		"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t%d\tauth\tsecret-value-two\n"+
		"127.0.0.2\tFALSE\t/\tFALSE\t%d\tother\tsecret-value-three\n", later, soon, later)
	if err := os.WriteFile(filepath.Join(dir, "127.0.0.1.txt"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	tmp := t.TempDir()
	c, b := setup(t, media.Config{CookiesDir: dir, TempDir: tmp,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	other := mediatest.NewHostAt(t, "127.0.0.2")
	var atHost, atOther cookieRecorder
	b.host.Serve("/cookie-page.html", atHost.wrap(mediatest.PageHandler("Signed in", other.MediaURL(), "talk.en.vtt")))
	other.Serve("/plain.html", atOther.wrap(mediatest.PageHandler("Elsewhere", "talk.webm", "")))
	data, err := os.ReadFile(filepath.Join(mediatest.SampleDir(), "talk.webm"))
	if err != nil {
		t.Fatal(err)
	}
	other.Serve(mediatest.MediaPath, atOther.wrap(mediatest.BytesHandler("talk.webm", "video/webm", data, time.Time{})))
	ctx := context.Background()

	if _, err := c.Resolve(ctx, b.host.URL("/cookie-page.html")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DownloadAudio(ctx, b.host.URL("/cookie-page.html"), nil, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, other.URL("/plain.html")); err != nil {
		t.Fatal(err)
	}
	_, errMissing := c.Resolve(ctx, b.host.URL("/missing.html"))
	if errMissing == nil {
		t.Fatal("a missing page resolved")
	}

	for _, h := range atHost.all() {
		if !strings.Contains(h, "session=secret-value-one") || !strings.Contains(h, "auth=secret-value-two") {
			t.Errorf("the site's page got Cookie %q, want both of its cookies", h)
		}
	}
	if len(atHost.all()) == 0 {
		t.Fatal("the page was never fetched")
	}
	if len(atOther.all()) == 0 {
		t.Fatal("the other host was never fetched")
	}
	for _, h := range atOther.all() {
		if h != "" {
			t.Errorf("another host got Cookie %q; only the site's own cookies may leave", h)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "127.0.0.1.txt")); string(got) != file {
		t.Errorf("the operator's cookie file changed:\n%s", got)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "recap-cookies-*")); len(left) != 0 {
		t.Errorf("private copies left behind: %v", left)
	}
	for what, s := range map[string]string{"log": logs.String(), "error": errMissing.Error()} {
		if strings.Contains(s, "secret-value") {
			t.Errorf("a cookie value is in the %s: %s", what, s)
		}
	}

	sites, err := c.Cookies()
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].Site != "127.0.0.1" || sites[0].Cookies != 2 || sites[0].EarliestExpiry.Unix() != soon {
		t.Errorf("Cookies() = %+v, want 127.0.0.1 with 2 cookies, earliest expiry %d", sites, soon)
	}
}

func TestCookiesDirMustExist(t *testing.T) {
	t.Parallel()
	if _, err := media.New(media.Config{CookiesDir: filepath.Join(t.TempDir(), "nope")}); err == nil || !strings.Contains(err.Error(), "COOKIES_DIR") {
		t.Fatalf("New with a missing COOKIES_DIR = %v", err)
	}
}
