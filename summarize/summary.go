package summarize

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/recap/recap"
)

// truncationNote is appended to any summary whose input had to be cut.
const truncationNote = "\n\n> **Note:** part of the input was too large for the model's context budget and had to be split or shortened; some detail may be missing from this summary.\n"

// Summarize summarizes req. A transcript that fits Config.ContextTokens
// takes one streaming call; a longer one is split into consecutive time
// windows summarized in parallel, then reduced (recursively if needed) into
// the final summary, which is streamed. onDelta, when not nil, receives
// every text delta of the final call, from one goroutine at a time.
func (l *LLM) Summarize(ctx context.Context, req Request, onDelta func(string)) (*Result, error) {
	segs := cleanSegments(req.Segments)
	if len(segs) == 0 && len(req.Images) == 0 {
		return nil, fmt.Errorf("summarize: %w", ErrEmpty)
	}
	r := &run{l: l, model: cmpOr(req.Model, l.cfg.Model)}
	var err error
	if r.format, err = takeFormat(&req); err != nil {
		return nil, fmt.Errorf("summarize: %w", err)
	}
	emit := func(s string) {
		if onDelta != nil && s != "" {
			onDelta(s)
		}
	}
	dur := effectiveDuration(req.Duration, segs)
	ws, cut := splitWindows(segs, l.cfg.ContextTokens)
	if cut {
		r.truncated.Store(true)
	}
	var sample strings.Builder
	for _, w := range ws {
		if sample.Len() > 8000 {
			break
		}
		sample.WriteString(w.text)
	}
	lang := languageInstruction(req.OutputLanguage, req.Prompt, sample.String())
	r.ground = NewGrounder(segs)
	if r.format != nil {
		// A JSON answer is the caller's data: it is validated, not
		// grounded line by line.
		r.ground = NewGrounder(nil)
	}
	gw := newGrounded(r.ground, emit)

	var (
		md           string
		wantChapters bool
	)
	switch {
	case len(ws) == 0: // images only
		md, err = r.final(ctx, r.imageMessages(req, lang), gw.write)
	case len(ws) == 1:
		wantChapters = dur-max(req.Start, 0) >= longMedia && r.format == nil
		sys := r.system(wantChapters, dur, lang, "")
		user := header(req.Title, req.Start, dur) + "Transcript:\n" + ws[0].text + userRequest(req.Prompt)
		md, err = r.final(ctx, messages(sys, user, req.Images), gw.write)
	default:
		wantChapters = r.format == nil
		md, err = r.mapReduce(ctx, req, ws, dur, lang, gw.write)
	}
	if err != nil {
		return nil, fmt.Errorf("summarize: %w", err)
	}
	res := &Result{Model: r.model}
	res.Markdown, res.Highlights, res.Grounding = gw.finish(md)
	if r.format == nil && !substantive(res.Markdown) {
		return nil, fmt.Errorf("summarize: %w", ErrEmptyAnswer)
	}
	if wantChapters {
		// The grounded text: its timestamps are canonical, and a chapter
		// past the transcript's end is already gone from it.
		ch := parseChapters(res.Markdown)
		if fixed, changed := repairChapters(ch, req.Start, dur); changed {
			res.Markdown = replaceChapters(res.Markdown, fixed)
			ch = fixed
		}
		res.Chapters = ch
	}
	if r.truncated.Load() {
		res.Truncated = true
		if r.format == nil { // a note would break the JSON
			res.Markdown += truncationNote
			emit(truncationNote)
		}
	}
	res.Usage = r.usage
	return res, nil
}

// final makes the call whose answer is the result: markdown streamed to
// emit, or JSON validated against the requested format.
func (r *run) final(ctx context.Context, msgs []openai.ChatCompletionMessageParamUnion, emit func(string)) (string, error) {
	if r.format != nil {
		return r.structured(ctx, msgs, r.format, emit)
	}
	return r.call(ctx, msgs, emit)
}

