package media_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/recap/recap/media"
)

// png1x1 is a valid one-pixel PNG.
var png1x1, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

// serveOn starts a server on addr (127.0.0.x:0) counting its connections.
func serveOn(t *testing.T, addr string, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Listener = ln
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

// TestImageFetcher: images are fetched by Recap under the network policy
// (each redirect's address checked when dialed), capped, sniffed, and
// handed on as data URLs; a forbidden host sees no connection at all.
func TestImageFetcher(t *testing.T) {
	forbidden, forbiddenConns := serveOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(png1x1) //nolint:errcheck
	}))
	allowed, _ := serveOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.png":
			w.Header().Set("Content-Type", "application/octet-stream") // the bytes decide, not the header
			w.Write(png1x1)                                            //nolint:errcheck
		case "/text.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("<html>not an image</html>")) //nolint:errcheck
		case "/big.png":
			w.Write(png1x1)             //nolint:errcheck
			w.Write(make([]byte, 4096)) //nolint:errcheck
		case "/to-forbidden":
			http.Redirect(w, r, forbidden.URL+"/x.png", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/ping":
			http.Redirect(w, r, "/pong", http.StatusFound)
		case "/pong":
			http.Redirect(w, r, "/ping", http.StatusFound)
		case "/chain":
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			http.Redirect(w, r, "/chain?n="+strconv.Itoa(n+1), http.StatusFound)
		case "/corrupt.png":
			w.Write(png1x1[:20]) //nolint:errcheck // the signature, then the file ends
		case "/status":
			code, _ := strconv.Atoi(r.URL.Query().Get("code"))
			w.WriteHeader(code)
		default:
			http.NotFound(w, r)
		}
	}))
	// 127.0.0.1 is let through as an operator's EGRESS_ALLOW would; the
	// rest of loopback stays forbidden.
	f := media.NewImageFetcher(media.ImageFetcherConfig{
		Policy:   media.NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		MaxBytes: 1024,
	})
	ctx := context.Background()
	got, err := f.DataURL(ctx, allowed.URL+"/ok.png")
	if err != nil || got != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png1x1) {
		t.Fatalf("ok.png: %q %v", got, err)
	}
	for _, tc := range []struct {
		name, url string
		want      error
	}{
		{"forbidden host", forbidden.URL + "/x.png", media.ErrURLNotAllowed},
		{"redirect to a forbidden host", allowed.URL + "/to-forbidden", media.ErrURLNotAllowed},
		{"redirect to file:", allowed.URL + "/to-file", media.ErrURLNotAllowed},
		{"not an image", allowed.URL + "/text.png", media.ErrNotImage},
		{"too large", allowed.URL + "/big.png", media.ErrImageTooLarge},
		{"data URL of text", "data:text/html;base64,PGh0bWw+", media.ErrNotImage},
		{"data URL too large", "data:image/png;base64," + strings.Repeat("A", 4000), media.ErrImageTooLarge},
		{"truncated PNG", allowed.URL + "/corrupt.png", media.ErrNotImage},
		{"404", allowed.URL + "/missing.png", media.ErrImageRefused},
		{"410", allowed.URL + "/status?code=410", media.ErrImageRefused},
		{"403", allowed.URL + "/status?code=403", media.ErrImageRefused},
		{"redirect to itself", allowed.URL + "/loop", media.ErrImageRedirects},
		{"redirect loop", allowed.URL + "/ping", media.ErrImageRedirects},
		{"endless redirects", allowed.URL + "/chain", media.ErrImageRedirects},
	} {
		_, err := f.DataURL(ctx, tc.url)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.want != media.ErrURLNotAllowed && !media.ImagePermanent(err) {
			t.Errorf("%s: ImagePermanent(%v) = false", tc.name, err)
		}
	}
	// Worth retrying: the host may answer next time.
	for _, code := range []int{408, 429, 500, 502, 503} {
		_, err := f.DataURL(ctx, allowed.URL+"/status?code="+strconv.Itoa(code))
		if err == nil || media.ImagePermanent(err) {
			t.Errorf("status %d: %v, want a transient error", code, err)
		}
	}
	if n := forbiddenConns.Load(); n != 0 {
		t.Errorf("the forbidden host saw %d connections", n)
	}
}
