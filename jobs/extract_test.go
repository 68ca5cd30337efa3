package jobs_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
)

// countingYtDlp writes a yt-dlp wrapper that records each run in a file
// and execs the real yt-dlp; it returns the wrapper's path and a counter.
func countingYtDlp(t *testing.T) (string, func() int) {
	t.Helper()
	real, err := exec.LookPath("yt-dlp")
	if err != nil {
		t.Skip("yt-dlp not installed")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "yt-dlp")
	body := "#!/bin/sh\necho run >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() int {
		data, _ := os.ReadFile(log)
		return bytes.Count(data, []byte("run\n"))
	}
}

// TestOneExtractionPerVideo counts yt-dlp processes per uncached video:
// the resolve's info JSON is kept with the video, so the subtitle step
// fetches the track's URL through the egress guard (no yt-dlp) or hands
// the JSON back to yt-dlp (no second page extraction), and the audio step
// downloads with it.
func TestOneExtractionPerVideo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		egress bool
		page   func(b *bundle) string
		source string
		runs   int
	}{
		{"subtitles through the egress guard", true, func(b *bundle) string { return b.host.PageURL() }, "subtitles", 1},
		{"subtitles through yt-dlp", false, func(b *bundle) string { return b.host.PageURL() }, "subtitles", 2},
		{"no subtitles: resolve and audio", true, func(b *bundle) string { return b.host.NoSubsPageURL() }, "speech_to_text", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bin, runs := countingYtDlp(t)
			w, b := setup(t, func(c *jobs.WorkerConfig) {
				mc := media.Config{TempDir: t.TempDir(), YtDlpPath: bin}
				if tt.egress {
					e, err := media.StartEgress(media.EgressConfig{Policy: media.NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { e.Close() })
					mc.Egress = e
				}
				m, err := media.New(mc)
				if err != nil {
					t.Fatal(err)
				}
				c.Media = m
			})
			j := b.newJob(t, tt.page(b))
			for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript} {
				if err := run(w, j.ID, typ); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
			}
			j = mustJob(t, b.store, j.ID)
			if j.TranscriptID == nil {
				t.Fatalf("no transcript: %s %s", j.ErrorCode, j.ErrorMessage)
			}
			tr, err := b.store.Transcript(context.Background(), *j.TranscriptID)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Source != tt.source {
				t.Fatalf("source %s, want %s", tr.Source, tt.source)
			}
			if n := runs(); n != tt.runs {
				t.Fatalf("%d yt-dlp runs for one uncached video, want %d", n, tt.runs)
			}
			v, err := b.store.Video(context.Background(), j.VideoKey)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.RawInfo) == 0 {
				t.Fatal("the video row lost yt-dlp's info JSON")
			}
			if j.State == recap.StateFailed {
				t.Fatalf("job failed: %s", j.ErrorMessage)
			}
		})
	}
}
