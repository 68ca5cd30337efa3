package summarize

import (
	"regexp"
	"strings"
)

// The summary markdown grammar, as the rest of Recap reads it back: this
// package writes summaries (prompts, CanonicalTimestamps, grounding), so
// it is the one owner of how their lines are read (headings, list items,
// a leading moment or range, the sections by name). core's outline,
// chapters and mind maps and jobs' frames use these functions.
var (
	headingLine = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	bulletLine  = regexp.MustCompile(`^\s*(?:[-*+]|\d+[.)])\s+(.*)$`)
	// stampPrefix is an item's leading moment or range in any shape a
	// model writes it ("[00:18]", "**00:18**", "00:18 - 00:45:", "1:02:03 to 1:05:00").
	stampPrefix = regexp.MustCompile(`^\**\[?\s*(\d{1,2}(?::\d{1,2}){1,2})\s*(?:(?:–|—|-|~|to)\s*(\d{1,2}(?::\d{1,2}){1,2})\s*)?\]?\**\s*[:\-–—]?\s*(.*)$`)
)

// Section names, in the languages the prompts use, as headings hold them.
var (
	chapterNames   = []string{"chapter", "章节", "目录"}
	highlightNames = []string{"highlight", "要点", "亮点", "重点"}
	overviewNames  = []string{"overview", "summary", "概述", "摘要", "总结"}
)

// Heading reads a markdown heading line ("## Highlights ##"): its text,
// and ok false for any other line.
func Heading(line string) (string, bool) {
	m := headingLine.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[2], true
}

// Bullet reads a list item ("- …", "* …", "+ …", "1. …", "1) …"): its
// text after the marker, trimmed; ok false for any other line.
func Bullet(line string) (string, bool) {
	m := bulletLine.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// Item is what a list item's text begins with.
type Item struct {
	// Stamped: the text begins with a moment or a range.
	Stamped bool
	// Valid: the moment reads as a clock (ParseClock); Start is it and End
	// the range's end (0 for a moment, or an end that does not read).
	Valid      bool
	Start, End float64
	// Text is what follows the moment or range (Stamped only).
	Text string
}

// ReadItem reads the leading moment or range of a list item's text (as
// Bullet returns it).
func ReadItem(text string) Item {
	m := stampPrefix.FindStringSubmatch(text)
	if m == nil {
		return Item{}
	}
	it := Item{Stamped: true, Text: m[3]}
	it.Start, it.Valid = ParseClock(m[1])
	if it.Valid {
		it.End, _ = ParseClock(m[2])
	}
	return it
}

// HighlightText is a summary line's text after its list marker and
// leading [timestamp], as a grounded highlight's Text holds it; ok is
// false for a line without a leading bracketed stamp (an overview quoting
// the same words).
func HighlightText(line string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	if len(t) > 1 && strings.ContainsRune("-*+", rune(t[0])) && t[1] == ' ' {
		t = t[2:]
	} else if i := strings.IndexAny(t, ".)"); i > 0 && i < 4 && strings.Trim(t[:i], "0123456789") == "" && len(t) > i+1 && t[i+1] == ' ' {
		t = t[i+2:]
	}
	t = strings.TrimLeft(t, " *_")
	if !strings.HasPrefix(t, "[") {
		return "", false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return "", false
	}
	t = strings.TrimLeft(t[end+1:], " *_:-–—")
	return strings.TrimSpace(t), true
}

// IsChaptersHeading reports whether a heading names the chapter list.
func IsChaptersHeading(title string) bool { return headingIs(title, chapterNames) }

// IsHighlightsHeading reports whether a heading names the highlights.
func IsHighlightsHeading(title string) bool { return headingIs(title, highlightNames) }

// IsOverviewHeading reports whether a heading names the overview.
func IsOverviewHeading(title string) bool { return headingIs(title, overviewNames) }

func headingIs(title string, names []string) bool {
	t := strings.ToLower(title)
	for _, n := range names {
		if strings.Contains(t, n) {
			return true
		}
	}
	return false
}
