package summarize

import (
	"bytes"
	"cmp"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/recap/recap"
)

// Grounding of a model's answer: every timestamp it wrote, in whatever
// shape (see CanonicalTimestamps), is first rewritten to "[mm:ss]" /
// "[h:mm:ss]", then checked against the transcript. A timestamp within
// GroundTolerance of a segment's span stands; one that is not is moved to
// the transcript moment that best supports the words around it (lexical
// overlap, IDF-weighted, CJK by character bigrams). One that nothing
// supports is taken out: a highlight line (one that begins with it) goes
// with it, while in prose (an overview, a paragraph, an answer) only the
// timestamp goes and its words stay. So the markdown never shows a moment
// that is not in the transcript, however the model erred, and grounding
// never empties an answer's prose.

// GroundTolerance is how far, in seconds, a written timestamp may lie
// outside a segment's span and still count as that segment's moment
// (timestamps are written floored to the second, and models round).
const GroundTolerance = 2.0

// timestampRE matches one canonical moment; ranges ("[00:00 – 05:00]",
// chapter lines and part headings) do not match.
var timestampRE = regexp.MustCompile(`\[(\d{1,2}:\d{2}(?::\d{2})?)\]`)

// leadRE is a line that begins with a canonical moment or range, after an
// optional bullet or number and emphasis: a highlight (a moment) or a
// chapter-like line (a range).
var leadRE = regexp.MustCompile(`^\s*(?:[-*+]|\d+[.)])?\s*(?:\*\*|__)?\s*\[(\d{1,2}:\d{2}(?::\d{2})?)(?: – \d{1,2}:\d{2}(?::\d{2})?)?\](?:\*\*|__)?\s*[:：|\-–—]?\s*`)

// Supporting-moment thresholds: a moment supports a line when it holds at
// least minCoverage of the line's IDF-weighted content words, and at least
// two of them (one when the line has only one).
const (
	minCoverage = 0.3
	// maxWindowSegs and windowTokens bound the run of consecutive
	// segments scored as one moment: subtitle cues are often a few words,
	// while a summary line condenses a sentence spread over several.
	maxWindowSegs = 4
	windowTokens  = 12
	maxWindowSpan = 30.0
	// maxQueryTerms caps the words of one line that are scored (the
	// rarest are kept); a line longer than that is a paragraph.
	maxQueryTerms = 64
)

// Grounder checks timestamps against one transcript. Build it once per
// answer; it is safe for concurrent use.
type Grounder struct {
	segs   []recap.Segment
	maxEnd []float64 // maxEnd[i] = max End of segs[:i+1]

	once   sync.Once
	tokens [][]string         // content words per segment
	post   map[string][]int   // word → segments holding it, ascending
	idf    map[string]float64 // over segments
	maxIDF float64            // idf of a word no segment has
}

// NewGrounder indexes segs (in any order; empty ones are ignored).
func NewGrounder(segs []recap.Segment) *Grounder {
	s := cleanSegments(segs)
	g := &Grounder{segs: s, maxEnd: make([]float64, len(s))}
	m := math.Inf(-1)
	for i, x := range s {
		m = math.Max(m, x.End)
		g.maxEnd[i] = m
	}
	return g
}

// Empty reports whether there is no transcript to ground against.
func (g *Grounder) Empty() bool { return len(g.segs) == 0 }

func (g *Grounder) index() {
	g.once.Do(func() {
		g.tokens = make([][]string, len(g.segs))
		g.post = map[string][]int{}
		for i, s := range g.segs {
			toks := dedupe(tokenize(s.Text))
			g.tokens[i] = toks
			for _, t := range toks {
				g.post[t] = append(g.post[t], i)
			}
		}
		n := float64(len(g.segs))
		g.idf = make(map[string]float64, len(g.post))
		for t, p := range g.post {
			g.idf[t] = math.Log(1 + n/float64(len(p)))
		}
		g.maxIDF = math.Log(1 + n)
	})
}

