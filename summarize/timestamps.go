package summarize

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

// Timestamp shapes. Models asked for "[mm:ss]" write many other shapes;
// every one below is rewritten to Recap's canonical form before grounding,
// so the stored summary, the web page's links, the chapter exports,
// frames and highlights all read one syntax. The shapes were gathered
// from real answers (GPT-4o/4.1, DeepSeek, Qwen, GLM, Gemini, Claude,
// Llama) and from the parsers other summarizers wrote for them:
//
//	enclosed    **00:18**  (00:18)  【00:18】  ［00:18］  （00:18）  〔00:18〕  `00:18`
//	            [0:18]  [00:00:18]  [00:18.5]  [00:00:18,500]  [ 00:18 ]
//	            [00:18](https://…&t=18)   (the link target is dropped:
//	            the web page links timestamps itself)
//	labelled    ⏱ 00:18  🕒 00:18  Timestamp: 00:18  **Time:** 00:18  时间：00:18
//	            at 1:02:03 / around 1:02:03   (h:mm:ss only; see below)
//	leading     00:18 - …  00:18 – …  00:18 — …  00:18: …  1. 00:18: …  - 00:18 …
//	            00:00:18 Intro   (a line or list item that begins with one)
//	cells       | 00:18 | …      (a markdown table cell holding only one)
//	Chinese     【00分18秒】  - 1小时02分03秒：…   (enclosed or leading only)
//
// Ranges, in any of these shapes and with any of the separators - – — ~
// ～ → -> --> to 至 到, keep both ends and become "[mm:ss – mm:ss]" (an
// en dash between spaces): the form chapter lines are asked for, which
// the chapter parser, TidyChapters and the web page read. A range is a
// span, not a moment, so grounding checks only that it starts within the
// transcript (see Grounder.Line); it is never a highlight.
//
// A bare "mm:ss" in prose is left alone: "16:9", "a 3:2 win", "at 10:30"
// (a time of day as often as a moment). Only its shape makes a clock a
// timestamp: brackets, emphasis, a label, the start of a line, or "at"
// before three fields (h:mm:ss), which no one writes for a time of day.
// Any shape followed by am/pm is a time of day and left alone.

// clk is one clock: [h:]mm:ss with an optional fraction (".5", or
// SRT-style ",500"), or the Chinese 1小时02分03秒 / 00分18秒.
const clk = `(?:\d{1,3}:\d{2}(?::\d{2})?(?:\.\d{1,3}|,\d{3})?|(?:\d{1,2}(?:小时|时))?\d{1,2}分\d{1,2}(?:\.\d{1,3})?秒)`

// sep separates the ends of a range.
const sep = `\s*(?:-{1,2}>|–|—|-|~|～|→|\bto\b|至|到)\s*`

// labelWord names a timestamp.
const labelWord = `(?:timestamps?|time\s?codes?|time|时间戳|时间点|时间)`

// span is a moment or a range: groups a (start) and b (end, optional).
const span = `(` + clk + `)(?:` + sep + `(` + clk + `))?`

var (
	// enclosedRE is a span between delimiters; the pair is checked in
	// code. A markdown link's target may follow a bracketed one.
	enclosedRE = regexp.MustCompile(`(\*\*|__|` + "`" + `|\[|\(|（|【|［|〔)(\s*)` + span + `(\s*)(\*\*|__|` + "`" + `|\]|\)|）|】|］|〕)(\([^()\s]*\))?`)
	// labelRE is a span after a label that says it is one: a word label
	// ("Timestamp:", "Time:", "时间：") that begins a line or list item
	// or is bold, or a clock emoji. The label goes; a list marker
	// (group 1) stays. "Running time: 12:34" is prose and left alone.
	labelRE = regexp.MustCompile(`(?i)(?:^(\s*(?:(?:[-*+]|\d{1,3}[.)])\s+)?)(?:\*\*|__)?` + labelWord + `\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?|(?:\*\*|__)` + labelWord + `\s*[:：]?\s*(?:\*\*|__)\s*[:：]?|[⏱⏲⏰⌚\x{1F550}-\x{1F567}]\x{FE0F}?)\s*(?:` + span + `|(\[\d{1,2}:\d{2}(?::\d{2})?(?: – \d{1,2}:\d{2}(?::\d{2})?)?\]))`)
	// atRE is "at 1:02:03": the word stays.
	atRE = regexp.MustCompile(`(?i)\b(at|around)\s+(\d{1,2}:\d{2}:\d{2}(?:\.\d{1,3})?)\b`)
	// leadLineRE is a line (or list item) that begins with a bare span.
	leadLineRE = regexp.MustCompile(`^(\s*(?:(?:[-*+]|\d{1,3}[.)])\s+)?)` + span + `(\s*[-–—:：|]|\s|$)`)
	// meridiemRE follows a time of day.
	meridiemRE = regexp.MustCompile(`^\s*(?i:a\.?m\b\.?|p\.?m\b\.?|o'clock)`)
	// stampRE matches a canonical moment or range: group 1 the start,
	// group 2 the end of a range.
	stampRE = regexp.MustCompile(`\[(\d{1,2}:\d{2}(?::\d{2})?)(?: – (\d{1,2}:\d{2}(?::\d{2})?))?\]`)
	// zhClockRE reads the Chinese clock.
	zhClockRE = regexp.MustCompile(`^(?:(\d{1,2})(?:小时|时))?(\d{1,2})分(\d{1,2}(?:\.\d{1,3})?)秒$`)
)

