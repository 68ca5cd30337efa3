package core

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize"
)

// Chapter export formats (GET /jobs/{id}/chapters?format=…).
const (
	// ChaptersJSON is Recap's own shape: chapters with their highlights.
	ChaptersJSON = "json"
	// ChaptersWebVTT is a WebVTT chapters track (<track kind="chapters">).
	ChaptersWebVTT = "webvtt"
	// ChaptersYouTube is the lines of a YouTube description ("00:00 Title").
	ChaptersYouTube = "youtube"
	// ChaptersPodcast is Podcasting 2.0 chapters JSON (version 1.2.0).
	ChaptersPodcast = "podcast"
	// ChaptersMarkmap is a markdown headings tree markmap renders.
	ChaptersMarkmap = "markmap"
	// ChaptersOPML is an OPML 2.0 outline.
	ChaptersOPML = "opml"
)

// Where an outline's chapters come from.
const (
	// ChapterSourceSummary: the summary's own Chapters section.
	ChapterSourceSummary = "summary"
	// ChapterSourceHighlights: derived from the summary's timestamped
	// highlights (summaries of short videos have no Chapters section).
	ChapterSourceHighlights = "highlights"
	// ChapterSourceNone: the summary has no timestamp at all; one chapter
	// spans the video.
	ChapterSourceNone = "none"
)

// YouTube's rules for description chapters: the first at 0:00, at least
// three, each at least ten seconds long.
const (
	youtubeMinChapters = 3
	youtubeMinSeconds  = 10
)

// OutlineHighlight is one timestamped line of a summary.
type OutlineHighlight struct {
	Start float64 `json:"start"`
	Text  string  `json:"text"`
}

// OutlineChapter is a chapter and the highlights that fall inside it.
type OutlineChapter struct {
	Start      float64            `json:"start"`
	End        float64            `json:"end"`
	Title      string             `json:"title"`
	Highlights []OutlineHighlight `json:"highlights"`
}

// OutlineSection is another section of a summary (key takeaways, open
// questions, …) with its bullet lines.
type OutlineSection struct {
	Title string   `json:"title"`
	Items []string `json:"items"`
}

// Outline is the structure of a job's summary: its overview, chapters
// (each with its highlights) and other sections. Every chapter export is
// written from it.
type Outline struct {
	JobID string `json:"job_id"`
	Title string `json:"title"`
	// Start is where the summarized part begins, for a job given a range
	// (start/end); 0 for a whole video.
	Start    float64 `json:"start,omitempty"`
	Duration float64 `json:"duration"`
	Overview string  `json:"overview"`
	// Source is where the chapters come from (ChapterSource…).
	Source   string           `json:"source"`
	Chapters []OutlineChapter `json:"chapters"`
	Sections []OutlineSection `json:"sections"`
}

// ChapterExport is a rendered chapter export.
type ChapterExport struct {
	Job         *recap.Job
	Format      string
	ContentType string
	Body        []byte
}

// CheckChapterFormat refuses a format Chapters cannot write.
func CheckChapterFormat(format string) error {
	switch format {
	case ChaptersJSON, ChaptersWebVTT, ChaptersYouTube, ChaptersPodcast, ChaptersMarkmap, ChaptersOPML:
		return nil
	}
	return Invalid("invalid_format", "format", "'format' must be json, webvtt, youtube, podcast, markmap or opml.")
}

// Chapters exports the chapters (or, as markmap and opml, the whole
// structure) of the caller's summary job. A job still running is
// KindConflict summary_not_ready; a job that ended without a summary (it
// failed, was canceled, or is a transcription or a follow-up answer) is
// KindNotFound no_summary.
func (s *Service) Chapters(ctx context.Context, c *recap.Caller, jobID, format string) (*ChapterExport, error) {
	if format == "" {
		format = ChaptersJSON
	}
	if err := CheckChapterFormat(format); err != nil {
		return nil, err
	}
	o, j, err := s.Outline(ctx, c, jobID)
	if err != nil {
		return nil, err
	}
	body, ctype, err := RenderOutline(o, format)
	if err != nil {
		return nil, err
	}
	return &ChapterExport{Job: j, Format: format, ContentType: ctype, Body: body}, nil
}

