package media_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// talkDuration is the length of media/sample/talk.webm (scripts/gen-testdata.sh).
const talkDuration = 21.74

type bundle struct {
	host *mediatest.Host
	dir  string
}

func setup(t *testing.T, cfg media.Config) (*media.Client, *bundle) {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if cfg.Egress == nil && cfg.Proxy == "" {
		// Every yt-dlp run of the tests goes through an egress proxy, as in
		// the worker; the loopback test host needs AllowPrivate.
		cfg.Egress = startEgress(t, media.NetPolicy{AllowPrivate: true})
	}
	c, err := media.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	useMode(t, c, defaultMode(t))
	return c, &bundle{host: mediatest.NewHost(t), dir: t.TempDir()}
}

func TestNewMissingBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  media.Config
		want string
	}{
		{media.Config{YtDlpPath: "/nonexistent/yt-dlp"}, "yt-dlp"},
		{media.Config{FFmpegPath: "/nonexistent/ffmpeg"}, "ffmpeg"},
		{media.Config{FFprobePath: "/nonexistent/ffprobe"}, "ffprobe"},
	}
	for _, tt := range tests {
		_, err := media.New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want+" not found") || !strings.Contains(err.Error(), "install") {
			t.Errorf("New(%+v) = %v, want a message naming %s and how to install it", tt.cfg, err, tt.want)
		}
	}
}

// closedPortURL returns a loopback URL nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/video.html"
}

func TestResolve(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	b.host.Serve("/plain.html", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><head><title>nothing</title></head><body>no video here</body></html>")
	}))
	b.host.Serve("/ld.html", jsonLDPage(b.host.MediaURL(), "PT5H"))

	t.Run("page", func(t *testing.T) {
		t.Parallel()
		info, err := c.Resolve(context.Background(), b.host.PageURL())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Title, mediatest.Title) || info.ID == "" || info.Extractor == "" || info.WebpageURL != b.host.PageURL() || info.IsLive {
			t.Errorf("unexpected info: %+v", info)
		}
		if len(info.Subtitles) != 1 || info.Subtitles[0] != (media.SubtitleTrack{Lang: "en", Ext: "vtt", URL: b.host.URL(mediatest.SubtitlePath)}) {
			t.Errorf("subtitles = %+v", info.Subtitles)
		}
		if len(info.AutoCaptions) != 0 {
			t.Errorf("auto captions = %+v", info.AutoCaptions)
		}
	})
	t.Run("direct media", func(t *testing.T) {
		t.Parallel()
		info, err := c.Resolve(context.Background(), b.host.MediaURL())
		if err != nil {
			t.Fatal(err)
		}
		if info.Extractor != "generic" || info.Duration != 0 || len(info.Subtitles) != 0 {
			t.Errorf("unexpected info: %+v", info)
		}
	})
	t.Run("json-ld duration", func(t *testing.T) {
		t.Parallel()
		info, err := c.Resolve(context.Background(), b.host.URL("/ld.html"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Duration != 5*3600 || info.Title != "Long lecture" {
			t.Errorf("unexpected info: %+v", info)
		}
	})

	errTests := []struct {
		name string
		url  string
		want error // nil: a transient (non-sentinel) error
	}{
		{"not found", b.host.URL("/missing.html"), media.ErrUnavailable},
		{"no video", b.host.URL("/plain.html"), media.ErrUnsupported},
		{"connection refused", closedPortURL(t), nil},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Resolve(context.Background(), tt.url)
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Resolve error = %v, want %v", err, tt.want)
			}
			for _, s := range []error{media.ErrUnavailable, media.ErrUnsupported, media.ErrBadURL} {
				if tt.want == nil && errors.Is(err, s) {
					t.Fatalf("transient failure mapped to sentinel: %v", err)
				}
			}
			if !strings.HasPrefix(err.Error(), "resolve: ") {
				t.Errorf("error %q lacks the resolve: prefix", err)
			}
		})
	}
}

func jsonLDPage(mediaURL, duration string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>LD</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"VideoObject","name":"Long lecture",
"description":"d","contentUrl":%q,"duration":%q,"uploadDate":"2024-01-01","thumbnailUrl":"http://127.0.0.1/x.jpg"}</script>
</head><body></body></html>`, mediaURL, duration)
	})
}

const talkSRT = `1
00:00:01,500 --> 00:00:06,968
Welcome to the Recap test video.