func dedupe(ts []string) []string {
	seen := make(map[string]bool, len(ts))
	out := ts[:0:0]
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// matching returns the indexes of the segments whose span, widened by
// GroundTolerance, holds t.
func (g *Grounder) matching(t float64) []int {
	// Segments are sorted by start; those starting after t+tol cannot hold t.
	hi, _ := slices.BinarySearchFunc(g.segs, t+GroundTolerance, func(s recap.Segment, v float64) int {
		if s.Start <= v {
			return -1
		}
		return 1
	})
	var out []int
	for i := hi - 1; i >= 0 && g.maxEnd[i]+GroundTolerance >= t; i-- {
		if g.segs[i].End+GroundTolerance >= t {
			out = append(out, i)
		}
	}
	slices.Reverse(out)
	return out
}

// support is a run of segments that backs a line.
type support struct {
	first, last int // segment range holding matched words
	score       float64
}

// query is a line's content words with their weights.
type query struct {
	terms []string
	w     []float64
	total float64
}

func (g *Grounder) queryOf(text string) query {
	g.index()
	terms := dedupe(tokenize(text))
	q := query{}
	type tw struct {
		t string
		w float64
	}
	ws := make([]tw, 0, len(terms))
	for _, t := range terms {
		w, ok := g.idf[t]
		if !ok {
			w = g.maxIDF
		}
		// A word in most of a long transcript's segments tells no moment
		// from another, and scoring its postings would cost the most.
		if len(g.segs) >= 20 && len(g.post[t])*2 > len(g.segs) {
			continue
		}
		ws = append(ws, tw{t, w})
	}
	if len(ws) > maxQueryTerms {
		slices.SortStableFunc(ws, func(a, b tw) int { return cmp.Compare(b.w, a.w) })
		ws = ws[:maxQueryTerms]
	}
	for _, x := range ws {
		q.terms = append(q.terms, x.t)
		q.w = append(q.w, x.w)
		q.total += x.w
	}
	return q
}

// best finds the run of segments that best supports q. With only (not
// nil), runs must start at one of those segments; near breaks ties
// between equal scores (the moment closest to what the model wrote).
// ok is false when no run reaches the support thresholds.
func (g *Grounder) best(q query, only []int, near float64) (support, bool) {
	if len(q.terms) == 0 || q.total == 0 {
		return support{}, false
	}
	hits := map[int]uint64{}
	for k, t := range q.terms {
		for _, i := range g.post[t] {
			hits[i] |= 1 << uint(k)
		}
	}
	if len(hits) == 0 {
		return support{}, false
	}
	var starts []int
	if only != nil {
		starts = only
	} else {
		seen := map[int]bool{}
		for i := range hits {
			// A run that holds segment i may start up to maxWindowSegs-1 earlier.
			for s := max(0, i-maxWindowSegs+1); s <= i; s++ {
				if !seen[s] {
					seen[s] = true
					starts = append(starts, s)
				}
			}
		}
		slices.Sort(starts)
	}
	need := min(2, len(q.terms))
	var (
		found bool
		top   support
		dist  float64
	)
	for _, s := range starts {
		var mask uint64
		first, last, words := -1, -1, 0
		for i := s; i < len(g.segs) && i < s+maxWindowSegs; i++ {
			if i > s && (words >= windowTokens || g.segs[i].Start-g.segs[s].Start > maxWindowSpan) {
				break
			}
			words += len(g.tokens[i])
			if h := hits[i]; h&^mask != 0 {
				if first < 0 {
					first = i
				}
				last = i
				mask |= h
			}
		}
		if mask == 0 || bits.OnesCount64(mask) < need {
			continue
		}
		score := 0.0
		for k := range q.terms {
			if mask&(1<<uint(k)) != 0 {
				score += q.w[k]
			}
		}
		score /= q.total
		if score < minCoverage {
			continue
		}
		d := math.Abs(g.segs[first].Start - near)
		if !found || score > top.score+1e-9 || (math.Abs(score-top.score) <= 1e-9 && d < dist) {
			found, top, dist = true, support{first: first, last: last, score: score}, d
		}
	}
	return top, found
}

func (g *Grounder) source(first, last int) recap.Source {
	var texts []string
	for i := first; i <= last; i++ {
		texts = append(texts, strings.Join(strings.Fields(g.segs[i].Text), " "))
	}
	return recap.Source{Start: g.segs[first].Start, End: math.Max(g.segs[last].End, g.segs[first].Start), Text: strings.Join(texts, " ")}
}

// lineText is a line's words without its timestamps and markup, the text
// scored against the transcript.
func lineText(line string) string {
	return stampRE.ReplaceAllString(line, " ")
}

// Line grounds one line (without its newline). It returns the line to
// show (keep false: drop it), the highlight it is (nil when it does not
// begin with a moment), and what was done. The line's timestamps are made
// canonical first (see CanonicalTimestamps).
//
// A moment no segment holds is moved to the moment that best supports its
// words; when none does, a line that begins with it (a highlight) is
// dropped, and anywhere else the timestamp alone is removed, its words
// kept. A range ("[00:18 – 00:45]", both ends kept) is a span, not a
// moment: it stands when it starts within the transcript (up to
// GroundTolerance past its last segment's end), and otherwise goes the
// same way, with its line when it leads one, alone elsewhere.
func (g *Grounder) Line(line string) (out string, keep bool, hl *recap.Highlight, st recap.Grounding) {
	if g.Empty() {
		return line, true, nil, st
	}
	line = canonicalLine(line)
	locs := stampRE.FindAllStringSubmatchIndex(line, -1)
	// "[00:75]" is not a clock: not a timestamp either.
	locs = slices.DeleteFunc(locs, func(m []int) bool {
		_, ok := ParseClock(line[m[2]:m[3]])
		return !ok
	})
	if len(locs) == 0 {
		return line, true, nil, st
	}
	var whole *query
	// A timestamp among several annotates the words around it (from the
	// previous timestamp to the next); the whole line is the fallback.
	find := func(k int, only []int, near float64) (support, bool) {
		if len(locs) > 1 {
			from, to := 0, len(line)
			if k > 0 {
				from = locs[k-1][1]
			}
			if k+1 < len(locs) {
				to = locs[k+1][0]
			}
			local := line[from:locs[k][0]] + " " + line[locs[k][1]:to]
			if sup, ok := g.best(g.queryOf(local), only, near); ok {
				return sup, true
			}
		}
		if whole == nil {
			v := g.queryOf(lineText(line))
			whole = &v
		}
		return g.best(*whole, only, near)
	}
	var b []byte
	prev := 0
	var leadSrc *recap.Source
	lead := leadRE.FindStringSubmatchIndex(line)
	leadStart := -1
	if lead != nil {
		leadStart = lead[2]
	}
	var leadSec float64
	last := g.maxEnd[len(g.maxEnd)-1]
	for k, m := range locs {
		st.Checked++
		isLead := m[2] == leadStart
		written, _ := ParseClock(line[m[2]:m[3]])
		b = append(b, line[prev:m[0]]...)
		prev = m[1]
		if m[4] >= 0 { // a range
			if written <= last+GroundTolerance {
				b = append(b, line[m[0]:m[1]]...)
				continue
			}
			st.Dropped++
			if isLead {
				return "", false, nil, st
			}
			b, prev = cut(b, line, prev)
			continue
		}
		var sec float64
		var src *recap.Source
		if match := g.matching(written); len(match) > 0 {
			sec = written
			if isLead {
				// The source of a highlight: the run from a segment at this
				// moment that best supports the line, else that segment.
				s := g.source(match[0], match[0])
				if sup, ok := find(k, match, written); ok {
					s = g.source(sup.first, sup.last)
				}
				src = &s
			}
		} else {
			sup, ok := find(k, nil, written)
			if !ok {
				st.Dropped++
				if isLead {
					return "", false, nil, st
				}
				b, prev = cut(b, line, prev)
				continue
			}
			st.Repaired++
			s := g.source(sup.first, sup.last)
			sec, src = s.Start, &s
		}
		if sec == written {
			b = append(b, line[m[0]:m[1]]...)
		} else {
			b = append(b, FormatTimestamp(sec)...)
		}
		if isLead {
			leadSrc, leadSec = src, sec
		}
	}
	b = append(b, line[prev:]...)
	out = string(b)
	if leadSrc != nil {
		text := strings.TrimSpace(strings.Trim(strings.TrimSpace(stampRE.ReplaceAllString(line[lead[1]:], "")), "*_"))
		if text == "" {
			text = strings.TrimSpace(line[lead[1]:])
		}
		// A repaired lead timestamp keeps the source's own start; a valid
		// one keeps what the model wrote (the floor of a moment).
		hl = &recap.Highlight{Start: leadSec, Text: text, Source: *leadSrc}
	}
	return out, true, hl, st
}

// atTailRE is the word that introduced a timestamp ("at [1:02:03]").
var atTailRE = regexp.MustCompile(`(?i)(?:^|\s)(?:at|around)$`)

// cut takes a removed timestamp out of a line: b is the line before it,
// line[after:] the rest. Emphasis around it goes too, and so does an "at"
// before it; the spaces on either side become one (none before closing
// punctuation, and a line's indentation stays as it was).
func cut(b []byte, line string, after int) ([]byte, int) {
	for _, e := range []string{"**", "__"} {
		if bytes.HasSuffix(b, []byte(e)) && strings.HasPrefix(line[after:], e) {
			b, after = b[:len(b)-len(e)], after+len(e)
		}
	}
	rest := strings.TrimLeft(line[after:], " \t")
	space := len(rest) < len(line[after:])
	after = len(line) - len(rest)
	trimmed := bytes.TrimRight(b, " \t")
	if len(trimmed) == 0 {
		return b, after // at the start: keep the indentation
	}
	space = space || len(trimmed) < len(b)
	if loc := atTailRE.FindIndex(trimmed); loc != nil {
		trimmed = bytes.TrimRight(trimmed[:loc[0]], " \t")
		space = true
	}
	b = trimmed
	if space && len(b) > 0 && rest != "" && !strings.ContainsRune(".,;:!?)]}»”’。，、；：！？）】", []rune(rest)[0]) {
		b = append(b, ' ')
	}
	return b, after
}

// Markdown grounds a whole answer line by line.
func (g *Grounder) Markdown(md string) (string, []recap.Highlight, recap.Grounding) {
	var out strings.Builder
	w := g.Writer(func(s string) { out.WriteString(s) })
	w.Write(md)
	w.Flush()
	return out.String(), w.Highlights(), w.Stats()
}

// LineWriter grounds a stream of text deltas: it holds back each line
// until its newline, then passes it on grounded (or not at all, when it is
// dropped), so a streamed answer and its final text agree.
type LineWriter struct {
	g    *Grounder
	emit func(string)
	buf  strings.Builder
	hls  []recap.Highlight
	st   recap.Grounding
}

// Writer returns a LineWriter that passes grounded lines to emit.
func (g *Grounder) Writer(emit func(string)) *LineWriter {
	return &LineWriter{g: g, emit: emit}
}

// Write takes the next delta.
func (w *LineWriter) Write(s string) {
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			w.buf.WriteString(s)
			return
		}
		w.buf.WriteString(s[:i])
		w.line(w.buf.String(), true)
		w.buf.Reset()
		s = s[i+1:]
	}
}

