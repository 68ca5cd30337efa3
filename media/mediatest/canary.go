package mediatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// CanarySeconds is the length of a Canary's media, distinctive enough to
// recognize wherever it would surface (a job's duration, a transcript).
const CanarySeconds = 13.37

// Canary is real media in a directory of its own that no test means to
// read — the local file a hostile "video" (an HLS playlist or DASH
// manifest served as video/mp4) would name — whose every opening, by any
// process and through any path, is seen (inotify on Linux; elsewhere
// NewCanary skips the test).
type Canary struct {
	// Dir holds the canary files, TS and MP4 the two copies: MPEG-TS (an
	// HLS segment) and MP4 (a DASH representation), each CanarySeconds
	// long, a 523 Hz tone over ffmpeg's test picture.
	Dir, TS, MP4 string

	fd       int
	sentinel string
	mu       sync.Mutex
	seen     []string
}

var (
	canaryOnce sync.Once
	canaryDir  string
	canaryErr  error
)

// canarySource makes the canary media once per test binary.
func canarySource() (string, error) {
	canaryOnce.Do(func() {
		canaryDir, canaryErr = os.MkdirTemp("", "recap-canary-src-")
		if canaryErr != nil {
			return
		}
		for _, name := range []string{"canary.ts", "canary.mp4"} {
			vcodec := "mpeg2video"
			if filepath.Ext(name) == ".mp4" {
				vcodec = "mpeg4"
			}
			out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y",
				"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=523:duration=%g", CanarySeconds),
				"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=160x120:rate=10:duration=%g", CanarySeconds),
				"-c:v", vcodec, "-c:a", "aac", "-shortest", filepath.Join(canaryDir, name)).CombinedOutput()
			if err != nil {
				canaryErr = fmt.Errorf("make %s: %v %s", name, err, out)
				return
			}
		}
	})
	return canaryDir, canaryErr
}

// NewCanary places the canary files in dir (a new temporary directory
// when dir is "") and starts watching them. Files created in dir later are
// not the canary; only canary.ts and canary.mp4 count.
func NewCanary(t testing.TB, dir string) *Canary {
	t.Helper()
	src, err := canarySource()
	if err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	c := &Canary{Dir: dir, TS: filepath.Join(dir, "canary.ts"), MP4: filepath.Join(dir, "canary.mp4")}
	for _, p := range []string{c.TS, c.MP4} {
		b, err := os.ReadFile(filepath.Join(src, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.sentinel = ".canary-sentinel"
	if err := os.WriteFile(filepath.Join(dir, c.sentinel), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.fd = watchOpens(t, dir)
	return c
}

// Opened returns the canary files opened since NewCanary, by any process.
// It needs no waiting: it opens a sentinel file in the same directory and
// reads the watch's events in order up to the sentinel's, so every
// opening that happened before the call is counted.
func (c *Canary) Opened(t testing.TB) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	touchOpen(t, filepath.Join(c.Dir, c.sentinel))
	for _, name := range opensUntil(t, c.fd, c.sentinel) {
		if (name == filepath.Base(c.TS) || name == filepath.Base(c.MP4)) && !slices.Contains(c.seen, name) {
			c.seen = append(c.seen, name)
		}
	}
	return slices.Clone(c.seen)
}

// CheckUnread fails the test if a canary file was ever opened.
func (c *Canary) CheckUnread(t testing.TB) {
	t.Helper()
	if opened := c.Opened(t); len(opened) > 0 {
		t.Errorf("the canary was read: %v opened (a playlist's local file reached ffmpeg)", opened)
	}
}

// Disguise is a file that claims to be media but names the canary: what a
// hostile URL serves.
type Disguise struct {
	// Name says what it is ("hls-absolute", …).
	Name string
	// ContentType is what the URL answers with (video/mp4, audio/mpeg).
	ContentType string
	Body        []byte
}

// Disguises are every form of playlist that would make ffmpeg read the
// canary: HLS and DASH naming it by an absolute file:// URL and by a path
// relative to the downloaded file (rel is the canary's directory as seen
// from the download's, e.g. "../.."), an ffconcat list, and an HLS
// playlist behind an ID3 tag (ffmpeg's prober skips the tag).
func (c *Canary) Disguises(rel string) []Disguise {
	hls := func(seg string) []byte {
		return fmt.Appendf(nil, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:14\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:%g,\n%s\n#EXT-X-ENDLIST\n",
			CanarySeconds, seg)
	}
	dash := func(base string) []byte {
		return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" mediaPresentationDuration="PT%gS" minBufferTime="PT1S">
 <Period>
  <AdaptationSet mimeType="video/mp4">
   <Representation id="1" bandwidth="100000" width="160" height="120">
    <BaseURL>%s</BaseURL>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
`, CanarySeconds, base)
	}
	// An ID3v2.4 tag with 10 bytes of padding.
	id3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x0a"), make([]byte, 10)...)
	return []Disguise{
		{"hls-absolute", "video/mp4", hls("file://" + c.TS)},
		{"hls-relative", "video/mp4", hls(rel + "/" + filepath.Base(c.TS))},
		{"dash-absolute", "video/mp4", dash("file://" + c.MP4)},
		{"dash-relative", "video/mp4", dash(rel + "/" + filepath.Base(c.MP4))},
		{"ffconcat", "video/mp4", fmt.Appendf(nil, "ffconcat version 1.0\nfile %s/%s\nduration %g\n", rel, filepath.Base(c.TS), CanarySeconds)},
		{"id3-hls", "audio/mpeg", append(id3, hls("file://"+c.TS)...)},
	}
}