// Outline reads the caller's summary job into its structure.
func (s *Service) Outline(ctx context.Context, c *recap.Caller, jobID string) (*Outline, *recap.Job, error) {
	j, err := s.Job(ctx, c, jobID)
	if err != nil {
		return nil, nil, err
	}
	if j.Kind != "" && j.Kind != "summary" {
		return nil, nil, NotFound("no_summary", "Job %s is a %s job: it has no summary to make chapters of.", j.ID, j.Kind)
	}
	switch j.State {
	case recap.StateSucceeded:
	case recap.StateFailed, recap.StateCanceled:
		return nil, nil, NotFound("no_summary", "Job %s ended %s without a summary, so it has no chapters.", j.ID, j.State)
	default:
		return nil, nil, &Error{Kind: KindConflict, Code: "summary_not_ready", RetryAfter: 5,
			Message: fmt.Sprintf("Job %s has no summary yet (state %s). Follow GET /api/v1/jobs/%s/events, then ask again.", j.ID, j.State, j.ID)}
	}
	md := j.ResultMarkdown
	var stored []recap.Chapter
	if j.SummaryID != nil {
		sm, err := s.cfg.Store.Summary(ctx, *j.SummaryID)
		if err != nil {
			return nil, nil, err
		}
		md, stored = sm.Markdown, sm.Chapters
	}
	if strings.TrimSpace(md) == "" {
		return nil, nil, NotFound("no_summary", "Job %s has no summary text to make chapters of.", j.ID)
	}
	var o *Outline
	if rg := j.Range; !rg.IsZero() {
		end := rg.End
		if end == 0 || (j.Duration > 0 && end > j.Duration) {
			end = j.Duration
		}
		o = BuildOutlineRange(md, stored, rg.Start, end)
	} else {
		o = BuildOutline(md, stored, j.Duration)
	}
	o.JobID, o.Title = j.ID, j.Title
	return o, j, nil
}

// markupRunes are the emphasis marks cleanText drops.
var markupRunes = strings.NewReplacer("**", "", "__", "", "`", "")