// system is the system prompt of the final call.
func (r *run) system(chapters bool, dur float64, lang, extra string) string {
	if r.format == nil {
		return summarySystem(chapters, dur, lang, extra)
	}
	var b strings.Builder
	b.WriteString("You are Recap, a video summarizer. Transcript lines look like \"[mm:ss] text\" or \"[h:mm:ss] text\"; the timestamp is when the line is spoken; \"[mm:ss] Name: text\" names the speaker when known.\n")
	if extra != "" {
		b.WriteString(extra + "\n")
	}
	b.WriteString("Summarize the video as the user asks, in the JSON format below.\n")
	b.WriteString(formatInstructions(r.format.Format()))
	b.WriteString(lang)
	return b.String()
}

// partial is the summary of a time range of the media.
type partial struct {
	start, end float64
	text       string
}

func (p partial) render(i int) string {
	return fmt.Sprintf("### Part %d [%s – %s]\n%s\n\n", i+1, recap.Clock(p.start), recap.Clock(p.end), strings.TrimSpace(p.text))
}

func renderPartials(ps []partial) string {
	var b strings.Builder
	for i, p := range ps {
		b.WriteString(p.render(i))
	}
	return b.String()
}

// mapReduce summarizes each window in parallel, then reduces the partial
// summaries into one final, streamed summary.
func (r *run) mapReduce(ctx context.Context, req Request, ws []window, dur float64, lang string, emit func(string)) (string, error) {
	parts := make([]partial, len(ws))
	err := parallel(ctx, len(ws), r.l.cfg.Concurrency, func(ctx context.Context, i int) error {
		w := ws[i]
		sys := mapSystem(i, len(ws), w.start, w.end, dur, lang, req.Prompt)
		user := header(req.Title, req.Start, dur) + fmt.Sprintf("Transcript of part %d of %d [%s – %s]:\n", i+1, len(ws), recap.Clock(w.start), recap.Clock(w.end)) + w.text
		text, err := r.call(ctx, messages(sys, user, nil), nil)
		if err != nil {
			return fmt.Errorf("map part %d: %w", i+1, err)
		}
		// A partial's invented moments would reach the reduce as facts.
		text, _, _ = r.ground.Markdown(text)
		parts[i] = partial{start: w.start, end: w.end, text: text}
		return nil
	})
	if err != nil {
		return "", err
	}
	return r.reduce(ctx, req, parts, dur, lang, emit, 0)
}

// reduce merges partial summaries. When they do not fit the budget it
// merges groups of them in parallel first, at least halving their number
// at each level, so it always terminates.
func (r *run) reduce(ctx context.Context, req Request, parts []partial, dur float64, lang string, emit func(string), level int) (string, error) {
	budget := r.l.cfg.ContextTokens
	if len(parts) == 1 || EstimateTokens(renderPartials(parts)) <= budget {
		if t := EstimateTokens(renderPartials(parts)); t > budget {
			r.truncated.Store(true)
			parts[0].text = cutTokens(parts[0].text, budget-32)
		}
		sys := r.system(true, dur, lang, "The input is a set of summaries of consecutive parts of one video, in time order, each headed by its time range. Merge them into one summary of the whole video.")
		user := header(req.Title, req.Start, dur) + "Summaries of the video's parts:\n\n" + renderPartials(parts) + userRequest(req.Prompt)
		return r.final(ctx, messages(sys, user, req.Images), emit)
	}
	groups := groupPartials(parts, budget)
	if len(groups) > (len(parts)+1)/2 {
		// Partials too large to pair up: shorten them so any two fit.
		r.truncated.Store(true)
		for i := range parts {
			parts[i].text = cutTokens(parts[i].text, budget/2-32)
		}
		groups = groupPartials(parts, budget)
	}
	merged := make([]partial, len(groups))
	err := parallel(ctx, len(groups), r.l.cfg.Concurrency, func(ctx context.Context, i int) error {
		g := groups[i]
		start, end := g[0].start, g[len(g)-1].end
		sys := reduceSystem(start, end, lang, req.Prompt)
		user := header(req.Title, req.Start, dur) + "Summaries of consecutive parts:\n\n" + renderPartials(g)
		text, err := r.call(ctx, messages(sys, user, nil), nil)
		if err != nil {
			return fmt.Errorf("reduce level %d group %d: %w", level+1, i+1, err)
		}
		text, _, _ = r.ground.Markdown(text)
		merged[i] = partial{start: start, end: end, text: text}
		return nil
	})
	if err != nil {
		return "", err
	}
	return r.reduce(ctx, req, merged, dur, lang, emit, level+1)
}