// Flush passes on the last line when it had no newline.
func (w *LineWriter) Flush() {
	if w.buf.Len() > 0 {
		w.line(w.buf.String(), false)
		w.buf.Reset()
	}
}

func (w *LineWriter) line(ln string, nl bool) {
	out, keep, hl, st := w.g.Line(ln)
	w.st.Add(st)
	if !keep {
		return
	}
	if hl != nil {
		w.hls = append(w.hls, *hl)
	}
	if nl {
		out += "\n"
	}
	if out != "" {
		w.emit(out)
	}
}

// Highlights returns the highlights of the lines written so far.
func (w *LineWriter) Highlights() []recap.Highlight { return w.hls }

// Stats returns the counts so far.
func (w *LineWriter) Stats() recap.Grounding { return w.st }

// grounded is the final call's output passing through a LineWriter: what
// it emits is both streamed and kept, so the result is what was streamed.
type grounded struct {
	w    *LineWriter
	out  strings.Builder
	emit func(string)
}

func newGrounded(g *Grounder, emit func(string)) *grounded {
	gd := &grounded{emit: emit}
	if !g.Empty() {
		gd.w = g.Writer(func(s string) {
			gd.out.WriteString(s)
			emit(s)
		})
	}
	return gd
}

// write takes the model's next delta.
func (gd *grounded) write(s string) {
	if gd.w == nil {
		gd.emit(s)
		return
	}
	gd.w.Write(s)
}

// finish flushes the last line and returns the grounded markdown (raw
// unchanged when there is no transcript), its highlights and the counts.
func (gd *grounded) finish(raw string) (string, []recap.Highlight, *recap.Grounding) {
	if gd.w == nil {
		return raw, nil, nil
	}
	gd.w.Flush()
	st := gd.w.Stats()
	return gd.out.String(), gd.w.Highlights(), &st
}

// substantive reports whether an answer says anything: a line that is not
// a heading holds a letter or a digit besides its timestamps. A reply
// that is empty, or headings over sections grounding emptied, is not.
func substantive(md string) bool {
	for ln := range strings.SplitSeq(md, "\n") {
		t := strings.TrimSpace(ln)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.IndexFunc(stampRE.ReplaceAllString(t, ""), func(r rune) bool {
			return unicode.IsLetter(r) || unicode.IsNumber(r)
		}) >= 0 {
			return true
		}
	}
	return false
}