// closer pairs each opening delimiter with its closing one.
var closer = map[string]string{"**": "**", "__": "__", "`": "`", "[": "]", "(": ")", "（": "）", "【": "】", "［": "］", "〔": "〕"}

// parseStamp reads one clock of any shape above into seconds.
func parseStamp(s string) (float64, bool) {
	if m := zhClockRE.FindStringSubmatch(s); m != nil {
		h, _ := strconv.Atoi(cmpOr(m[1], "0"))
		mm, _ := strconv.Atoi(m[2])
		ss, err := strconv.ParseFloat(m[3], 64)
		if err != nil || mm >= 60 && m[1] != "" || ss >= 60 {
			return 0, false
		}
		return float64(h*3600+mm*60) + ss, true
	}
	return ParseClock(strings.Replace(s, ",", ".", 1))
}

// canonSpan renders a moment, or a range when b is not empty, in the
// canonical form; ok is false when a clock does not parse.
func canonSpan(a, b string) (string, bool) {
	x, ok := parseStamp(a)
	if !ok {
		return "", false
	}
	if b == "" {
		return FormatTimestamp(x), true
	}
	y, ok := parseStamp(b)
	if !ok {
		return "", false
	}
	return "[" + recap.Clock(x) + " – " + recap.Clock(y) + "]", true
}

// CanonicalTimestamps rewrites every timestamp of md, in any shape a
// model writes (see the list above), to Recap's canonical "[mm:ss]" /
// "[h:mm:ss]", and every range to "[mm:ss – mm:ss]" (both ends kept).
// Fractions are floored to the second, as FormatTimestamp does; text that
// is not a timestamp is left as it was. It is idempotent.
func CanonicalTimestamps(md string) string {
	lines := strings.Split(md, "\n")
	for i, ln := range lines {
		lines[i] = canonicalLine(ln)
	}
	return strings.Join(lines, "\n")
}

// canonicalLine is CanonicalTimestamps for one line.
func canonicalLine(line string) string {
	if !strings.ContainsAny(line, ":分") {
		return line
	}
	line = replaceSpans(line, enclosedRE, func(s string, m []int) (string, bool) {
		open, close := s[m[2]:m[3]], s[m[12]:m[13]]
		if closer[open] != close {
			return "", false
		}
		if (open == "**" || open == "__" || open == "`") && (m[5] > m[4] || m[11] > m[10]) {
			return "", false // emphasis and code spans hug their text
		}
		if m[14] >= 0 && open != "[" {
			return "", false // "(00:18)(x)" is not a link
		}
		if meridiemRE.MatchString(s[m[1]:]) {
			return "", false
		}
		return canonSpan(sub(s, m, 3), sub(s, m, 4))
	})
	line = replaceSpans(line, labelRE, func(s string, m []int) (string, bool) {
		keep := sub(s, m, 1)
		if m[8] >= 0 {
			return keep + s[m[8]:m[9]], true // already canonical: only the label goes
		}
		if meridiemRE.MatchString(s[m[1]:]) {
			return "", false
		}
		c, ok := canonSpan(sub(s, m, 2), sub(s, m, 3))
		return keep + c, ok
	})
	line = replaceSpans(line, atRE, func(s string, m []int) (string, bool) {
		if meridiemRE.MatchString(s[m[1]:]) {
			return "", false
		}
		c, ok := canonSpan(sub(s, m, 2), "")
		return s[m[2]:m[3]] + " " + c, ok
	})
	if m := leadLineRE.FindStringSubmatchIndex(line); m != nil && !meridiemRE.MatchString(line[m[8]:]) {
		if c, ok := canonSpan(sub(line, m, 2), sub(line, m, 3)); ok {
			line = line[:m[3]] + c + line[m[8]:]
		}
	}
	if strings.HasPrefix(strings.TrimSpace(line), "|") {
		line = canonicalCells(line)
	}
	return line
}

// cellRE is a table cell that holds a bare span and nothing else.
var cellRE = regexp.MustCompile(`^(\s*)` + span + `(\s*)$`)

// canonicalCells rewrites the table cells of line that hold only a span.
func canonicalCells(line string) string {
	cells := strings.Split(line, "|")
	for i, c := range cells {
		if m := cellRE.FindStringSubmatchIndex(c); m != nil {
			if s, ok := canonSpan(sub(c, m, 2), sub(c, m, 3)); ok {
				cells[i] = c[:m[3]] + s + c[m[8]:]
			}
		}
	}
	return strings.Join(cells, "|")
}

// sub is submatch n of the match m in s ("" when it did not take part).
func sub(s string, m []int, n int) string {
	if m[2*n] < 0 {
		return ""
	}
	return s[m[2*n]:m[2*n+1]]
}

// replaceSpans replaces each match of re in s by what f returns for it;
// f's ok false leaves the match as written.
func replaceSpans(s string, re *regexp.Regexp, f func(s string, m []int) (string, bool)) string {
	locs := re.FindAllStringSubmatchIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, m := range locs {
		b.WriteString(s[prev:m[0]])
		if r, ok := f(s, m); ok {
			b.WriteString(r)
		} else {
			b.WriteString(s[m[0]:m[1]])
		}
		prev = m[1]
	}
	b.WriteString(s[prev:])
	return b.String()
}
