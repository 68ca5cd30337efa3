package media

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

var (
	tagRE    = regexp.MustCompile(`<[^>\n]*>`)
	assTagRE = regexp.MustCompile(`\{\\[^}\n]*\}`)
)

// ParseVTT parses a WebVTT file into segments in file order. It skips the
// header, NOTE, STYLE and REGION blocks and cue identifiers, ignores cue
// settings, strips inline tags (<c>, <v Speaker>, <00:00:01.000>, <b>…),
// decodes character references, and drops cues with no text. Hours are
// optional in timestamps. The file must start with "WEBVTT".
func ParseVTT(data []byte) ([]recap.Segment, error) {
	lines := splitLines(data)
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i == len(lines) {
		return nil, nil
	}
	if !strings.HasPrefix(lines[i], "WEBVTT") {
		return nil, errors.New("parse vtt: missing WEBVTT header")
	}
	return parseCues(lines[i:], true), nil
}

// ParseSRT parses a SubRip file into segments in file order, stripping
// <i>/<b>/<font> and {\an8}-style tags. It fails only when the input holds
// text but not a single cue.
func ParseSRT(data []byte) ([]recap.Segment, error) {
	lines := splitLines(data)
	segs := parseCues(lines, false)
	if len(segs) == 0 && len(bytes.TrimSpace(data)) > 0 && !hasTiming(lines) {
		return nil, errors.New("parse srt: no cues")
	}
	return segs, nil
}

func hasTiming(lines []string) bool {
	for _, l := range lines {
		if _, _, ok := parseTiming(l); ok {
			return true
		}
	}
	return false
}

func splitLines(data []byte) []string {
	s := string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\x00", "\ufffd")
	return strings.Split(s, "\n")
}

// cue is one timed block of a subtitle file.
type cue struct {
	start, end float64
	// lines are the cue's text lines, cleaned, empty ones left out.
	lines []string
	// wordTimed is whether the cue carried inline timestamps
	// (<00:00:01.200>), as automatic captions time each word.
	wordTimed bool
}

// inlineTimeRE matches a WebVTT inline timestamp tag.
var inlineTimeRE = regexp.MustCompile(`<(?:\d+:)?\d{2}:\d{2}\.\d{3}>`)

// parseCues walks blank-line separated blocks; a block is a cue when one of
// its lines is a timing line, and the text is every line after it.
func parseCues(lines []string, vtt bool) []recap.Segment {
	return joinCues(parseCueBlocks(lines, vtt))
}

// joinCues makes one segment per cue, its lines joined by spaces.
func joinCues(cues []cue) []recap.Segment {
	segs := make([]recap.Segment, 0, len(cues))
	for _, c := range cues {
		segs = append(segs, recap.Segment{Start: c.start, End: c.end, Text: strings.Join(c.lines, " ")})
	}
	return segs
}

func parseCueBlocks(lines []string, vtt bool) []cue {
	// WebVTT ends a block only at an empty line: YouTube's automatic
	// captions put a line holding one space inside cues.
	blank := func(l string) bool { return strings.TrimSpace(l) == "" }
	if vtt {
		blank = func(l string) bool { return l == "" }
	}
	var cues []cue
	for i := 0; i < len(lines); {
		for i < len(lines) && blank(lines[i]) {
			i++
		}
		start := i
		for i < len(lines) && !blank(lines[i]) {
			i++
		}
		block := lines[start:i]
		if len(block) == 0 {
			continue
		}
		if vtt {
			first := block[0]
			if strings.HasPrefix(first, "WEBVTT") || isVTTBlock(first, "NOTE") || isVTTBlock(first, "STYLE") || isVTTBlock(first, "REGION") {
				if !strings.Contains(first, "-->") {
					continue
				}
			}
		}
		t := -1
		var s, e float64
		for j, l := range block {
			if a, b, ok := parseTiming(l); ok {
				t, s, e = j, a, b
				break
			}
		}
		if t < 0 {
			continue
		}
		c := cue{start: s, end: max(s, e)}
		for _, l := range block[t+1:] {
			if vtt && !c.wordTimed && inlineTimeRE.MatchString(l) {
				c.wordTimed = true
			}
			if l = cleanLine(l, vtt); l != "" {
				c.lines = append(c.lines, l)
			}
		}
		if len(c.lines) == 0 {
			continue
		}
		cues = append(cues, c)
	}
	return cues
}

