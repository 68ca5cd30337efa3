package summarizetest

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOggDurationMatchesFFprobe checks the page-header reader against
// ffprobe on files ffmpeg encodes, and that other formats are refused.
func TestOggDurationMatchesFFprobe(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, codec string
		seconds     string
		ogg         bool
	}{
		{"a.ogg", "libopus", "12.5", true},
		{"b.opus", "libopus", "0.7", true},
		{"c.ogg", "libvorbis", "3.25", true},
		{"d.wav", "pcm_s16le", "2", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration="+c.seconds,
				"-ac", "1", "-ar", "16000", "-c:a", c.codec, path).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := oggDuration(b)
			if !c.ogg {
				if err == nil {
					t.Fatalf("oggDuration(%s) = %v, want an error", c.name, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := probeDuration(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 0.03 {
				t.Fatalf("oggDuration = %.3f, ffprobe = %.3f", got, want)
			}
		})
	}
	if _, err := oggDuration([]byte("OggS")); err == nil {
		t.Fatal("truncated page accepted")
	}
}
