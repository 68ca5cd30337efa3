package core

import (
	"fmt"
	"strings"

	"github.com/recap/recap"
)

// vttCue is one cue of a WebVTT file: its times and its text (escaped by
// writeVTT), optionally numbered and voiced.
type vttCue struct {
	ID         string // "" for none
	Start, End float64
	Voice      string // a speaker: <v Voice>, "" for none
	Text       string
}

// writeVTT is the one WebVTT writer (transcripts and chapters): the
// header, then each cue with its text escaped the way WebVTT cue text
// needs (&, <, > as character references, so "-->" or a tag in a title
// cannot end or restyle a cue) and without blank lines (which would end
// the cue early).
func writeVTT(b *strings.Builder, cues []vttCue) {
	b.WriteString("WEBVTT\n\n")
	for _, c := range cues {
		if c.ID != "" {
			b.WriteString(c.ID + "\n")
		}
		text := vttEscape(c.Text)
		if v := speakerName(c.Voice); v != "" {
			// WebVTT's voice span: players show or style the speaker.
			text = "<v " + v + ">" + text
		}
		fmt.Fprintf(b, "%s --> %s\n%s\n\n", recap.ClockMillis(c.Start, "."), recap.ClockMillis(c.End, "."), text)
	}
}

// vttEscape escapes the characters WebVTT cue text reserves and drops
// blank lines.
func vttEscape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