2
00:00:08,468 --> 00:00:13,379
<i>First</i>, subtitles are parsed.
`

func TestSubtitles(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	b.host.Serve("/srt.html", mediatest.PageHandler("SRT page", "talk.webm", "talk.en.srt"))
	b.host.Serve("/talk.en.srt", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, talkSRT)
	}))

	t.Run("vtt after resolve fetches the page once", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		host := mediatest.NewHost(t) // own host: other subtests must not add hits
		info, err := c.Resolve(ctx, host.PageURL())
		if err != nil {
			t.Fatal(err)
		}
		segs, track, err := c.Subtitles(ctx, host.PageURL(), info, "")
		if err != nil {
			t.Fatal(err)
		}
		if track.Lang != "en" || track.Ext != "vtt" || track.Auto {
			t.Errorf("track = %+v", track)
		}
		want, err := media.ParseVTT(mustRead(t, filepath.Join(mediatest.SampleDir(), "talk.en.vtt")))
		if err != nil {
			t.Fatal(err)
		}
		assertSegments(t, segs, want)
		if got := host.Hits(mediatest.PagePath); got != 1 {
			t.Errorf("page fetched %d times, want 1 (subtitles must reuse the resolved metadata)", got)
		}
		if got := host.Hits(mediatest.SubtitlePath); got != 1 {
			t.Errorf("subtitle fetched %d times, want 1", got)
		}
	})

	tests := []struct {
		name    string
		url     string
		lang    string
		want    error
		wantExt string
		wantN   int
	}{
		{"srt track, nil info", b.host.URL("/srt.html"), "", nil, "srt", 2},
		{"explicit language", b.host.PageURL(), "en", nil, "vtt", 3},
		{"region subtag matches", b.host.PageURL(), "EN", nil, "vtt", 3},
		{"other language", b.host.PageURL(), "fr", media.ErrNoSubtitles, "", 0},
		{"no track", b.host.NoSubsPageURL(), "", media.ErrNoSubtitles, "", 0},
		{"missing page", b.host.URL("/gone.html"), "", media.ErrUnavailable, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			segs, track, err := c.Subtitles(context.Background(), tt.url, nil, tt.lang)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Subtitles error = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if track.Ext != tt.wantExt || len(segs) != tt.wantN {
				t.Fatalf("track %+v, %d segments %+v", track, len(segs), segs)
			}
			checkSegmentsSane(t, segs)
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDownloadProbeConvert(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	ctx := context.Background()

	var mu sync.Mutex
	var seen []float64
	path, err := c.DownloadAudio(ctx, b.host.PageURL(), nil, b.dir, func(p float64) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, b.dir) {
		t.Errorf("path %s outside %s", path, b.dir)
	}
	mu.Lock()
	if len(seen) == 0 || seen[len(seen)-1] != 100 {
		t.Errorf("progress = %v, want it to end at 100", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Errorf("progress went backwards: %v", seen)
		}
	}
	mu.Unlock()

	d, err := c.Probe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d-talkDuration) > 0.1 {
		t.Errorf("Probe = %.3f, want %.2f", d, talkDuration)
	}

	for _, ext := range []string{".ogg", ".mp3"} {
		t.Run("convert"+ext, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(b.dir, "speech"+ext)
			if err := c.ConvertForSpeech(ctx, path, out); err != nil {
				t.Fatal(err)
			}
			d, err := c.Probe(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(d-talkDuration) > 0.15 {
				t.Errorf("converted duration %.3f, want %.2f", d, talkDuration)
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > 100<<10 {
				t.Errorf("converted file is %d bytes; expected compact speech audio", st.Size())
			}
		})
	}

	t.Run("convert refuses unknown format", func(t *testing.T) {
		t.Parallel()
		if err := c.ConvertForSpeech(ctx, path, filepath.Join(b.dir, "x.exe")); err == nil {
			t.Fatal("ConvertForSpeech accepted .exe output")
		}
	})
	t.Run("probe missing file", func(t *testing.T) {
		t.Parallel()
		if _, err := c.Probe(ctx, filepath.Join(b.dir, "missing.ogg")); err == nil {
			t.Fatal("Probe succeeded on a missing file")
		}
	})
}

func TestDownloadLimits(t *testing.T) {
	t.Parallel()
	media37k := mustRead(t, filepath.Join(mediatest.SampleDir(), "talk.webm"))
	c, b := setup(t, media.Config{MaxFileSize: 16 << 10, MaxDuration: 3600 * 1e9})
	// A stream without Content-Length: yt-dlp's --max-filesize cannot see
	// its size up front, so the byte watch must stop it.
	b.host.Serve("/stream.webm", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/webm")
		fl := w.(http.Flusher)
		for i := 0; i < 4000; i++ { // ~150 MB at most, far beyond the cap
			if _, err := w.Write(media37k); err != nil {
				return
			}
			fl.Flush()
			if r.Context().Err() != nil {
				return
			}
		}
	}))
	b.host.Serve("/long.html", jsonLDPage(b.host.MediaURL(), "PT2H"))

	tests := []struct {
		name string
		url  string
		want error
	}{
		{"content-length over max", b.host.MediaURL(), media.ErrTooLarge},
		{"stream over max", b.host.URL("/stream.webm"), media.ErrTooLarge},
		{"duration over max", b.host.URL("/long.html"), media.ErrMediaTooLong},
		{"missing", b.host.URL("/nothing.html"), media.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := c.DownloadAudio(context.Background(), tt.url, nil, dir, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DownloadAudio error = %v, want %v", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("download dir not cleaned up: %v", entries)
			}
		})
	}
}

func TestDownloadCancel(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	started := make(chan struct{})
	var once sync.Once
	b.host.Serve("/hang.webm", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/webm")
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		once.Do(func() { close(started) })
		<-r.Context().Done() // until yt-dlp is killed and the connection drops
	}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.DownloadAudio(ctx, b.host.URL("/hang.webm"), nil, b.dir, nil)
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("DownloadAudio after cancel = %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(b.dir); len(entries) != 0 {
		t.Errorf("download dir not cleaned up: %v", entries)
	}
}