func isVTTBlock(line, kw string) bool {
	return line == kw || strings.HasPrefix(line, kw+" ") || strings.HasPrefix(line, kw+"\t")
}

func cleanLine(l string, vtt bool) string {
	l = tagRE.ReplaceAllString(l, "")
	l = assTagRE.ReplaceAllString(l, "")
	if vtt {
		l = html.UnescapeString(l)
	}
	l = strings.Map(func(r rune) rune {
		switch r {
		case '\u00a0', '\t':
			return ' '
		case '\u200e', '\u200f', '\ufeff':
			return -1
		}
		return r
	}, l)
	return strings.Join(strings.Fields(l), " ")
}

// parseTiming parses "start --> end [settings]".
func parseTiming(line string) (float64, float64, bool) {
	a, b, ok := strings.Cut(line, "-->")
	if !ok {
		return 0, 0, false
	}
	b = strings.TrimSpace(b)
	if f := strings.Fields(b); len(f) > 0 {
		b = f[0]
	} else {
		return 0, 0, false
	}
	s, ok1 := parseTimestamp(strings.TrimSpace(a))
	e, ok2 := parseTimestamp(b)
	return s, e, ok1 && ok2
}

// parseTimestamp parses [hh:]mm:ss[.,]fff with lenient field widths.
func parseTimestamp(ts string) (float64, bool) {
	ts = strings.Replace(ts, ",", ".", 1)
	main, frac, hasFrac := strings.Cut(ts, ".")
	fields := strings.Split(main, ":")
	if len(fields) < 2 || len(fields) > 3 {
		return 0, false
	}
	var total float64
	for i, f := range fields {
		v, ok := parseDigits(f, 9)
		if !ok {
			return 0, false
		}
		if i > 0 && v >= 60 {
			return 0, false
		}
		total = total*60 + float64(v)
	}
	if hasFrac {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		v, ok := parseDigits(frac, 9)
		if !ok {
			return 0, false
		}
		total += float64(v) / math.Pow10(len(frac))
	}
	return total, true
}

