package mediatest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// VideoClip generates a 30-second video with a picture (ffmpeg's testsrc:
// colour bars and a counter) and a tone, small enough to make in a test,
// and returns its path. The sample talk has no picture; frames need one.
func VideoClip(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.webm")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "30", "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make video: %v %s", err, b)
	}
	return out
}

// VideoClipVTT subtitles VideoClip: one cue every 6 s.
func VideoClipVTT() []byte {
	var b strings.Builder
	b.WriteString("WEBVTT\n\n")
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "00:00:%02d.000 --> 00:00:%02d.000\nScene %d shows the colour bars and counter number %d.\n\n", 6*i+2, 6*i+6, i+1, i+1)
	}
	return []byte(b.String())
}
