package media_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// loopbackOnly allows the test host's 127.0.0.1 and nothing else internal:
// 127.0.0.2 plays the part of an internal service.
var loopbackOnly = media.NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func startEgress(t *testing.T, p media.NetPolicy) *media.Egress {
	t.Helper()
	e, err := media.StartEgress(media.EgressConfig{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func proxyClient(t *testing.T, proxy string) *http.Client {
	t.Helper()
	u, err := url.Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestEgressPolicy(t *testing.T) {
	t.Parallel()
	e := startEgress(t, loopbackOnly)
	host := mediatest.NewHost(t)
	inside := mediatest.NewHostAt(t, "127.0.0.2")
	_, port, _ := strings.Cut(inside.Addr(), ":")
	host.Serve("/redirect", http.RedirectHandler(inside.PageURL(), http.StatusFound))
	tlsHost := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	t.Cleanup(tlsHost.Close)

	tests := []struct {
		name   string
		url    string
		status int // 0: the request itself fails
		denied bool
	}{
		{"allowed host", host.PageURL(), 200, false},
		{"allowed https through CONNECT", tlsHost.URL, 200, false},
		{"internal address", inside.PageURL(), 403, true},
		{"hex", "http://0x7f000002:" + port + "/", 403, true},
		{"decimal", "http://2130706434:" + port + "/", 403, true},
		{"octal", "http://017700000002:" + port + "/", 403, true},
		{"short form", "http://127.2:" + port + "/", 403, true},
		{"ipv4-mapped ipv6", "http://[::ffff:127.0.0.2]:" + port + "/", 403, true},
		{"metadata", "http://169.254.169.254/latest/meta-data/", 403, true},
		{"redirect into the network", host.URL("/redirect"), 403, true},
		{"CONNECT to internal", "https://" + inside.Addr() + "/", 0, true},
		{"CONNECT to metadata", "https://169.254.169.254/", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run, err := e.Begin(0)
			if err != nil {
				t.Fatal(err)
			}
			defer run.End()
			res, err := proxyClient(t, run.ProxyURL()).Get(tt.url)
			switch {
			case tt.status == 0:
				if err == nil {
					res.Body.Close()
					t.Fatalf("GET %s through the proxy succeeded with %d", tt.url, res.StatusCode)
				}
			case err != nil:
				t.Fatalf("GET %s: %v", tt.url, err)
			default:
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != tt.status {
					t.Fatalf("GET %s: status %d, want %d", tt.url, res.StatusCode, tt.status)
				}
			}
			if got := run.Denied() != ""; got != tt.denied {
				t.Fatalf("Denied() = %q, want denied=%v", run.Denied(), tt.denied)
			}
		})
	}
	t.Cleanup(func() {
		if n := inside.Conns(); n != 0 {
			t.Errorf("the internal host accepted %d connections", n)
		}
	})
}

// With the zero policy every internal address is refused, names included.
func TestEgressZeroPolicy(t *testing.T) {
	t.Parallel()
	e := startEgress(t, media.NetPolicy{})
	host := mediatest.NewHost(t)
	_, port, _ := strings.Cut(host.Addr(), ":")
	for _, u := range []string{host.PageURL(), "http://localhost:" + port + "/", "http://[::1]:" + port + "/", "http://0:" + port + "/"} {
		run, err := e.Begin(0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := proxyClient(t, run.ProxyURL()).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || run.Denied() == "" {
			t.Errorf("GET %s: status %d, denied %q; want 403", u, res.StatusCode, run.Denied())
		}
		run.End()
	}
	if n := host.Conns(); n != 0 {
		t.Fatalf("the host accepted %d connections", n)
	}
}

func TestEgressCredentials(t *testing.T) {
	t.Parallel()
	e := startEgress(t, media.NetPolicy{AllowPrivate: true})
	host := mediatest.NewHost(t)
	for _, proxy := range []string{"http://" + e.Addr(), "http://recap:wrong@" + e.Addr()} {
		res, err := proxyClient(t, proxy).Get(host.PageURL())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusProxyAuthRequired {
			t.Errorf("proxy %s: status %d, want 407", proxy, res.StatusCode)
		}
	}
	if n := host.Hits(mediatest.PagePath); n != 0 {
		t.Errorf("unauthenticated requests reached the host %d times", n)
	}
	run, err := e.Begin(0)
	if err != nil {
		t.Fatal(err)
	}
	run.End()
	res, err := proxyClient(t, run.ProxyURL()).Get(host.PageURL())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("ended run: status %d, want 407", res.StatusCode)
	}
}

func TestEgressByteCap(t *testing.T) {
	t.Parallel()
	e := startEgress(t, media.NetPolicy{AllowPrivate: true})
	host := mediatest.NewHost(t)
	// No Content-Length: only counting the bytes can stop it.
	host.Serve("/endless", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	tlsHost := httptest.NewTLSServer(host.Handler())
	t.Cleanup(tlsHost.Close)
	for _, u := range []string{host.URL("/endless"), tlsHost.URL + "/endless"} {
		run, err := e.Begin(256 << 10)
		if err != nil {
			t.Fatal(err)
		}
		res, err := proxyClient(t, run.ProxyURL()).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil {
			t.Errorf("%s: body ended cleanly after %d bytes; a cut download must look truncated", u, n)
		}
		if !run.OverLimit() || n > 256<<10+64<<10 {
			t.Errorf("%s: read %d bytes, OverLimit=%v", u, n, run.OverLimit())
		}
		run.End()
	}
}

// The yt-dlp runs of a Client with an egress proxy reach the video host
// through it, and everything the policy refuses is ErrURLNotAllowed with
// no connection made.
func TestEgressYtDlp(t *testing.T) {
	t.Parallel()
	for _, mode := range extractorModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			testEgressYtDlp(t, mode)
		})
	}
}

func testEgressYtDlp(t *testing.T, mode media.ExtractorMode) {
	e := startEgress(t, loopbackOnly)
	c, b := setupMode(t, media.Config{Egress: e}, mode)
	inside := mediatest.NewHostAt(t, "127.0.0.2")
	b.host.Serve("/redirect", http.RedirectHandler(inside.PageURL(), http.StatusFound))
	b.host.Serve("/inner-video.html", mediatest.PageHandler("inner video", inside.MediaURL(), ""))
	b.host.Serve("/inner-subs.html", mediatest.PageHandler("inner subtitles", "talk.webm", inside.URL(mediatest.SubtitlePath)))
	ctx := context.Background()

	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		info, err := c.Resolve(ctx, b.host.PageURL())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Subtitles(ctx, b.host.PageURL(), info, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DownloadAudio(ctx, b.host.PageURL(), nil, t.TempDir(), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("redirect to internal", func(t *testing.T) {
		t.Parallel()
		_, err := c.Resolve(ctx, b.host.URL("/redirect"))
		if !errors.Is(err, media.ErrURLNotAllowed) {
			t.Fatalf("Resolve = %v, want ErrURLNotAllowed", err)
		}
	})
	t.Run("internal video src", func(t *testing.T) {
		t.Parallel()
		_, err := c.DownloadAudio(ctx, b.host.URL("/inner-video.html"), nil, t.TempDir(), nil)
		if !errors.Is(err, media.ErrURLNotAllowed) {
			t.Fatalf("DownloadAudio = %v, want ErrURLNotAllowed", err)
		}
	})
	t.Run("internal subtitle src", func(t *testing.T) {
		t.Parallel()
		_, _, err := c.Subtitles(ctx, b.host.URL("/inner-subs.html"), nil, "")
		if !errors.Is(err, media.ErrURLNotAllowed) {
			t.Fatalf("Subtitles = %v, want ErrURLNotAllowed", err)
		}
	})
	t.Run("direct internal url", func(t *testing.T) {
		t.Parallel()
		_, err := c.Resolve(ctx, inside.PageURL())
		if !errors.Is(err, media.ErrURLNotAllowed) {
			t.Fatalf("Resolve = %v, want ErrURLNotAllowed", err)
		}
	})
	t.Cleanup(func() {
		if n := inside.Conns(); n != 0 {
			t.Errorf("the internal host accepted %d connections", n)
		}
	})
}

// A URL is always yt-dlp's last argument after "--": one that looks like
// an option is a URL yt-dlp cannot handle, never an option it obeys.
func TestYtDlpOptionInjection(t *testing.T) {
	t.Parallel()
	for _, mode := range extractorModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			c, _ := setupMode(t, media.Config{}, mode)
			marker := filepath.Join(t.TempDir(), "pwned")
			for _, u := range []string{"--exec=touch " + marker, "-o" + marker} {
				if _, err := c.Resolve(context.Background(), u); err == nil {
					t.Errorf("Resolve(%q) succeeded", u)
				}
				if _, err := c.DownloadAudio(context.Background(), u, nil, t.TempDir(), nil); err == nil {
					t.Errorf("DownloadAudio(%q) succeeded", u)
				}
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("an option passed as URL took effect: %v", err)
			}
		})
	}
}

