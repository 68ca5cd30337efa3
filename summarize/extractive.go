package summarize

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/recap/recap"
)

// ExtractiveModel is the model name of the offline summarizer; replies
// carry it so nobody mistakes quoted sentences for an LLM's summary.
const ExtractiveModel = "recap-extractive"

// ExtractiveConfig configures the offline summarizer.
type ExtractiveConfig struct {
	// Highlights is how many moments to quote; default 8.
	Highlights int
}

// Extractive summarizes offline and deterministically by quoting the most
// representative transcript moments. It needs no network and no model, and
// is safe for concurrent use.
//
// Each transcript sentence becomes a TF-IDF vector over the transcript's
// own vocabulary. The transcript is cut into topic sections where lexical
// cohesion between neighbouring time blocks drops (TextTiling); each
// section contributes highlights in proportion to its length, chosen by
// centrality to the section's centroid with maximal marginal relevance so
// near-duplicates are skipped.
type Extractive struct {
	cfg ExtractiveConfig
}

// NewExtractive returns an offline summarizer.
func NewExtractive(cfg ExtractiveConfig) *Extractive {
	if cfg.Highlights <= 0 {
		cfg.Highlights = 8
	}
	return &Extractive{cfg: cfg}
}

// Model returns ExtractiveModel.
func (e *Extractive) Model() string { return ExtractiveModel }

// term is one weighted dimension of a sparse vector.
type term struct {
	id int
	w  float64
}

// vec is a sparse vector sorted by term id, so arithmetic on it is
// deterministic (no map iteration order leaks into float sums).
type vec []term

func (a vec) dot(b vec) float64 {
	s, i, j := 0.0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].id == b[j].id:
			s += a[i].w * b[j].w
			i++
			j++
		case a[i].id < b[j].id:
			i++
		default:
			j++
		}
	}
	return s
}

func (a vec) norm() float64 { return math.Sqrt(a.dot(a)) }

func (a vec) normalized() vec {
	n := a.norm()
	if n == 0 {
		return a
	}
	out := make(vec, len(a))
	for i, t := range a {
		out[i] = term{t.id, t.w / n}
	}
	return out
}

// sum adds vectors into a dense accumulator and returns it sparse.
func sum(dim int, vs ...vec) vec {
	acc := make([]float64, dim)
	for _, v := range vs {
		for _, t := range v {
			acc[t.id] += t.w
		}
	}
	var out vec
	for id, w := range acc {
		if w != 0 {
			out = append(out, term{id, w})
		}
	}
	return out
}

// unit is one sentence of the transcript with its vector.
type unit struct {
	seg    recap.Segment
	tokens []string
	v      vec // normalized TF-IDF
	raw    vec // unnormalized TF-IDF, for centroids
}

// corpus is a transcript prepared for extraction.
type corpus struct {
	units []unit
	vocab []string
	dim   int
	idf   map[string]float64
}

// sentences splits segments holding several sentences, giving each a
// share of the segment's time in proportion to its length.
func sentences(segs []recap.Segment) []recap.Segment {
	var out []recap.Segment
	for _, s := range segs {
		text := strings.Join(strings.Fields(s.Text), " ")
		if len(text) < 160 {
			out = append(out, recap.Segment{Start: s.Start, End: s.End, Text: text, Speaker: s.Speaker})
			continue
		}
		var parts []string
		start := 0
		rs := []rune(text)
		for i, r := range rs {
			if strings.ContainsRune(".!?。！？", r) && (i+1 == len(rs) || rs[i+1] == ' ' || r > 0x80) && i+1-start > 20 {
				parts = append(parts, strings.TrimSpace(string(rs[start:i+1])))
				start = i + 1
			}
		}
		if tail := strings.TrimSpace(string(rs[start:])); tail != "" {
			parts = append(parts, tail)
		}
		total := float64(len(rs))
		done := 0
		for _, p := range parts {
			n := len([]rune(p))
			a := s.Start + (s.End-s.Start)*float64(done)/total
			b := s.Start + (s.End-s.Start)*float64(done+n)/total
			out = append(out, recap.Segment{Start: a, End: b, Text: p, Speaker: s.Speaker})
			done += n + 1
		}
	}
	return out
}

func newCorpus(segs []recap.Segment) *corpus {
	c := &corpus{}
	ids := map[string]int{}
	var docs [][]string
	for _, s := range sentences(segs) {
		toks := tokenize(s.Text)
		c.units = append(c.units, unit{seg: s, tokens: toks})
		docs = append(docs, toks)
		for _, t := range toks {
			if _, ok := ids[t]; !ok {
				ids[t] = len(c.vocab)
				c.vocab = append(c.vocab, t)
			}
		}
	}
	c.dim = len(c.vocab)
	c.idf = idfOf(docs)
	for i := range c.units {
		u := &c.units[i]
		tf := map[int]int{}
		for _, t := range u.tokens {
			tf[ids[t]]++
		}
		for id, n := range tf {
			u.raw = append(u.raw, term{id, (1 + math.Log(float64(n))) * c.idf[c.vocab[id]]})
		}
		slices.SortFunc(u.raw, func(a, b term) int { return cmp.Compare(a.id, b.id) })
		u.v = u.raw.normalized()
	}
	return c
}