// groupPartials packs consecutive partials into groups within budget.
func groupPartials(parts []partial, budget int) [][]partial {
	var groups [][]partial
	var cur []partial
	for _, p := range parts {
		if len(cur) > 0 && EstimateTokens(renderPartials(append(slices.Clone(cur), p))) > budget {
			groups = append(groups, cur)
			cur = nil
		}
		cur = append(cur, p)
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

func header(title string, start, dur float64) string {
	var b strings.Builder
	if title != "" {
		b.WriteString("Title: " + title + "\n")
	}
	switch {
	case start > 0 && dur > start:
		b.WriteString("Part: " + recap.Clock(start) + " – " + recap.Clock(dur) + " of the video (the transcript covers only this part; timestamps are the video's own)\n")
	case dur > 0:
		b.WriteString("Duration: " + recap.Clock(dur) + "\n")
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func userRequest(prompt string) string {
	if strings.TrimSpace(prompt) == "" {
		return ""
	}
	return "\n\nThe user's request (follow it; keep timestamps for the moments you mention, and keep the sections above unless the request asks for another shape):\n" + prompt
}

func summarySystem(chapters bool, dur float64, lang, extra string) string {
	var b strings.Builder
	b.WriteString("You are Recap, a video summarizer. Transcript lines look like \"[mm:ss] text\" or \"[h:mm:ss] text\"; the timestamp is when the line is spoken; \"[mm:ss] Name: text\" names the speaker when known.\n")
	if extra != "" {
		b.WriteString(extra + "\n")
	}
	b.WriteString("Reply in markdown with these sections, in this order:\n")
	b.WriteString("## Overview\nOne short paragraph on what the video is about.\n")
	if chapters {
		fmt.Fprintf(&b, "## Chapters\nOne line per chapter, \"- [start – end] title\", contiguous and covering the whole video from [00:00] to [%s].\n", recap.Clock(dur))
	}
	b.WriteString("## Highlights\nBullet lines, each beginning with the timestamp of the moment it describes, taken from the input, e.g. \"- [12:34] ...\". Cover the whole video, including its end.\n")
	b.WriteString("Use only timestamps that appear in the input; do not invent content.\n")
	b.WriteString(lang)
	return b.String()
}

func mapSystem(i, n int, start, end, dur float64, lang, prompt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "You summarize part %d of %d of a long video's transcript (the video lasts %s; this part covers [%s – %s]). Transcript lines look like \"[mm:ss] text\"; the timestamp is when the line is spoken; \"[mm:ss] Name: text\" names the speaker when known.\n", i+1, n, recap.Clock(dur), recap.Clock(start), recap.Clock(end))
	b.WriteString("Reply in compact markdown:\n")
	fmt.Fprintf(&b, "## Chapters\nThe topics of this part, one line each, \"- [start – end] title\", contiguous, covering [%s – %s].\n", recap.Clock(start), recap.Clock(end))
	b.WriteString("## Highlights\nThe key points, each a bullet beginning with the timestamp from the transcript, e.g. \"- [12:34] ...\".\n")
	b.WriteString("Use only timestamps that appear in the transcript.\n")
	if strings.TrimSpace(prompt) != "" {
		b.WriteString("Keep whatever is relevant to the user's request: " + prompt + "\n")
	}
	b.WriteString(lang)
	return b.String()
}

func reduceSystem(start, end float64, lang, prompt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "You merge summaries of consecutive parts of a long video into one summary of the range [%s – %s]. Keep timestamps exactly as given.\n", recap.Clock(start), recap.Clock(end))
	fmt.Fprintf(&b, "Reply in compact markdown:\n## Chapters\nOne line per topic, \"- [start – end] title\", contiguous, covering [%s – %s].\n", recap.Clock(start), recap.Clock(end))
	b.WriteString("## Highlights\nThe most important points, each a bullet beginning with its timestamp, e.g. \"- [12:34] ...\", spread over the whole range.\n")
	if strings.TrimSpace(prompt) != "" {
		b.WriteString("Keep whatever is relevant to the user's request: " + prompt + "\n")
	}
	b.WriteString(lang)
	return b.String()
}

func (r *run) imageMessages(req Request, lang string) []openai.ChatCompletionMessageParamUnion {
	sys := "You are Recap. No transcript is available: answer from the attached images alone. Reply in markdown with \"## Overview\" (a short paragraph) and \"## Highlights\" (bullet lines, one per notable thing shown).\n" + lang
	if r.format != nil {
		sys = "You are Recap. No transcript is available: answer from the attached images alone.\n" + formatInstructions(r.format.Format()) + lang
	}
	user := header(req.Title, 0, req.Duration) + fmt.Sprintf("%d image(s) attached.", len(req.Images)) + userRequest(req.Prompt)
	return messages(sys, user, req.Images)
}

// messages builds a system + user exchange; images become vision parts.
func messages(sys, user string, images []string) []openai.ChatCompletionMessageParamUnion {
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(sys)}
	if len(images) == 0 {
		return append(msgs, openai.UserMessage(user))
	}
	parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(user)}
	for _, u := range images {
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: u}))
	}
	return append(msgs, openai.UserMessage(parts))
}