// cleanText makes one line of plain text of a piece of markdown.
func cleanText(s string) string {
	s = markupRunes.Replace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

type mdSection struct {
	title string
	lines []string
}

func splitSections(md string) []mdSection {
	var out []mdSection
	cur := mdSection{}
	for ln := range strings.SplitSeq(md, "\n") {
		if h, ok := summarize.Heading(ln); ok {
			if cur.title != "" || len(cur.lines) > 0 {
				out = append(out, cur)
			}
			cur = mdSection{title: cleanText(h)}
			continue
		}
		cur.lines = append(cur.lines, strings.TrimRight(ln, "\r"))
	}
	if cur.title != "" || len(cur.lines) > 0 {
		out = append(out, cur)
	}
	return out
}

// BuildOutline reads a summary's markdown into its structure. Chapters
// are the stored ones (the summarizer repaired them to cover the video)
// or, when the summary has none, the chapter lines of its markdown, else
// chapters derived from its timestamped highlights: one starts at a
// highlight at least max(10 s, duration/12) after the previous chapter's
// start, titled by that highlight, so a video of any length gets a
// handful. A summary without any timestamp is one chapter.
func BuildOutline(md string, stored []recap.Chapter, duration float64) *Outline {
	return BuildOutlineRange(md, stored, 0, duration)
}

// BuildOutlineRange is BuildOutline for a summary of the part of a video
// from start to end (seconds of the video; end 0 when unknown): the first
// chapter begins at start rather than 0, and nothing begins before it.
func BuildOutlineRange(md string, stored []recap.Chapter, start, end float64) *Outline {
	start = math.Max(start, 0)
	duration := end
	o := &Outline{Start: start, Duration: math.Max(duration, 0), Chapters: []OutlineChapter{}, Sections: []OutlineSection{}}
	var fromMD []OutlineChapter
	var hls []OutlineHighlight
	for _, sec := range splitSections(md) {
		isChapters := summarize.IsChaptersHeading(sec.title)
		isOverview := !isChapters && o.Overview == "" && (summarize.IsOverviewHeading(sec.title) || sec.title == "")
		var items []string
		var para []string
		for _, ln := range sec.lines {
			text, ok := summarize.Bullet(ln)
			if !ok {
				if t := cleanText(ln); t != "" && !strings.HasPrefix(t, ">") {
					para = append(para, t)
				}
				continue
			}
			it := summarize.ReadItem(text)
			if !it.Stamped {
				if t := cleanText(text); t != "" {
					items = append(items, t)
				}
				continue
			}
			if !it.Valid {
				continue
			}
			title := cleanText(it.Text)
			if isChapters {
				fromMD = append(fromMD, OutlineChapter{Start: it.Start, End: it.End, Title: title})
				continue
			}
			if title != "" {
				hls = append(hls, OutlineHighlight{Start: it.Start, Text: title})
			}
		}
		switch {
		case isOverview:
			o.Overview = strings.Join(append(para, items...), " ")
		case isChapters:
		case summarize.IsHighlightsHeading(sec.title):
		case len(items) > 0 && sec.title != "":
			o.Sections = append(o.Sections, OutlineSection{Title: sec.title, Items: items})
		}
	}
	slices.SortStableFunc(hls, func(a, b OutlineHighlight) int { return cmpFloat(a.Start, b.Start) })
	// end is the media's length as far as the summary tells, for sizing
	// chapters when the job's duration is unknown.
	end = o.Duration
	if end == 0 {
		for _, c := range stored {
			end = math.Max(end, c.End)
		}
		for _, c := range fromMD {
			end = math.Max(end, c.End)
		}
		if n := len(hls); n > 0 {
			end = math.Max(end, hls[n-1].Start)
		}
	}
	var chapters []OutlineChapter
	switch {
	case len(stored) > 0:
		for _, c := range stored {
			chapters = append(chapters, OutlineChapter{Start: c.Start, End: c.End, Title: cleanText(c.Title)})
		}
		o.Source = ChapterSourceSummary
	case len(fromMD) > 0:
		chapters, o.Source = fromMD, ChapterSourceSummary
	case len(hls) > 0:
		chapters, o.Source = chaptersFromHighlights(hls, math.Max(youtubeMinSeconds, end/12)), ChapterSourceHighlights
	default:
		o.Source = ChapterSourceNone
		title := "Full video"
		if o.Overview != "" {
			title = shortTitle(o.Overview)
		}
		chapters = []OutlineChapter{{Start: start, Title: title}}
	}
	o.Chapters = normalizeChapters(chapters, start, o.Duration)
	if last := &o.Chapters[len(o.Chapters)-1]; o.Duration == 0 {
		o.Duration = math.Max(end, last.End)
		last.End = o.Duration
	}
	for _, h := range hls {
		i := chapterAt(o.Chapters, h.Start)
		o.Chapters[i].Highlights = append(o.Chapters[i].Highlights, h)
	}
	return o
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chaptersFromHighlights starts a chapter at the first highlight and at
// every later one at least minLen after the current chapter's start.
func chaptersFromHighlights(hls []OutlineHighlight, minLen float64) []OutlineChapter {
	var out []OutlineChapter
	for _, h := range hls {
		if len(out) == 0 || h.Start-out[len(out)-1].Start >= minLen {
			out = append(out, OutlineChapter{Start: h.Start, Title: shortTitle(h.Text)})
		}
	}
	return out
}

// normalizeChapters tidies chapters by summarize.TidyChapters, the one
// chapter rule. Chapters past a known end are dropped first (the first
// too: an outline then has one chapter for the whole), and each chapter
// gets a title and an empty list of highlights.
func normalizeChapters(in []OutlineChapter, start, end float64) []OutlineChapter {
	var sc []recap.Chapter
	for _, c := range in {
		if end > 0 && max(c.Start, start) >= end {
			continue
		}
		sc = append(sc, recap.Chapter{Start: c.Start, End: c.End, Title: c.Title})
	}
	tidy := summarize.TidyChapters(sc, start, end)
	if len(tidy) == 0 {
		return []OutlineChapter{{Title: "Full video", Start: start, End: math.Max(end, start), Highlights: []OutlineHighlight{}}}
	}
	out := make([]OutlineChapter, len(tidy))
	for i, c := range tidy {
		if c.Title == "" {
			c.Title = fmt.Sprintf("Chapter %d", i+1)
		}
		out[i] = OutlineChapter{Start: c.Start, End: c.End, Title: c.Title, Highlights: []OutlineHighlight{}}
	}
	return out
}

// chapterAt is the index of the chapter holding second t.
func chapterAt(ch []OutlineChapter, t float64) int {
	i := 0
	for k, c := range ch {
		if c.Start <= t {
			i = k
		}
	}
	return i
}

// shortTitle is a chapter title made of a highlight: its first clause, at
// most 60 characters, cut at a word.
func shortTitle(text string) string {
	t := cleanText(text)
	for _, sep := range []string{". ", "; ", "。", "；", " — ", " – "} {
		if i := strings.Index(t, sep); i > 0 {
			t = t[:i]
		}
	}
	t = strings.TrimRight(t, ".。;；:： ")
	const maxRunes = 60
	if utf8.RuneCountInString(t) <= maxRunes {
		return t
	}
	r := []rune(t)[:maxRunes]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > maxRunes/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, ",，、 ") + "…"
}

// youtubeChapters fits chapters to YouTube's rules: the first at 0:00,
// each at least 10 s long (a shorter one is merged into the one before;
// a last one shorter than 10 s into the one before it). When the
// summary's chapters leave fewer than three, chapters derived from its
// highlights are tried. Fewer than three even then (a video under 30 s,
// or a summary with too few timestamps) is KindInvalid too_few_chapters:
// YouTube would ignore the lines, so none are made up.
func youtubeChapters(o *Outline) ([]OutlineChapter, error) {
	if o.Start > 0 {
		return nil, Invalid("range_not_supported", "format",
			"YouTube chapters describe a whole video, first at 00:00; this job summarized the part from %s. Use format=json, webvtt or podcast.", recap.Clock(o.Start))
	}
	fit := func(ch []OutlineChapter) []OutlineChapter {
		var out []OutlineChapter
		for _, c := range ch {
			if len(out) > 0 && c.Start-out[len(out)-1].Start < youtubeMinSeconds {
				continue
			}
			out = append(out, c)
		}
		if n := len(out); n > 1 && o.Duration > 0 && o.Duration-out[n-1].Start < youtubeMinSeconds {
			out = out[:n-1]
		}
		return out
	}
	got := fit(o.Chapters)
	if len(got) < youtubeMinChapters {
		var hls []OutlineHighlight
		for _, c := range o.Chapters {
			hls = append(hls, c.Highlights...)
		}
		if alt := fit(normalizeChapters(chaptersFromHighlights(hls, youtubeMinSeconds), 0, o.Duration)); len(alt) > len(got) {
			got = alt
		}
	}
	if len(got) < youtubeMinChapters {
		return nil, Invalid("too_few_chapters", "format",
			"YouTube shows chapters only when there are at least %d, each at least %d s long, the first at 00:00; this summary of a %s video yields %d. Use format=json, webvtt or podcast, which have no such rule.",
			youtubeMinChapters, youtubeMinSeconds, recap.Clock(o.Duration), len(got))
	}
	return got, nil
}

// RenderOutline writes an outline in a chapter export format and returns
// the bytes and their content type.
func RenderOutline(o *Outline, format string) ([]byte, string, error) {
	var b bytes.Buffer
	switch format {
	case ChaptersJSON:
		out := struct {
			Object string `json:"object"`
			*Outline
		}{"chapters", o}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return nil, "", err
		}
		return b.Bytes(), "application/json", nil
	case ChaptersWebVTT:
		cues := make([]vttCue, len(o.Chapters))
		for i, c := range o.Chapters {
			cues[i] = vttCue{ID: strconv.Itoa(i + 1), Start: c.Start, End: c.End, Text: cleanText(c.Title)}
		}
		var sb strings.Builder
		writeVTT(&sb, cues)
		b.WriteString(sb.String())
		return b.Bytes(), "text/vtt; charset=utf-8", nil
	case ChaptersYouTube:
		ch, err := youtubeChapters(o)
		if err != nil {
			return nil, "", err
		}
		for _, c := range ch {
			fmt.Fprintf(&b, "%s %s\n", recap.Clock(c.Start), c.Title)
		}
		return b.Bytes(), "text/plain; charset=utf-8", nil
	case ChaptersPodcast:
		type pc struct {
			StartTime float64 `json:"startTime"`
			EndTime   float64 `json:"endTime,omitempty"`
			Title     string  `json:"title"`
		}
		out := struct {
			Version  string `json:"version"`
			Title    string `json:"title,omitempty"`
			Chapters []pc   `json:"chapters"`
		}{Version: "1.2.0", Title: o.Title, Chapters: []pc{}}
		for _, c := range o.Chapters {
			out.Chapters = append(out.Chapters, pc{StartTime: c.Start, EndTime: c.End, Title: c.Title})
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return nil, "", err
		}
		return b.Bytes(), "application/json+chapters", nil
	case ChaptersMarkmap:
		return renderMarkmap(o), "text/markdown; charset=utf-8", nil
	case ChaptersOPML:
		body, err := renderOPML(o)
		return body, "text/x-opml; charset=utf-8", err
	}
	return nil, "", CheckChapterFormat(format)
}

