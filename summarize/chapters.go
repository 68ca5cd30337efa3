package summarize

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

// chapterLine matches "- [start – end] title" with any dash and with or
// without brackets, the forms models produce when asked for the first.
var chapterLine = regexp.MustCompile(`^\s*(?:[-*+]|\d+\.)?\s*\[?\s*(\d{1,2}(?::\d{1,2}){1,2})\s*(?:–|—|-|~|to)\s*(\d{1,2}(?::\d{1,2}){1,2})\s*\]?\s*[:\-–—]?\s*(.*)$`)

// ParseClock reads "mm:ss" or "h:mm:ss" (or a bare "ss") into seconds; the
// seconds may have a fraction ("12:34.5"), and a part after the first is
// below 60. The one clock syntax: timestamps models write, chapter lines
// and exports, and a request's start and end.
func ParseClock(s string) (float64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || s == "" {
		return 0, false
	}
	total := 0.0
	for i, p := range parts {
		last := i == len(parts)-1
		if p == "" || !digitsOnly(p, last) {
			return 0, false
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, false
		}
		if i > 0 && v >= 60 {
			return 0, false
		}
		total = total*60 + v
	}
	return total, true
}

// digitsOnly accepts decimal digits, and one fractional part when frac.
func digitsOnly(s string, frac bool) bool {
	dot := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && frac && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return true
}

// section returns the lines of the markdown section whose heading contains
// name (case-insensitive), plus the byte range of its body in md.
func section(md, name string) (body string, start, end int, ok bool) {
	lines := strings.SplitAfter(md, "\n")
	pos := 0
	start = -1
	for _, ln := range lines {
		t := strings.TrimSpace(ln)
		if strings.HasPrefix(t, "#") {
			if start >= 0 {
				return md[start:pos], start, pos, true
			}
			if strings.Contains(strings.ToLower(t), strings.ToLower(name)) {
				start = pos + len(ln)
			}
		}
		pos += len(ln)
	}
	if start >= 0 {
		return md[start:], start, len(md), true
	}
	return "", 0, 0, false
}

// parseChapters reads the "Chapters" section of a model's markdown.
func parseChapters(md string) []recap.Chapter {
	body, _, _, ok := section(md, "chapters")
	if !ok {
		return nil
	}
	var out []recap.Chapter
	for ln := range strings.SplitSeq(body, "\n") {
		m := chapterLine.FindStringSubmatch(ln)
		if m == nil {
			continue
		}
		a, ok1 := ParseClock(m[1])
		b, ok2 := ParseClock(m[2])
		if !ok1 || !ok2 {
			continue
		}
		title := strings.TrimSpace(strings.Trim(strings.TrimSpace(m[3]), "*_"))
		if title == "" {
			title = "Untitled"
		}
		out = append(out, recap.Chapter{Start: a, End: b, Title: title})
	}
	return out
}

// TidyChapters makes chapters contiguous from start to duration: sorted
// by start, each one ending where the next begins, the first starting at
// start (0 for a whole video) and the last ending at duration (when
// known). Chapters that start at the same moment as the previous one, or
// past the end (but the first), are dropped: they cannot be given a
// positive length. Models often stop at the last highlight or leave gaps;
// a chapter list is only useful to a player if it is complete. The one
// rule for chapters, used for a summary's own and for the chapter
// exports. It returns nil for no chapters.
func TidyChapters(in []recap.Chapter, start, duration float64) []recap.Chapter {
	if len(in) == 0 {
		return nil
	}
	if start < 0 || (duration > 0 && start >= duration) {
		start = 0
	}
	ch := slices.Clone(in)
	for i := range ch {
		ch[i].Start = max(ch[i].Start, start) // a part's summary begins at its start
	}
	slices.SortStableFunc(ch, func(a, b recap.Chapter) int { return cmp.Compare(a.Start, b.Start) })
	kept := ch[:0]
	for _, c := range ch {
		if len(kept) > 0 && c.Start <= kept[len(kept)-1].Start {
			continue
		}
		if duration > 0 && c.Start >= duration && len(kept) > 0 {
			continue
		}
		kept = append(kept, c)
	}
	ch = kept
	ch[0].Start = start
	for i := 0; i+1 < len(ch); i++ {
		ch[i].End = ch[i+1].Start
	}
	last := &ch[len(ch)-1]
	if duration > 0 {
		last.End = duration
	} else if last.End < last.Start {
		last.End = last.Start
	}
	return ch
}

// repairChapters is TidyChapters reporting whether anything changed.
func repairChapters(in []recap.Chapter, start, duration float64) ([]recap.Chapter, bool) {
	ch := TidyChapters(in, start, duration)
	return ch, len(in) > 0 && !slices.Equal(ch, in)
}

// renderChapters writes chapters the way the prompts ask models to.
func renderChapters(ch []recap.Chapter) string {
	var b strings.Builder
	for _, c := range ch {
		b.WriteString("- [" + recap.Clock(c.Start) + " – " + recap.Clock(c.End) + "] " + c.Title + "\n")
	}
	return b.String()
}

// replaceChapters swaps the body of the Chapters section for ch.
func replaceChapters(md string, ch []recap.Chapter) string {
	_, start, end, ok := section(md, "chapters")
	if !ok {
		return md
	}
	tail := md[end:]
	sep := ""
	if tail != "" {
		sep = "\n"
	}
	return md[:start] + renderChapters(ch) + sep + tail
}
