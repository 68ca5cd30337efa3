package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

// ErrNotMedia means a file (an upload, or what a URL served) is not audio
// or video Recap can read: ffprobe found no media in it, or it is a
// playlist or manifest (HLS, DASH, ffconcat) that would make ffmpeg read
// other files, which is never opened (see sniff.go).
var ErrNotMedia = errors.New("not audio or video")

// MediaFormats are the demuxers ffmpeg and ffprobe may read a file Recap
// did not make with: an upload, or a download (yt-dlp's direct files, and
// what its native HLS, DASH, Smooth Streaming and HDS downloaders write:
// MPEG-TS, fragmented MP4, WebM, FLV). The list is given to every such
// run as its -format_whitelist. Each of these demuxers reads the one file
// it is given (mov's external data references stay off, ffmpeg's
// default); the ones that open other files — hls, dash, concat,
// image2 sequences, imf — and script or text formats (ffmetadata, sdp,
// tty, subtitles) are not listed, so ffmpeg refuses such a file even when
// its bytes say it is one.
const MediaFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,wav,ogg,flac,aac,avi,flv,mpegts,mpeg,asf,amr,ac3,eac3,caf,aiff,w64,wv,ape"

// UploadFormats are the demuxers an uploaded file may be read with:
// MediaFormats, the same list as a download's.
const UploadFormats = MediaFormats

// textSubtitleCodecs are the subtitle codecs that convert to text.
var textSubtitleCodecs = map[string]bool{"subrip": true, "srt": true, "ass": true, "ssa": true, "webvtt": true, "mov_text": true, "text": true}

// FileInfo is what probing a local file's content found.
type FileInfo struct {
	// Kind is "video" when the file has a moving picture, else "audio".
	Kind string
	// Format is the demuxer's name ("matroska,webm", "mp3", …).
	Format   string
	Duration float64
	// Subtitles are the indexes (among subtitle streams) of text subtitle
	// tracks, with their languages ("" when untagged).
	Subtitles []SubtitleStream
}

// SubtitleStream is a text subtitle track inside a media file.
type SubtitleStream struct {
	Index    int
	Language string
}

