package summarizetest

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// errNotOgg reports that a file is not an Ogg Opus or Ogg Vorbis stream.
var errNotOgg = errors.New("not an Ogg Opus/Vorbis stream")

// oggDuration reads the duration of an Ogg Opus or Ogg Vorbis stream from
// its page headers: the last page's granule position counts samples (48 kHz
// for Opus, minus the pre-skip; the stream's own rate for Vorbis). This is
// how the fake measures uploads without spawning ffprobe for each one: on a
// 2-core machine that process start-up (~130 ms) would otherwise be charged
// to the client being measured.
func oggDuration(b []byte) (float64, error) {
	const hdr = 27
	var (
		rate    float64
		preSkip int64
		last    int64 = -1
		first         = true
	)
	for off := 0; off+hdr <= len(b); {
		if !bytes.Equal(b[off:off+4], []byte("OggS")) {
			return 0, errNotOgg
		}
		nsegs := int(b[off+26])
		if off+hdr+nsegs > len(b) {
			return 0, errNotOgg
		}
		size := 0
		for _, s := range b[off+hdr : off+hdr+nsegs] {
			size += int(s)
		}
		body := off + hdr + nsegs
		if body+size > len(b) {
			return 0, errNotOgg
		}
		if first {
			p := b[body : body+size]
			switch {
			case len(p) >= 19 && bytes.HasPrefix(p, []byte("OpusHead")):
				rate = 48000
				preSkip = int64(binary.LittleEndian.Uint16(p[10:12]))
			case len(p) >= 16 && bytes.HasPrefix(p, []byte("\x01vorbis")):
				rate = float64(binary.LittleEndian.Uint32(p[12:16]))
			default:
				return 0, errNotOgg
			}
			first = false
		}
		if g := int64(binary.LittleEndian.Uint64(b[off+6 : off+14])); g >= 0 {
			last = g
		}
		off = body + size
	}
	if rate <= 0 || last < 0 {
		return 0, errNotOgg
	}
	d := float64(last-preSkip) / rate
	if d <= 0 {
		return 0, errNotOgg
	}
	return d, nil
}
