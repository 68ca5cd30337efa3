package media_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/recap/recap/media"
)

// TestExtractFrame: a JPEG at each asked moment of a generated video,
// different moments giving different pictures, scaled down but never up;
// an audio-only file and a moment past the end are ErrNoFrame.
func TestExtractFrame(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	video := filepath.Join(t.TempDir(), "clock.mkv")
	// testsrc draws a frame counter, so moments differ.
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=10",
		"-t", "4", "-c:v", "mpeg4", video).CombinedOutput(); err != nil {
		t.Fatalf("make video: %v %s", err, out)
	}
	var frames [][]byte
	for _, at := range []float64{0.5, 3.0} {
		b, err := media.ExtractFrame(ctx, "", video, at, 320)
		if err != nil {
			t.Fatalf("frame at %g: %v", at, err)
		}
		if !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) || !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
			t.Fatalf("frame at %g is not a whole JPEG: % x…", at, b[:min(8, len(b))])
		}
		if w := jpegWidth(b); w != 320 {
			t.Errorf("frame at %g is %d px wide, want 320", at, w)
		}
		frames = append(frames, b)
	}
	if bytes.Equal(frames[0], frames[1]) {
		t.Error("two moments gave the same picture")
	}
	if b, err := media.ExtractFrame(ctx, "", video, 1, 4000); err != nil || jpegWidth(b) != 640 {
		t.Errorf("width 4000 on a 640 px video: %d px, %v (never upscaled)", jpegWidth(b), err)
	}
	if _, err := media.ExtractFrame(ctx, "", video, 60, 320); !errors.Is(err, media.ErrNoFrame) {
		t.Errorf("past the end: %v, want ErrNoFrame", err)
	}
	if _, err := media.ExtractFrame(ctx, "", filepath.Join("sample", "talk.webm"), 2, 320); !errors.Is(err, media.ErrNoFrame) {
		t.Errorf("audio-only file: %v, want ErrNoFrame", err)
	}
}

// jpegWidth reads the width from a JPEG's start-of-frame marker (0 when
// there is none).
func jpegWidth(b []byte) int {
	for i := 2; i+9 < len(b); {
		if b[i] != 0xFF {
			return 0
		}
		m := b[i+1]
		n := int(b[i+2])<<8 | int(b[i+3])
		if m >= 0xC0 && m <= 0xC3 {
			return int(b[i+7])<<8 | int(b[i+8])
		}
		i += 2 + n
	}
	return 0
}
