package media_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// hlsPlaylist is a media playlist whose segments sit on an address the
// policy forbids: one named with ffmpeg's httpproxy:// protocol (which
// dials its host itself and sends CONNECT) and one plain http:// URL.
func hlsPlaylist(method, keyURL, forbidden string) string {
	return fmt.Sprintf(`#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:10
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-KEY:METHOD=%s,URI="%s"
#EXTINF:10.0,
httpproxy://%s/x.ts
#EXTINF:10.0,
http://%s/y.ts
#EXT-X-ENDLIST
`, method, keyURL, forbidden, forbidden)
}

// An HLS stream yt-dlp would hand to ffmpeg (SAMPLE-AES) or download
// itself (AES-128) whose segments point at a forbidden host: the host sees
// no connection at all, whatever protocol the segment names, and the
// download fails permanently at once.
//
// It runs with the client's default isolation (a network namespace when
// the test runs as root on Linux) and with isolation off: the protocol
// allow-lists alone must hold.
func TestHLSSegmentsStayConfined(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		iso    media.Isolation
	}{
		{"SAMPLE-AES", media.IsolationAuto}, {"AES-128", media.IsolationAuto},
		{"SAMPLE-AES", media.IsolationOff}, {"AES-128", media.IsolationOff},
	} {
		method := tc.method
		t.Run(method+"/netns="+tc.iso.String(), func(t *testing.T) {
			t.Parallel()
			e := startEgress(t, loopbackOnly)
			c, b := setup(t, media.Config{Egress: e, Isolation: tc.iso})
			inside := mediatest.NewHostAt(t, "127.0.0.2")
			b.host.Serve("/key", mediatest.BytesHandler("key", "application/octet-stream", []byte("0123456789abcdef"), time.Time{}))
			b.host.Serve("/stream.m3u8", mediatest.BytesHandler("stream.m3u8", "application/vnd.apple.mpegurl",
				[]byte(hlsPlaylist(method, b.host.URL("/key"), inside.Addr())), time.Time{}))
			b.host.Serve("/hls.html", mediatest.PageHandler("HLS talk", "stream.m3u8", ""))

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for _, u := range []string{b.host.URL("/stream.m3u8"), b.host.URL("/hls.html")} {
				_, err := c.DownloadAudio(ctx, u, nil, t.TempDir(), nil)
				if err == nil {
					t.Fatalf("DownloadAudio(%s) succeeded", u)
				}
				if !errors.Is(err, media.ErrURLNotAllowed) && !errors.Is(err, media.ErrUnconfinable) {
					t.Errorf("DownloadAudio(%s) = %v, want a permanent refusal (ErrURLNotAllowed or ErrUnconfinable)", u, err)
				}
				t.Logf("%s: %v", u, err)
			}
			if n := inside.Conns(); n != 0 {
				t.Fatalf("the forbidden host accepted %d connections", n)
			}
		})
	}
}

// A redirect to a scheme yt-dlp must never follow (file://) is a
// permanent refusal at once, not a failure worth retrying.
func TestRedirectToFileScheme(t *testing.T) {
	t.Parallel()
	for _, mode := range extractorModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			c, b := setupMode(t, media.Config{}, mode)
			b.host.Serve("/to-file", http.RedirectHandler("file:///etc/passwd", http.StatusFound))
			ctx := context.Background()
			if _, err := c.Resolve(ctx, b.host.URL("/to-file")); !errors.Is(err, media.ErrURLNotAllowed) {
				t.Errorf("Resolve = %v, want ErrURLNotAllowed", err)
			}
			if _, err := c.DownloadAudio(ctx, b.host.URL("/to-file"), nil, t.TempDir(), nil); !errors.Is(err, media.ErrURLNotAllowed) {
				t.Errorf("DownloadAudio = %v, want ErrURLNotAllowed", err)
			}
		})
	}
}