// Answer answers a follow-up question about a video from its transcript,
// with the conversation so far as context, citing timestamps. A transcript
// longer than the budget is narrowed to the windows that share the most
// words with the question (the model is told so); nothing is fetched.
func (l *LLM) Answer(ctx context.Context, q Question, onDelta func(string)) (*Result, error) {
	if strings.TrimSpace(q.Question) == "" {
		return nil, fmt.Errorf("answer: %w", ErrEmpty)
	}
	segs := cleanSegments(q.Segments)
	r := &run{l: l, model: cmpOr(q.Model, l.cfg.Model)}
	budget := l.cfg.ContextTokens
	transcript, selected, cut := selectTranscript(segs, q, budget)
	if cut {
		r.truncated.Store(true)
	}
	lang := languageInstruction(q.OutputLanguage, q.Question, transcript)
	var sys strings.Builder
	sys.WriteString("You are Recap. You answer questions about a video from its transcript. Transcript lines look like \"[mm:ss] text\"; the timestamp is when the line is spoken; \"[mm:ss] Name: text\" names the speaker when known.\n")
	sys.WriteString("Cite the timestamps of the moments you draw on, e.g. [12:34]. If the transcript does not contain the answer, say so plainly.\n")
	if selected {
		sys.WriteString("The transcript is long: only the passages most relevant to the question (by shared words) are shown, in time order, with gaps between them. If the answer may lie elsewhere in the video, say so.\n")
	}
	if len(segs) == 0 {
		sys.WriteString("No transcript is available for this video.\n")
	}
	sys.WriteString(lang)

	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(sys.String())}
	for _, m := range trimHistory(q.History, budget/4) {
		switch m.Role {
		case "assistant":
			msgs = append(msgs, openai.ChatCompletionMessageParamOfAssistant(m.Content))
		case "system":
			msgs = append(msgs, openai.SystemMessage(m.Content))
		default:
			msgs = append(msgs, openai.UserMessage(m.Content))
		}
	}
	user := header(q.Title, 0, 0)
	if transcript != "" {
		user += "Transcript:\n" + transcript + "\n"
	}
	user += "Question: " + q.Question
	msgs = append(msgs, openai.UserMessage(user))

	emit := func(s string) {
		if onDelta != nil && s != "" {
			onDelta(s)
		}
	}
	r.ground = NewGrounder(segs)
	gw := newGrounded(r.ground, emit)
	md, err := r.call(ctx, msgs, gw.write)
	if err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	res := &Result{Model: r.model}
	res.Markdown, res.Highlights, res.Grounding = gw.finish(md)
	if !substantive(res.Markdown) {
		return nil, fmt.Errorf("answer: %w", ErrEmptyAnswer)
	}
	if r.truncated.Load() {
		res.Truncated = true
		res.Markdown += truncationNote
		emit(truncationNote)
	}
	res.Usage = r.usage
	return res, nil
}