func outlineTitle(o *Outline) string {
	if t := cleanText(o.Title); t != "" {
		return t
	}
	return "Summary"
}

// mdHeading keeps a heading on one line.
func mdHeading(s string) string { return cleanText(s) }

// renderMarkmap writes the outline as a headings tree: the title, then the
// overview, one heading per chapter ("[mm:ss] title") with its highlights
// as bullets, then the summary's other sections.
func renderMarkmap(o *Outline) []byte {
	var b bytes.Buffer
	title := outlineTitle(o)
	tj, _ := json.Marshal(title) // a JSON string is a YAML double-quoted scalar
	fmt.Fprintf(&b, "---\ntitle: %s\nmarkmap:\n  initialExpandLevel: 2\n---\n\n# %s\n", tj, mdHeading(title))
	if o.Overview != "" {
		fmt.Fprintf(&b, "\n## Overview\n\n- %s\n", cleanText(o.Overview))
	}
	for _, c := range o.Chapters {
		fmt.Fprintf(&b, "\n## [%s] %s\n", recap.Clock(c.Start), mdHeading(c.Title))
		if len(c.Highlights) > 0 {
			b.WriteByte('\n')
		}
		for _, h := range c.Highlights {
			fmt.Fprintf(&b, "- [%s] %s\n", recap.Clock(h.Start), cleanText(h.Text))
		}
	}
	for _, sec := range o.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n", mdHeading(sec.Title))
		for _, it := range sec.Items {
			fmt.Fprintf(&b, "- %s\n", cleanText(it))
		}
	}
	return b.Bytes()
}