// ffmpeg and ffprobe only ever read local files: a URL handed to them is
// a (missing) file name, and nothing connects to it.
func TestFFmpegStaysOffline(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{})
	inside := mediatest.NewHostAt(t, "127.0.0.2")
	ctx := context.Background()
	for _, in := range []string{inside.MediaURL(), "tcp://" + inside.Addr(), "concat:" + inside.MediaURL()} {
		if _, err := c.Probe(ctx, in); err == nil {
			t.Errorf("Probe(%q) succeeded", in)
		}
		if err := c.ConvertForSpeech(ctx, in, filepath.Join(t.TempDir(), "out.ogg")); err == nil {
			t.Errorf("ConvertForSpeech(%q) succeeded", in)
		}
		if _, err := c.SplitAudio(ctx, in, t.TempDir(), 60, recap.Range{}); err == nil {
			t.Errorf("SplitAudio(%q) succeeded", in)
		}
	}
	if n := inside.Conns(); n != 0 {
		t.Fatalf("ffmpeg connected %d times", n)
	}
}

// With an operator's proxy (YTDLP_EXTRA_ARGS --proxy), the egress proxy
// still checks every target and then reaches the checked address through
// the operator's proxy, plain HTTP and CONNECT alike; what the policy
// refuses never reaches the upstream. A second egress proxy plays the
// operator's, so its run counts the bytes that went through it.
func TestEgressUpstream(t *testing.T) {
	t.Parallel()
	upstream := startEgress(t, media.NetPolicy{AllowPrivate: true})
	upRun, err := upstream.Begin(0)
	if err != nil {
		t.Fatal(err)
	}
	defer upRun.End()
	e := startEgress(t, loopbackOnly)
	c, err := media.New(media.Config{Egress: e, ExtraArgs: []string{"--proxy", upRun.ProxyURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	host := mediatest.NewHost(t)
	inside := mediatest.NewHostAt(t, "127.0.0.2")
	tlsHost := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	t.Cleanup(tlsHost.Close)

	get := func(u string) (int, error) {
		run, err := e.Begin(0)
		if err != nil {
			t.Fatal(err)
		}
		defer run.End()
		res, err := proxyClient(t, run.ProxyURL()).Get(u)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	before := upRun.Bytes()
	if code, err := get(host.PageURL()); err != nil || code != 200 {
		t.Fatalf("plain HTTP through the upstream: %d, %v", code, err)
	}
	afterHTTP := upRun.Bytes()
	if afterHTTP <= before {
		t.Fatal("the plain HTTP request did not go through the upstream proxy")
	}
	if code, err := get(tlsHost.URL); err != nil || code != 200 {
		t.Fatalf("CONNECT through the upstream: %d, %v", code, err)
	}
	if upRun.Bytes() <= afterHTTP {
		t.Fatal("the CONNECT tunnel did not go through the upstream proxy")
	}
	if code, _ := get(inside.PageURL()); code != http.StatusForbidden {
		t.Fatalf("a forbidden host through the upstream: %d, want 403", code)
	}
	if _, err := get("https://" + inside.Addr() + "/"); err == nil {
		t.Fatal("CONNECT to a forbidden host succeeded")
	}
	if n := inside.Conns(); n != 0 || upRun.Denied() != "" {
		t.Fatalf("the forbidden host saw %d connections; the upstream was asked for it: %q", n, upRun.Denied())
	}
}