func parseDigits(s string, max int) (int64, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// DedupeCaptions removes the rolling repetition of automatic captions
// (YouTube shows each line twice: first as it is spoken, then again above
// the next line, plus 10 ms "snapshot" cues). For each cue, the longest run
// of leading words that repeats the end of the previous cue is dropped, and
// cues left with nothing new are removed. Manual subtitles should not go
// through it: a genuine "no, no" split across cues would lose a word.
func DedupeCaptions(segs []recap.Segment) []recap.Segment {
	out := make([]recap.Segment, 0, len(segs))
	var prev []string
	for _, s := range segs {
		words := strings.Fields(s.Text)
		k := overlap(prev, words)
		prev = words
		if k == len(words) {
			continue
		}
		s.Text = strings.Join(words[k:], " ")
		out = append(out, s)
	}
	return out
}

// overlap returns the largest k such that the last k words of a equal the
// first k words of b.
func overlap(a, b []string) int {
	n := min(len(a), len(b))
	for k := n; k > 0; k-- {
		if equalWords(a[len(a)-k:], b[:k]) {
			return k
		}
	}
	return 0
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ParseSubtitles parses a subtitle file, WebVTT or SubRip by its content
// (ext decides only when the content does not), and removes the
// repetition of rolling captions when its cues have their shape, whatever
// the track claims to be: YouTube serves rolling automatic captions under
// "subtitles" too, and a page's <track> says nothing. rolling reports
// whether it did.
func ParseSubtitles(ext string, data []byte) (segs []recap.Segment, rolling bool, err error) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	isVTT := bytes.HasPrefix(trimmed, []byte("WEBVTT"))
	if !isVTT && ext != "srt" && ext != "vtt" {
		return nil, false, fmt.Errorf("parse subtitles: unsupported format %q", ext)
	}
	lines := splitLines(data)
	cues := parseCueBlocks(lines, isVTT)
	if !isVTT && len(cues) == 0 && len(bytes.TrimSpace(data)) > 0 && !hasTiming(lines) {
		return nil, false, errors.New("parse srt: no cues")
	}
	if rollingShape(cues) {
		return dedupeRolling(cues), true, nil
	}
	return joinCues(cues), false, nil
}

// rollingShape reports whether cues look like rolling captions: as a
// line is spoken it appears at the bottom, then scrolls up and is shown
// again above the next one, so most cues begin with the line the cue
// before ended with, or with that line grown or slid on (YouTube adds a
// 10 ms "snapshot" cue of the finished line in between, and times each
// word inline). Subtitles written by
// people almost never repeat a line in the next cue.
func rollingShape(cues []cue) bool {
	if len(cues) < 4 {
		return false
	}
	repeats, timed, snapshots := 0, 0, 0
	for i, c := range cues {
		if c.wordTimed {
			timed++
		}
		if c.end-c.start <= 0.05 {
			snapshots++
		}
		if i > 0 {
			prev := cues[i-1].lines
			if continues(prev[len(prev)-1], c.lines[0]) {
				repeats++
			}
		}
	}
	pairs, n := len(cues)-1, len(cues)
	return 2*repeats >= pairs || (4*repeats >= pairs && (5*timed >= n || 5*snapshots >= n))
}

// continues reports whether a cue's first line carries on the line the
// cue before ended with: the same line scrolled up, the line grown by
// more words, or slid on by some (two or more words shared).
func continues(prev, first string) bool {
	if first == prev {
		return true
	}
	p, f := strings.Fields(prev), strings.Fields(first)
	if len(p) > 0 && len(f) > len(p) && equalWords(p, f[:len(p)]) {
		return true
	}
	return overlap(p, f) >= 2
}

// rollingWindow is how many of the last kept lines a rolling cue's lines
// are compared with: the lines a cue can still show from before.
const rollingWindow = 3

// dedupeRolling keeps each line of rolling captions once, at the cue that
// first showed it: a line equal to one of the last few kept is the
// scrolled-up copy, and the words a line repeats from the end of the one
// before it (captions that grow or slide word by word) are dropped; for a
// line shown below another, only when that is the whole previous line or
// at least two words.
func dedupeRolling(cues []cue) []recap.Segment {
	var out []recap.Segment
	var recent []string
	var last []string // words of the last kept line
	for _, c := range cues {
		var fresh []string
	lines:
		for i, l := range c.lines {
			for _, r := range recent {
				if l == r {
					continue lines
				}
			}
			words := strings.Fields(l)
			k := overlap(last, words)
			if i > 0 && k < 2 && k < len(last) {
				// Below a scrolled-up line, a new line that shares one
				// word with it by chance ("...said that" / "that is") is
				// speech. A cue's first line replaces what was shown: a
				// word it shares with that was shown already.
				k = 0
			}
			recent = append(recent, l)
			if len(recent) > rollingWindow {
				recent = recent[1:]
			}
			last = words
			if k < len(words) {
				fresh = append(fresh, words[k:]...)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		out = append(out, recap.Segment{Start: c.start, End: c.end, Text: strings.Join(fresh, " ")})
	}
	return out
}

// parseSubtitleFile is ParseSubtitles for Subtitles.
func parseSubtitleFile(ext string, data []byte) ([]recap.Segment, bool, error) {
	return ParseSubtitles(ext, data)
}