// trimHistory keeps the newest turns that fit budget tokens.
func trimHistory(h []recap.Message, budget int) []recap.Message {
	total := 0
	i := len(h)
	for i > 0 {
		t := EstimateTokens(h[i-1].Content)
		if total+t > budget {
			break
		}
		total += t
		i--
	}
	return h[i:]
}

// selectTranscript renders the transcript for a question. When it does not
// fit budget it keeps the windows that score best against the question by
// IDF-weighted word overlap, in time order, and reports selected=true.
func selectTranscript(segs []recap.Segment, q Question, budget int) (text string, selected, cut bool) {
	all, cut := splitWindows(segs, budget)
	if len(all) <= 1 {
		if len(all) == 1 {
			return all[0].text, false, cut
		}
		return "", false, cut
	}
	ws, _ := splitWindows(segs, max(budget/8, 64))
	docs := make([][]string, len(ws))
	for i, w := range ws {
		docs[i] = tokenize(w.text)
	}
	idf := idfOf(docs)
	query := map[string]float64{}
	for _, t := range tokenize(q.Question) {
		query[t] = 1
	}
	// The latest turns often name what "it" in the question refers to.
	for i := len(q.History) - 1; i >= 0 && i >= len(q.History)-2; i-- {
		for _, t := range tokenize(q.History[i].Content) {
			if _, ok := query[t]; !ok {
				query[t] = 0.3
			}
		}
	}
	type scored struct {
		i     int
		score float64
	}
	sc := make([]scored, len(ws))
	for i, d := range docs {
		tf := map[string]int{}
		for _, t := range d {
			tf[t]++
		}
		s := 0.0
		for t, wq := range query {
			if n := tf[t]; n > 0 {
				s += wq * idf[t] * (1 + logf(float64(n)))
			}
		}
		sc[i] = scored{i, s}
	}
	slices.SortStableFunc(sc, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	var pick []int
	used := 0
	taken := make([]bool, len(ws))
	take := func(i int) {
		if i < 0 || i >= len(ws) || taken[i] || used+ws[i].tokens > budget {
			return
		}
		taken[i] = true
		used += ws[i].tokens
		pick = append(pick, i)
	}
	// Matching windows first, best first, then their neighbours for
	// context. With no match at all, windows spread over the whole video.
	for _, s := range sc {
		if s.score > 0 {
			take(s.i)
		}
	}
	for _, s := range sc {
		if s.score > 0 {
			take(s.i - 1)
			take(s.i + 1)
		}
	}
	if len(pick) == 0 {
		n := max(budget*len(ws)/max(1, totalTokens(ws)), 1)
		for k := range n {
			take(k * len(ws) / n)
		}
	}
	slices.Sort(pick)
	var b strings.Builder
	for k, i := range pick {
		if k > 0 && pick[k-1] != i-1 {
			b.WriteString("[…]\n")
		}
		b.WriteString(ws[i].text)
	}
	return b.String(), true, cut
}

func totalTokens(ws []window) int {
	n := 0
	for _, w := range ws {
		n += w.tokens
	}
	return n
}