type opmlDoc struct {
	XMLName xml.Name `xml:"opml"`
	Version string   `xml:"version,attr"`
	Head    struct {
		Title       string `xml:"title"`
		DateCreated string `xml:"dateCreated"`
	} `xml:"head"`
	Body struct {
		Outlines []opmlOutline `xml:"outline"`
	} `xml:"body"`
}

type opmlOutline struct {
	Text     string        `xml:"text,attr"`
	Note     string        `xml:"_note,attr,omitempty"`
	Start    string        `xml:"start,attr,omitempty"`
	Children []opmlOutline `xml:"outline"`
}

// renderOPML writes the outline as OPML 2.0: the overview, the chapters
// with their highlights nested, then the other sections. Each timed
// outline carries its start in seconds as a `start` attribute.
func renderOPML(o *Outline) ([]byte, error) {
	var d opmlDoc
	d.Version = "2.0"
	d.Head.Title = outlineTitle(o)
	d.Head.DateCreated = time.Now().UTC().Format(time.RFC1123Z)
	if o.Overview != "" {
		d.Body.Outlines = append(d.Body.Outlines, opmlOutline{Text: "Overview", Note: cleanText(o.Overview)})
	}
	secs := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	for _, c := range o.Chapters {
		n := opmlOutline{Text: "[" + recap.Clock(c.Start) + "] " + cleanText(c.Title), Start: secs(c.Start)}
		for _, h := range c.Highlights {
			n.Children = append(n.Children, opmlOutline{Text: "[" + recap.Clock(h.Start) + "] " + cleanText(h.Text), Start: secs(h.Start)})
		}
		d.Body.Outlines = append(d.Body.Outlines, n)
	}
	for _, sec := range o.Sections {
		n := opmlOutline{Text: cleanText(sec.Title)}
		for _, it := range sec.Items {
			n.Children = append(n.Children, opmlOutline{Text: cleanText(it)})
		}
		d.Body.Outlines = append(d.Body.Outlines, n)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("opml: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
