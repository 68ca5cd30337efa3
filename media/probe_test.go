package media_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/recap/recap/media"
)

func TestProbeFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	info, err := media.ProbeFile(ctx, "", "sample/talk.webm")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != "audio" || info.Duration < 20 || info.Duration > 23 || info.Format != "matroska,webm" {
		t.Fatalf("talk.webm: %+v", info)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		// A text file named like audio: the name decides nothing.
		"notes.mp3": "These are meeting notes, not a recording.\n",
		// A concat script would make ffmpeg read other local files.
		"list.mp3": "ffconcat version 1.0\nfile /etc/passwd\n",
		// An HLS playlist would make it fetch its segments.
		"play.m4a": "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := media.ProbeFile(ctx, "", p); !errors.Is(err, media.ErrNotMedia) {
			t.Errorf("%s: err = %v, want ErrNotMedia", name, err)
		}
	}
	// A picture is not a video.
	png := filepath.Join(dir, "pic.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", "-f", "image2", "-c:v", "png", png).CombinedOutput(); err != nil {
		t.Fatalf("make png: %v %s", err, out)
	}
	if _, err := media.ProbeFile(ctx, "", png); !errors.Is(err, media.ErrNotMedia) {
		t.Errorf("png: err = %v, want ErrNotMedia", err)
	}
}

func TestFileSubtitles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	out := filepath.Join(dir, "with-subs.mkv")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", "sample/talk.webm", "-i", "sample/talk.en.vtt",
		"-map", "0:a", "-map", "1:s", "-c:a", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng", out).CombinedOutput(); err != nil {
		t.Fatalf("mux: %v %s", err, b)
	}
	info, err := media.ProbeFile(ctx, "", out)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Subtitles) != 1 || info.Subtitles[0].Language != "eng" {
		t.Fatalf("subtitles: %+v", info.Subtitles)
	}
	segs, err := media.FileSubtitles(ctx, "", out, info.Subtitles, "en")
	if err != nil || len(segs) == 0 || segs[0].Text == "" {
		t.Fatalf("segments %v, err %v", segs, err)
	}
	if _, err := media.FileSubtitles(ctx, "", out, info.Subtitles, "de"); !errors.Is(err, media.ErrNoSubtitles) {
		t.Fatalf("german: %v", err)
	}
	d, err := media.MeasureDuration(ctx, "", out)
	if err != nil || d < 20 || d > 23 {
		t.Fatalf("measured %v, %v", d, err)
	}
}