// topicSection is a run of units [lo, hi) about one topic.
type topicSection struct {
	lo, hi     int
	start, end float64
}

// segmentTopics finds topic boundaries TextTiling-style: units are grouped
// into time blocks, the cosine similarity of the blocks on either side of
// each gap is computed, and gaps that sit in deep valleys of that curve
// become boundaries.
func (c *corpus) segmentTopics(dur float64) []topicSection {
	n := len(c.units)
	whole := []topicSection{{0, n, 0, dur}}
	if n < 6 || dur <= 0 {
		return whole
	}
	blockLen := math.Min(math.Max(dur/48, 15), 120)
	// blocks[i] = first unit of block i.
	var blocks []int
	next := 0.0
	for i, u := range c.units {
		if len(blocks) == 0 || u.seg.Start >= next {
			blocks = append(blocks, i)
			next = u.seg.Start + blockLen
		}
	}
	nb := len(blocks)
	if nb < 4 {
		return whole
	}
	blockVec := make([]vec, nb)
	for b := range nb {
		end := n
		if b+1 < nb {
			end = blocks[b+1]
		}
		var vs []vec
		for _, u := range c.units[blocks[b]:end] {
			vs = append(vs, u.raw)
		}
		blockVec[b] = sum(c.dim, vs...)
	}
	w := 2
	if nb >= 40 {
		w = 3
	}
	// sims[g]: similarity across the gap after block g.
	sims := make([]float64, nb-1)
	for g := range nb - 1 {
		left := sum(c.dim, blockVec[max(0, g-w+1):g+1]...).normalized()
		right := sum(c.dim, blockVec[g+1:min(nb, g+1+w)]...).normalized()
		sims[g] = left.dot(right)
	}
	depth := make([]float64, len(sims))
	var valleys []float64
	for g, s := range sims {
		l, r := s, s
		for i := g - 1; i >= 0 && sims[i] >= l; i-- {
			l = sims[i]
		}
		for i := g + 1; i < len(sims) && sims[i] >= r; i++ {
			r = sims[i]
		}
		depth[g] = (l - s) + (r - s)
		if depth[g] > 0 {
			valleys = append(valleys, depth[g])
		}
	}
	if len(valleys) == 0 {
		return whole
	}
	mean, sd := meanSD(valleys)
	threshold := math.Max(mean+sd/2, 0.15)
	type cand struct {
		g int
		d float64
	}
	var cands []cand
	for g, d := range depth {
		if d > threshold {
			cands = append(cands, cand{g, d})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.d, a.d) })
	maxSections := int(math.Min(12, math.Max(1, dur/120)))
	minGap := 2 // blocks
	var cuts []int
	for _, cd := range cands {
		if len(cuts)+1 >= maxSections {
			break
		}
		ok := cd.g+1 >= minGap && nb-(cd.g+1) >= minGap
		for _, c := range cuts {
			if abs(c-cd.g) < minGap {
				ok = false
			}
		}
		if ok {
			cuts = append(cuts, cd.g)
		}
	}
	slices.Sort(cuts)
	var out []topicSection
	lo := 0
	for _, g := range cuts {
		hi := c.refine(blocks, g)
		if hi <= lo {
			hi = blocks[g+1]
		}
		out = append(out, topicSection{lo: lo, hi: hi})
		lo = hi
	}
	out = append(out, topicSection{lo: lo, hi: n})
	for i := range out {
		out[i].start = c.units[out[i].lo].seg.Start
		if i == 0 {
			out[i].start = 0
		}
		if i > 0 {
			out[i-1].end = out[i].start
		}
	}
	out[len(out)-1].end = dur
	return out
}

