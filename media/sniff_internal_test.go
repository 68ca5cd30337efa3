package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap/media/mediatest"
)

// TestFormatAllowList: the canary works (ffprobe with only the old
// protocol allow-list follows a disguised playlist to it and reports its
// length), and the format allow-list alone, with the sniffing skipped,
// makes ffprobe refuse every disguise without opening the canary.
func TestFormatAllowList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	write := func(t *testing.T, dir string, d mediatest.Disguise) string {
		t.Helper()
		sub := filepath.Join(dir, "a", d.Name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "audio.mp4")
		if err := os.WriteFile(p, d.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	probe := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, "ffprobe", append([]string{"-v", "error"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	t.Run("control", func(t *testing.T) {
		t.Parallel()
		canary := mediatest.NewCanary(t, "")
		for _, d := range canary.Disguises("../..") {
			if d.Name != "hls-relative" {
				continue
			}
			in, _ := localInput(write(t, canary.Dir, d))
			out, stderr, err := probe("-protocol_whitelist", "file", "-show_entries", "format=duration", "-of", "csv=p=0", in)
			if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "13.37") {
				t.Fatalf("without the format allow-list: %q %s %v; want the canary's length", out, stderr, err)
			}
		}
		if opened := canary.Opened(t); len(opened) != 1 || opened[0] != "canary.ts" {
			t.Fatalf("canary opened %v, want [canary.ts]", opened)
		}
	})

	t.Run("allow-list alone", func(t *testing.T) {
		t.Parallel()
		canary := mediatest.NewCanary(t, "")
		for _, d := range canary.Disguises("../..") {
			in, _ := localInput(write(t, canary.Dir, d))
			out, stderr, err := probe(append(mediaInputArgs(), "-show_entries", "format=duration", "-of", "csv=p=0", in)...)
			if err == nil || !notMediaLog(stderr) {
				t.Errorf("%s: %q %q %v; want ffprobe to refuse it", d.Name, out, stderr, err)
			}
		}
		canary.CheckUnread(t)
	})
}

// TestPlaylistKind: the sniffing names playlists and manifests however
// they open, and passes real media, including binary headers whose bytes
// happen to read as "<" or "#" once zeros are skipped.
func TestPlaylistKind(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		head string
		want string // a word of the kind, "" for media
	}{
		{"#EXTM3U\n#EXTINF:1,\na.ts\n", "HLS"},
		{"\xEF\xBB\xBF  \r\n#extm3u\n", "HLS"},
		{"#EXT-X-VERSION:3\n", "HLS"},
		{"ffconcat version 1.0\nfile a.ts\n", "ffconcat"},
		{"<?xml version=\"1.0\"?><MPD>", "XML"},
		{"\n\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\">", "XML"},
		{"<html><body>", "XML"},
		{"some text first\n<mpd profiles=\"urn:mpeg:dash:profile:isoff-live:2011\">", "DASH"},
		{"\x00\x00\x00\x3Cftypisom\x00\x00\x02\x00isomiso2avc1mp41<MPD", ""}, // an MP4 box of 60 bytes
		{"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", ""},
		{"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01", ""},
		{"OggS\x00\x02\x00\x00", ""},
		{"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb", ""},
		{"\x47\x40\x11\x10\x00\x42\xF0", ""},
		{"#!AMR\n\x3c", ""},
		{"fLaC\x00\x00\x00\x22", ""},
	} {
		got := playlistKind([]byte(tt.head))
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("playlistKind(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

// TestSniffSkipsID3: ffmpeg's prober skips a leading ID3v2 tag before it
// recognizes a format, so the sniffing looks past it (and past several).
func TestSniffSkipsID3(t *testing.T) {
	t.Parallel()
	tag := func(body int, footer bool) []byte {
		flags := byte(0)
		if footer {
			flags = 0x10
		}
		b := []byte{'I', 'D', '3', 4, 0, flags, byte(body >> 21 & 0x7f), byte(body >> 14 & 0x7f), byte(body >> 7 & 0x7f), byte(body & 0x7f)}
		b = append(b, make([]byte, body)...)
		if footer {
			b = append(b, []byte("3DI\x04\x00\x10\x00\x00\x00\x00")...)
		}
		return b
	}
	dir := t.TempDir()
	for i, body := range [][]byte{
		append(tag(10, false), "#EXTM3U\n"...),
		append(append(tag(300<<10, true), tag(5, false)...), "#EXTM3U\n"...),
	} {
		p := filepath.Join(dir, "f"+string(rune('0'+i)))
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := sniffMedia(p); err == nil || !strings.Contains(err.Error(), "HLS") {
			t.Errorf("file %d: %v, want an HLS playlist refused", i, err)
		}
	}
}