type probeOut struct {
	Streams []struct {
		CodecType   string            `json:"codec_type"`
		CodecName   string            `json:"codec_name"`
		Tags        map[string]string `json:"tags"`
		Disposition map[string]int    `json:"disposition"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// ProbeFile decides from its content alone (never its name) whether a
// local file is audio or video: a playlist is refused before ffprobe
// starts (sniffMedia), ffprobe reads it with the MediaFormats demuxers
// only, and it must hold an audio track or a moving picture.
// Anything else wraps ErrNotMedia. ffprobe is its path ("" for PATH).
func ProbeFile(ctx context.Context, ffprobe, path string) (*FileInfo, error) {
	if ffprobe == "" {
		ffprobe = "ffprobe"
	}
	in, err := mediaInput(path)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	cmd := exec.CommandContext(ctx, ffprobe, append(append([]string{"-v", "error"}, mediaInputArgs()...),
		"-show_entries", "format=format_name,duration:stream=codec_type,codec_name:stream_disposition=attached_pic:stream_tags=language",
		"-of", "json", in)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{w: &stdout, n: 1 << 20}, &limitWriter{w: &stderr, n: 64 << 10}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probe: %w", ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("probe: %w (%s)", ErrNotMedia, lastErrorLine(stderr.String()))
		}
		return nil, fmt.Errorf("probe: ffprobe: %w", err)
	}
	var out probeOut
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("probe: ffprobe output: %w", err)
	}
	info := &FileInfo{Format: out.Format.FormatName}
	if d, err := strconv.ParseFloat(out.Format.Duration, 64); err == nil && d > 0 && !math.IsInf(d, 0) && !math.IsNaN(d) {
		info.Duration = d
	}
	audio, video, subs := false, false, 0
	for _, s := range out.Streams {
		switch s.CodecType {
		case "audio":
			audio = true
		case "video":
			// Cover art is a picture, not a video.
			if s.Disposition["attached_pic"] == 0 {
				video = true
			}
		case "subtitle":
			if textSubtitleCodecs[s.CodecName] {
				info.Subtitles = append(info.Subtitles, SubtitleStream{Index: subs, Language: strings.ToLower(s.Tags["language"])})
			}
			subs++
		}
	}
	switch {
	case video:
		info.Kind = "video"
	case audio:
		info.Kind = "audio"
	default:
		return nil, fmt.Errorf("probe: %w (no audio or video track)", ErrNotMedia)
	}
	return info, nil
}

// MeasureDuration counts the duration of a file whose container records
// none (a live-recorded WebM) by demuxing its first track.
func MeasureDuration(ctx context.Context, ffmpeg, path string) (float64, error) {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	in, err := mediaInput(path)
	if err != nil {
		return 0, fmt.Errorf("measure: %w", err)
	}
	cmd := exec.CommandContext(ctx, ffmpeg, append(append([]string{"-nostdin", "-hide_banner"}, mediaInputArgs()...),
		"-i", in, "-map", "0:a:0?", "-map", "0:v:0?", "-c", "copy", "-f", "null", "-")...)
	var stderr bytes.Buffer
	cmd.Stderr = &tailWriter{max: 64 << 10, buf: &stderr}
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("measure: ffmpeg: %s: %w", lastErrorLine(stderr.String()), err)
	}
	d, ok := lastTime(stderr.String())
	if !ok {
		return 0, errors.New("measure: duration unknown")
	}
	return d, nil
}

// FileSubtitles converts a file's text subtitle track to segments: the
// track in lang when there is one (any track when lang is ""), else
// ErrNoSubtitles.
func FileSubtitles(ctx context.Context, ffmpeg, path string, tracks []SubtitleStream, lang string) ([]recap.Segment, error) {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	pick := -1
	for _, t := range tracks {
		if lang == "" || t.Language == lang || strings.HasPrefix(t.Language, lang) || langAlias(t.Language) == lang {
			pick = t.Index
			break
		}
	}
	if pick < 0 {
		return nil, ErrNoSubtitles
	}
	in, err := mediaInput(path)
	if err != nil {
		return nil, fmt.Errorf("subtitles: %w", err)
	}
	cmd := exec.CommandContext(ctx, ffmpeg, append(append([]string{"-nostdin", "-hide_banner", "-v", "error"}, mediaInputArgs()...),
		"-i", in, "-map", "0:s:"+strconv.Itoa(pick), "-f", "webvtt", "pipe:1")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{w: &stdout, n: 32 << 20}, &limitWriter{w: &stderr, n: 64 << 10}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("subtitles: ffmpeg: %s: %w", lastErrorLine(stderr.String()), err)
	}
	segs, err := ParseVTT(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("subtitles: %w", err)
	}
	if len(segs) == 0 {
		return nil, ErrNoSubtitles
	}
	return DedupeCaptions(segs), nil
}

// langAlias maps the ISO 639-2 codes containers use to ISO 639-1.
func langAlias(l string) string {
	switch l {
	case "eng":
		return "en"
	case "zho", "chi":
		return "zh"
	case "jpn":
		return "ja"
	case "kor":
		return "ko"
	case "fra", "fre":
		return "fr"
	case "deu", "ger":
		return "de"
	case "spa":
		return "es"
	case "rus":
		return "ru"
	case "por":
		return "pt"
	case "ita":
		return "it"
	}
	return l
}

// limitWriter keeps the first n bytes written and discards the rest.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// tailWriter keeps about the last max bytes written (ffmpeg's progress
// lines: the last time= is what counts).
type tailWriter struct {
	max int
	buf *bytes.Buffer
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		keep := append([]byte(nil), t.buf.Bytes()[t.buf.Len()-t.max:]...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
	return len(p), nil
}
