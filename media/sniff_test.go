package media_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// TestPlaylistsNeverOpened: a downloaded or uploaded "media" file that is
// really an HLS playlist, a DASH manifest or an ffconcat list naming a
// local file (absolute or relative, behind an ID3 tag or not) is
// ErrNotMedia at every ffmpeg and ffprobe entry point, and the local file
// it names (the canary) is never opened by anything.
func TestPlaylistsNeverOpened(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{})
	canary := mediatest.NewCanary(t, "")
	tr := media.NewTranscriber(media.TranscriberConfig{BaseURL: "http://127.0.0.1:1/v1", Model: "whisper-1"})
	ctx := context.Background()
	for _, d := range canary.Disguises("../..") {
		t.Run(d.Name, func(t *testing.T) {
			// The file sits two levels below the canary's directory, as a
			// download sits under a job's temporary directory.
			dir := filepath.Join(canary.Dir, "job-"+d.Name, "audio")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "audio.mp4")
			if err := os.WriteFile(path, d.Body, 0o644); err != nil {
				t.Fatal(err)
			}
			calls := map[string]func() error{
				"Probe": func() error { _, err := c.Probe(ctx, path); return err },
				"SplitAudio": func() error {
					_, err := c.SplitAudio(ctx, path, t.TempDir(), 0, recap.Range{})
					return err
				},
				"ConvertForSpeech": func() error { return c.ConvertForSpeech(ctx, path, filepath.Join(t.TempDir(), "out.ogg")) },
				"Frame":            func() error { _, err := c.Frame(ctx, path, 1); return err },
				"ExtractFrame":     func() error { _, err := media.ExtractFrame(ctx, "", path, 5, 0); return err },
				"ProbeFile":        func() error { _, err := media.ProbeFile(ctx, "", path); return err },
				"MeasureDuration":  func() error { _, err := media.MeasureDuration(ctx, "", path); return err },
				"FileSubtitles": func() error {
					_, err := media.FileSubtitles(ctx, "", path, []media.SubtitleStream{{Index: 0}}, "")
					return err
				},
				"SpeakerReferences": func() error {
					_, err := tr.SpeakerReferences(ctx, path, []recap.Segment{{Start: 0, End: 5, Speaker: "A"}})
					return err
				},
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, media.ErrNotMedia) {
					t.Errorf("%s: %v, want ErrNotMedia", name, err)
				}
			}
		})
	}
	canary.CheckUnread(t)
}

// TestDownloadedPlaylistRefused: a URL answering video/mp4 (or audio/mpeg)
// with a playlist that names a local file is downloaded as one file by
// yt-dlp, then refused as ErrNotMedia before ffmpeg opens it, for audio
// and for frames; the canary it names is never opened. A real HLS
// playlist (application/vnd.apple.mpegurl) whose segments are file://
// URLs is refused by yt-dlp itself, which fetches no file:// URL.
func TestDownloadedPlaylistRefused(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	canary := mediatest.NewCanary(t, "")
	ctx := context.Background()
	// DownloadAudio writes dir/audio-*/audio.mp4: the canary is "..".
	for _, d := range canary.Disguises("..") {
		if d.Name != "hls-absolute" && d.Name != "dash-relative" && d.Name != "id3-hls" {
			continue // the rest differ only in what ffmpeg would do (TestPlaylistsNeverOpened)
		}
		t.Run(d.Name, func(t *testing.T) {
			b.host.Serve("/"+d.Name+".mp4", mediatest.BytesHandler(d.Name+".mp4", d.ContentType, d.Body, time.Unix(0, 0)))
			url := b.host.URL("/" + d.Name + ".mp4")
			if _, err := c.DownloadAudio(ctx, url, nil, canary.Dir, nil); !errors.Is(err, media.ErrNotMedia) {
				t.Errorf("DownloadAudio: %v, want ErrNotMedia", err)
			}
			if _, err := c.DownloadVideo(ctx, url, nil, canary.Dir); !errors.Is(err, media.ErrNotMedia) {
				t.Errorf("DownloadVideo: %v, want ErrNotMedia", err)
			}
		})
	}
	t.Run("real hls with file segments", func(t *testing.T) {
		for _, d := range canary.Disguises("..") {
			if d.Name == "hls-absolute" {
				b.host.Serve("/live.m3u8", mediatest.BytesHandler("live.m3u8", "application/vnd.apple.mpegurl", d.Body, time.Unix(0, 0)))
			}
		}
		_, err := c.DownloadAudio(ctx, b.host.URL("/live.m3u8"), nil, canary.Dir, nil)
		if err == nil {
			t.Fatal("a playlist of file:// segments was downloaded")
		}
		if strings.Contains(err.Error(), "13.37") {
			t.Errorf("the error shows the canary's length: %v", err)
		}
	})
	canary.CheckUnread(t)
}
