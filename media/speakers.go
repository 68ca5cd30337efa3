package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/recap/recap"
)

// KnownSpeakers are reference clips of speakers, sent with a diarized
// transcription so the service labels them by these names
// (known_speaker_names[] and known_speaker_references[]): chunks of one
// recording then share their speakers' labels.
type KnownSpeakers struct {
	Names []string
	// References are data: URLs of 2 to 10 seconds of each speaker.
	References []string
}

// Limits OpenAI sets on known speakers.
const (
	maxKnownSpeakers = 4
	minReference     = 2.0
	maxReference     = 10.0
)

type knownSpeakersKey struct{}

// WithKnownSpeakers returns ctx carrying speakers for the diarized
// transcriptions made under it; other formats ignore them.
func WithKnownSpeakers(ctx context.Context, ks KnownSpeakers) context.Context {
	if len(ks.Names) == 0 {
		return ctx
	}
	return context.WithValue(ctx, knownSpeakersKey{}, ks)
}

// Diarizes reports whether the transcriber asks for speakers.
func (t *Transcriber) Diarizes() bool { return t.format == STTDiarizedJSON }

// SpeakerReferences cuts a reference clip for each of the first four
// speakers of segs (relative to the audio file at path) from that
// speaker's longest segment: at most 10 seconds of it; a speaker whose
// segments are all shorter than 2 seconds gets none. The clips are
// Ogg/Opus data: URLs, a few kilobytes each.
func (t *Transcriber) SpeakerReferences(ctx context.Context, path string, segs []recap.Segment) (KnownSpeakers, error) {
	var order []string
	best := map[string]recap.Segment{}
	for _, s := range segs {
		if s.Speaker == "" {
			continue
		}
		b, seen := best[s.Speaker]
		if !seen {
			if len(order) == maxKnownSpeakers {
				continue
			}
			order = append(order, s.Speaker)
		}
		if !seen || s.End-s.Start > b.End-b.Start {
			best[s.Speaker] = s
		}
	}
	in, err := mediaInput(path)
	if err != nil {
		return KnownSpeakers{}, fmt.Errorf("speaker references: %w", err)
	}
	var ks KnownSpeakers
	for _, name := range order {
		s := best[name]
		if s.End-s.Start < minReference {
			continue
		}
		length := min(s.End-s.Start, maxReference)
		args := append([]string{"-nostdin", "-hide_banner", "-v", "error"}, mediaInputArgs()...)
		args = append(args, "-ss", strconv.FormatFloat(s.Start, 'f', 3, 64), "-t", strconv.FormatFloat(length, 'f', 3, 64), "-i", in,
			"-vn", "-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1")
		cmd := exec.CommandContext(ctx, t.ffmpeg, args...)
		var out, stderr bytes.Buffer
		cmd.Stdout = &limitWriter{w: &out, n: 1 << 20}
		cmd.Stderr = &tailWriter{max: 16 << 10, buf: &stderr}
		if err := cmd.Run(); err != nil {
			return KnownSpeakers{}, fmt.Errorf("speaker references: ffmpeg: %s: %w", lastErrorLine(stderr.String()), err)
		}
		ks.Names = append(ks.Names, name)
		ks.References = append(ks.References, "data:audio/ogg;base64,"+base64.StdEncoding.EncodeToString(out.Bytes()))
	}
	return ks, nil
}
