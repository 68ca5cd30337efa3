package media

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// What ffmpeg may read.
//
// A file Recap did not make (an upload, or whatever a URL served) is
// opened by ffmpeg and ffprobe, and ffmpeg decides what a file is from its
// bytes, not its name. Some of its demuxers are playlists that open other
// files: an HLS playlist (#EXTM3U), a DASH manifest (<MPD>) or an ffconcat
// list served as "video/mp4" would make ffmpeg read local files the
// playlist names (file:///…, ../../…) and hand their sound to
// speech-to-text and their pictures to frames. -protocol_whitelist file
// does not stop that: those are files. So every run on such a file has
// two guards:
//
//  1. sniffMedia reads the file's first bytes (past an ID3 tag, which
//     ffmpeg's prober skips too) and refuses a playlist, manifest or
//     markup before ffmpeg starts, as ErrNotMedia.
//  2. ffmpeg and ffprobe get -format_whitelist MediaFormats: only
//     container demuxers that read the one file they are given, so a
//     playlist the sniffing missed is refused by ffmpeg itself ("Format
//     not on whitelist"), also ErrNotMedia (notMediaLog).

// sniffBytes is how much of a file sniffMedia looks at: ffmpeg's first
// probe reads 2 KiB, and a DASH manifest is recognized anywhere in it.
const sniffBytes = 4 << 10

// maxID3Skip bounds how far past leading ID3v2 tags sniffMedia seeks.
const maxID3Skip = 64 << 20

// playlistMarks are the openings, after a byte-order mark and white space,
// of text formats whose ffmpeg demuxers open other files or URLs: HLS,
// ffconcat, and any XML or markup (DASH MPD, Smooth Streaming and HDS
// manifests, IMF compositions, SMIL, an HTML page). No audio or video
// container begins with any of them.
var playlistMarks = []struct{ mark, what string }{
	{"#EXTM3U", "an HLS playlist"},
	{"#EXT-X-", "an HLS playlist"},
	{"ffconcat", "an ffconcat list"},
	{"<", "an XML or HTML document (a DASH or other streaming manifest, or a web page)"},
}

// sniffMedia refuses, as ErrNotMedia, a file whose first bytes are a
// playlist or manifest ffmpeg would follow to other files, before ffmpeg
// ever opens it. It does not decide the file is media; ffprobe does that.
func sniffMedia(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head, err := sniffHead(f)
	if err != nil {
		return err
	}
	if what := playlistKind(head); what != "" {
		return fmt.Errorf("%w: the file is %s, not audio or video", ErrNotMedia, what)
	}
	return nil
}

// sniffHead returns the file's first sniffBytes after any ID3v2 tags.
func sniffHead(f *os.File) ([]byte, error) {
	var off int64
	buf := make([]byte, sniffBytes)
	for {
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return nil, err
		}
		head := buf[:n]
		size, ok := id3Size(head)
		if !ok || off+size > maxID3Skip {
			return head, nil
		}
		off += size
	}
}

// id3Size is the length of the ID3v2 tag b starts with, header and footer
// included (as ffmpeg's ff_id3v2_tag_len counts it).
func id3Size(b []byte) (int64, bool) {
	if len(b) < 10 || string(b[:3]) != "ID3" || b[3] == 0xff || b[4] == 0xff ||
		b[6]&0x80 != 0 || b[7]&0x80 != 0 || b[8]&0x80 != 0 || b[9]&0x80 != 0 {
		return 0, false
	}
	n := int64(b[6])<<21 | int64(b[7])<<14 | int64(b[8])<<7 | int64(b[9])
	n += 10
	if b[5]&0x10 != 0 {
		n += 10 // footer
	}
	return n, true
}

// playlistKind names the playlist or manifest head begins with ("" for
// none): after a UTF-8 byte-order mark and white space, one of
// playlistMarks; or "<MPD" before the first NUL byte, where ffmpeg's DASH
// prober looks for it (anywhere in its probe buffer, read as a C string).
func playlistKind(head []byte) string {
	text := bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	text = bytes.TrimLeft(text, " \t\r\n\f\v")
	for _, m := range playlistMarks {
		if len(text) >= len(m.mark) && strings.EqualFold(string(text[:len(m.mark)]), m.mark) {
			return m.what
		}
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		head = head[:i]
	}
	if bytes.Contains(bytes.ToLower(head), []byte("<mpd")) {
		return "a DASH manifest"
	}
	return ""
}

// mediaInput names a local file Recap did not make for ffmpeg or ffprobe
// (localInput), after sniffMedia has found no playlist in it.
func mediaInput(path string) (string, error) {
	if err := sniffMedia(path); err != nil {
		return "", err
	}
	return localInput(path)
}

// mediaInputArgs are the input options of every ffmpeg and ffprobe run on
// a file Recap did not make: local files only, read with MediaFormats'
// demuxers only.
func mediaInputArgs() []string {
	return []string{"-protocol_whitelist", ffmpegInputWhitelist, "-format_whitelist", MediaFormats}
}

// notMediaLog reports whether ffmpeg's or ffprobe's log says the input is
// no media it may read: a demuxer outside MediaFormats, or no demuxer at
// all. Such a file is ErrNotMedia, which no retry changes.
func notMediaLog(stderr string) bool {
	return strings.Contains(stderr, "not on whitelist") || strings.Contains(stderr, "Invalid data found when processing input")
}
