package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
)

// ErrNoFrame means the media has no picture at the asked moment: it has
// no video stream (a podcast, an audio-only download), or the moment is
// past its end.
var ErrNoFrame = errors.New("no video frame at that moment")

// maxFrameBytes bounds one frame's JPEG, so a hostile file cannot make
// ffmpeg write without end into memory.
const maxFrameBytes = 8 << 20

// ExtractFrame returns a JPEG of the local media file's picture at sec
// seconds, scaled down to at most width pixels wide (0 keeps the size).
// ffmpeg seeks the input (-ss before -i), so only the data around the
// moment is decoded. Only the one local file is read, with MediaFormats'
// demuxers: a playlist disguised as media is ErrNotMedia (see sniff.go).
func ExtractFrame(ctx context.Context, ffmpeg, path string, sec float64, width int) ([]byte, error) {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if math.IsNaN(sec) || sec < 0 {
		sec = 0
	}
	in, err := mediaInput(path)
	if err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	args := append([]string{"-nostdin", "-hide_banner", "-v", "error"}, mediaInputArgs()...)
	args = append(args, "-ss", strconv.FormatFloat(sec, 'f', 3, 64), "-i", in, "-map", "0:v:0?", "-frames:v", "1")
	if width > 0 {
		// Never upscale; keep the height even, as JPEG encoders prefer.
		args = append(args, "-vf", fmt.Sprintf("scale='min(%d,iw)':-2", width))
	}
	args = append(args, "-q:v", "4", "-c:v", "mjpeg", "-f", "image2pipe", "pipe:1")
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout = &limitWriter{w: &out, n: maxFrameBytes}
	cmd.Stderr = &tailWriter{max: 16 << 10, buf: &stderr}
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "does not contain any stream") {
			// "-map 0:v:0?" matched nothing: the file has no picture.
			return nil, fmt.Errorf("frame: %w (no video stream)", ErrNoFrame)
		}
		if ctx.Err() == nil && notMediaLog(stderr.String()) {
			return nil, fmt.Errorf("frame: %w (%s)", ErrNotMedia, lastErrorLine(stderr.String()))
		}
		return nil, fmt.Errorf("frame: ffmpeg: %s: %w", lastErrorLine(stderr.String()), err)
	}
	b := out.Bytes()
	if len(b) >= maxFrameBytes {
		return nil, fmt.Errorf("frame at %.1f s: larger than %d bytes", sec, maxFrameBytes)
	}
	if len(b) < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF {
		return nil, fmt.Errorf("frame at %.1f s: %w", sec, ErrNoFrame)
	}
	return b, nil
}