// refine moves a boundary found between blocks g and g+1 to the unit
// within those two blocks where the text before and after it differ most,
// so chapters start at the sentence where the topic changes rather than at
// a block edge.
func (c *corpus) refine(blocks []int, g int) int {
	lo := blocks[g]
	hi := len(c.units)
	if g+2 < len(blocks) {
		hi = blocks[g+2]
	}
	m := max(blocks[g+1]-blocks[g], 2)
	best, bestSim := blocks[g+1], math.Inf(1)
	for k := lo + 1; k < hi; k++ {
		var l, r []vec
		for _, u := range c.units[max(0, k-m):k] {
			l = append(l, u.raw)
		}
		for _, u := range c.units[k:min(len(c.units), k+m)] {
			r = append(r, u.raw)
		}
		sim := sum(c.dim, l...).normalized().dot(sum(c.dim, r...).normalized())
		if sim < bestSim {
			best, bestSim = k, sim
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func meanSD(xs []float64) (float64, float64) {
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// centrality scores each unit of a section by cosine similarity to the
// section's centroid, damping fragments too short to stand alone.
func (c *corpus) centrality(s topicSection) []float64 {
	var vs []vec
	for _, u := range c.units[s.lo:s.hi] {
		vs = append(vs, u.raw)
	}
	centroid := sum(c.dim, vs...).normalized()
	scores := make([]float64, s.hi-s.lo)
	for i, u := range c.units[s.lo:s.hi] {
		sc := u.v.dot(centroid)
		if len(u.tokens) < 4 {
			sc *= 0.5
		}
		scores[i] = sc
	}
	return scores
}

// allocate splits k picks over sections in proportion to their sizes
// (largest remainder), giving every section one while k allows.
func allocate(k int, sizes []int) []int {
	out := make([]int, len(sizes))
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total == 0 {
		return out
	}
	order := make([]int, len(sizes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	left := k
	if k >= len(sizes) {
		for i := range out {
			out[i] = 1
		}
		left -= len(sizes)
	}
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	for _, i := range order {
		exact := float64(left) * float64(sizes[i]) / float64(total)
		out[i] += int(exact)
		rems = append(rems, rem{i, exact - math.Floor(exact)})
	}
	given := 0
	for _, n := range out {
		given += n
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for j := 0; given < k && j < len(rems); j++ {
		out[rems[j].i]++
		given++
	}
	for i := range out {
		out[i] = min(out[i], sizes[i])
	}
	return out
}

// pickMMR selects k units of a section by maximal marginal relevance
// against everything picked so far.
func (c *corpus) pickMMR(s topicSection, scores []float64, k int, picked []int) []int {
	const lambda = 0.7
	var out []int
	for range k {
		best, bestScore := -1, math.Inf(-1)
		for i := s.lo; i < s.hi; i++ {
			if slices.Contains(picked, i) || slices.Contains(out, i) {
				continue
			}
			red := 0.0
			for _, p := range append(slices.Clone(picked), out...) {
				red = math.Max(red, c.units[i].v.dot(c.units[p].v))
			}
			sc := lambda*scores[i-s.lo] - (1-lambda)*red
			if sc > bestScore {
				best, bestScore = i, sc
			}
		}
		if best < 0 {
			break
		}
		out = append(out, best)
	}
	return out
}

// title names a section by its heaviest terms.
func (c *corpus) title(s topicSection) string {
	var vs []vec
	for _, u := range c.units[s.lo:s.hi] {
		vs = append(vs, u.raw)
	}
	v := sum(c.dim, vs...)
	slices.SortStableFunc(v, func(a, b term) int { return cmp.Compare(b.w, a.w) })
	var words []string
	for _, t := range v[:min(3, len(v))] {
		words = append(words, c.vocab[t.id])
	}
	if len(words) == 0 {
		return "Untitled"
	}
	t := strings.Join(words, ", ")
	r := []rune(t)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

func quote(s string, limit int) string {
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	return strings.TrimSpace(string(r[:limit])) + "…"
}

// Summarize quotes the transcript's most representative moments as an
// overview and timestamped highlights, with chapters for long media.
// Custom prompts, output languages and images need an LLM and are ignored
// (the markdown says so); a request with images only fails with ErrEmpty.
func (e *Extractive) Summarize(ctx context.Context, req Request, onDelta func(string)) (*Result, error) {
	if _, f, _ := SplitFormat(req.Prompt); f != nil || req.Format != nil {
		return nil, fmt.Errorf("extractive: %w: %w: %s writes markdown quotes only; JSON output needs a language model", ErrPermanent, ErrFormatUnsupported, ExtractiveModel)
	}
	segs := cleanSegments(req.Segments)
	if len(segs) == 0 {
		return nil, fmt.Errorf("extractive: %w: no transcript (images need an LLM)", ErrEmpty)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("extractive: %w", err)
	}
	dur := effectiveDuration(req.Duration, segs)
	c := newCorpus(segs)
	sections := c.segmentTopics(dur)
	sizes := make([]int, len(sections))
	for i, s := range sections {
		sizes[i] = s.hi - s.lo
	}
	alloc := allocate(e.cfg.Highlights, sizes)
	var picked []int
	var overview []int
	for i, s := range sections {
		scores := c.centrality(s)
		got := c.pickMMR(s, scores, alloc[i], picked)
		picked = append(picked, got...)
		if len(got) > 0 {
			// The section's best moment stands for it in the overview.
			overview = append(overview, got[0])
		}
	}
	if len(sections) == 1 {
		overview = picked[:min(3, len(picked))]
	}
	if len(overview) > 5 {
		// Keep the representatives of the five largest sections.
		type ov struct{ u, size int }
		var ovs []ov
		for _, u := range overview {
			for _, s := range sections {
				if u >= s.lo && u < s.hi {
					ovs = append(ovs, ov{u, s.hi - s.lo})
				}
			}
		}
		slices.SortStableFunc(ovs, func(a, b ov) int { return cmp.Compare(b.size, a.size) })
		overview = overview[:0]
		for _, o := range ovs[:5] {
			overview = append(overview, o.u)
		}
	}
	slices.Sort(picked)
	slices.Sort(overview)

	var parts []string
	var ob strings.Builder
	ob.WriteString("## Overview\n")
	for i, u := range overview {
		if i > 0 {
			ob.WriteString(" ")
		}
		ob.WriteString(quote(c.units[u].seg.Text, 240))
	}
	ob.WriteString("\n")
	if strings.TrimSpace(req.Prompt) != "" || len(req.Images) > 0 || req.OutputLanguage != "" {
		ob.WriteString("\n_The offline summarizer cannot follow custom prompts, read images or translate; this is its default summary._\n")
	}
	parts = append(parts, ob.String())

	res := &Result{Model: ExtractiveModel}
	if dur >= longMedia {
		for _, s := range sections {
			res.Chapters = append(res.Chapters, recap.Chapter{Start: s.start, End: s.end, Title: c.title(s)})
		}
		parts = append(parts, "\n## Chapters\n"+renderChapters(res.Chapters))
	}
	var hb strings.Builder
	hb.WriteString("\n## Highlights\n")
	for _, u := range picked {
		fmt.Fprintf(&hb, "- %s %s\n", FormatTimestamp(c.units[u].seg.Start), quote(c.units[u].seg.Text, 240))
	}
	parts = append(parts, hb.String())
	parts = append(parts, "\n_Extractive summary by "+ExtractiveModel+": sentences quoted from the transcript, chosen offline without a language model._\n")
	for _, p := range parts {
		res.Markdown += p
		if onDelta != nil {
			onDelta(p)
		}
	}
	// Every moment quoted is a transcript moment, so grounding changes
	// nothing here; it gives the highlights their sources.
	_, res.Highlights, res.Grounding = groundedResult(segs, res.Markdown)
	return res, nil
}

func groundedResult(segs []recap.Segment, md string) (string, []recap.Highlight, *recap.Grounding) {
	out, hls, st := NewGrounder(segs).Markdown(md)
	return out, hls, &st
}

// Answer quotes the transcript moments that share the most (IDF-weighted)
// words with the question, with their timestamps.
func (e *Extractive) Answer(ctx context.Context, q Question, onDelta func(string)) (*Result, error) {
	if strings.TrimSpace(q.Question) == "" {
		return nil, fmt.Errorf("extractive answer: %w", ErrEmpty)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("extractive answer: %w", err)
	}
	segs := cleanSegments(q.Segments)
	c := newCorpus(segs)
	query := map[string]bool{}
	for _, t := range tokenize(q.Question) {
		query[t] = true
	}
	type scored struct {
		i int
		s float64
	}
	var sc []scored
	for i, u := range c.units {
		seen := map[string]bool{}
		s := 0.0
		for _, t := range u.tokens {
			if query[t] && !seen[t] {
				seen[t] = true
				s += c.idf[t]
			}
		}
		if s > 0 {
			// Prefer focused sentences over long ones that mention everything.
			sc = append(sc, scored{i, s / math.Sqrt(math.Max(float64(len(u.tokens)), 4))})
		}
	}
	slices.SortStableFunc(sc, func(a, b scored) int { return cmp.Compare(b.s, a.s) })
	sc = sc[:min(3, len(sc))]
	slices.SortFunc(sc, func(a, b scored) int { return cmp.Compare(a.i, b.i) })

	var parts []string
	if len(sc) == 0 {
		parts = append(parts, "The transcript does not seem to mention that; no moment shares words with the question.\n")
	} else {
		parts = append(parts, "These moments of the transcript match the question best:\n\n")
		for _, s := range sc {
			u := c.units[s.i]
			parts = append(parts, fmt.Sprintf("- %s “%s”\n", FormatTimestamp(u.seg.Start), quote(u.seg.Text, 400)))
		}
	}
	parts = append(parts, "\n_Answered by "+ExtractiveModel+": quotes found by word overlap, without a language model._\n")
	res := &Result{Model: ExtractiveModel}
	for _, p := range parts {
		res.Markdown += p
		if onDelta != nil {
			onDelta(p)
		}
	}
	return res, nil
}
