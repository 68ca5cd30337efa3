package core_test

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

const withChapters = `## Overview
A lecture on **sorting** algorithms.

## Chapters
- [00:00 – 02:10] Introduction
- [02:10 – 05:00] Quicksort
- [05:00 – 07:30] Merge sort

## Highlights
- [00:05] The speaker introduces the course.
- [02:30] **Quicksort** picks a pivot; partitions around it.
- [05:10] Merge sort splits the list in halves.
- [07:00] A comparison of both.

## Key takeaways
- Quicksort is fast on average.
- Merge sort is stable.
`

const highlightsOnly = `## Overview
A short talk.

## Highlights
- [00:00] Welcome and the plan for today
- [00:04] A detail four seconds later
- [00:40] The first real topic starts here. It goes on.
- [01:30] A second topic about databases
- [02:50] Wrap-up and questions
`

func TestBuildOutline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		md       string
		stored   []recap.Chapter
		duration float64
		source   string
		titles   []string
		starts   []float64
		// highlights per chapter
		counts   []int
		sections int
	}{
		{name: "stored chapters win", md: withChapters, duration: 450,
			stored: []recap.Chapter{{Start: 0, End: 200, Title: "Intro"}, {Start: 200, End: 450, Title: "Sorting"}},
			source: core.ChapterSourceSummary, titles: []string{"Intro", "Sorting"}, starts: []float64{0, 200}, counts: []int{2, 2}, sections: 1},
		{name: "markdown chapters", md: withChapters, duration: 450, source: core.ChapterSourceSummary,
			titles: []string{"Introduction", "Quicksort", "Merge sort"}, starts: []float64{0, 130, 300}, counts: []int{1, 1, 2}, sections: 1},
		{name: "from highlights", md: highlightsOnly, duration: 200, source: core.ChapterSourceHighlights,
			titles: []string{"Welcome and the plan for today", "The first real topic starts here", "A second topic about databases", "Wrap-up and questions"},
			starts: []float64{0, 40, 90, 170}, counts: []int{2, 1, 1, 1}},
		{name: "no duration: last highlight ends it", md: highlightsOnly, source: core.ChapterSourceHighlights,
			titles: []string{"Welcome and the plan for today", "The first real topic starts here", "A second topic about databases", "Wrap-up and questions"},
			starts: []float64{0, 40, 90, 170}, counts: []int{2, 1, 1, 1}},
		{name: "no timestamps", md: "## Overview\nJust words.\n\n## Highlights\n- one\n- two\n", duration: 60, source: core.ChapterSourceNone,
			titles: []string{"Just words"}, starts: []float64{0}, counts: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := core.BuildOutline(tt.md, tt.stored, tt.duration)
			if o.Source != tt.source {
				t.Errorf("source %q, want %q", o.Source, tt.source)
			}
			if len(o.Chapters) != len(tt.titles) {
				t.Fatalf("%d chapters, want %d: %+v", len(o.Chapters), len(tt.titles), o.Chapters)
			}
			for i, c := range o.Chapters {
				if c.Title != tt.titles[i] || c.Start != tt.starts[i] || len(c.Highlights) != tt.counts[i] {
					t.Errorf("chapter %d = %q at %v with %d highlights, want %q at %v with %d", i, c.Title, c.Start, len(c.Highlights), tt.titles[i], tt.starts[i], tt.counts[i])
				}
				if i > 0 && o.Chapters[i-1].End != c.Start {
					t.Errorf("chapter %d starts at %v, the one before ends at %v", i, c.Start, o.Chapters[i-1].End)
				}
			}
			if last := o.Chapters[len(o.Chapters)-1]; tt.duration > 0 && last.End != tt.duration {
				t.Errorf("last chapter ends at %v, want %v", last.End, tt.duration)
			}
			if len(o.Sections) != tt.sections {
				t.Errorf("%d sections, want %d: %+v", len(o.Sections), tt.sections, o.Sections)
			}
		})
	}
}

func TestRenderOutline(t *testing.T) {
	t.Parallel()
	o := core.BuildOutline(withChapters, nil, 450)
	o.JobID, o.Title = "job_1", `Sorting <"algorithms"> & more`

	t.Run("webvtt", func(t *testing.T) {
		b, ctype, err := core.RenderOutline(o, core.ChaptersWebVTT)
		if err != nil {
			t.Fatal(err)
		}
		want := "WEBVTT\n\n1\n00:00:00.000 --> 00:02:10.000\nIntroduction\n\n2\n00:02:10.000 --> 00:05:00.000\nQuicksort\n\n3\n00:05:00.000 --> 00:07:30.000\nMerge sort\n\n"
		if string(b) != want || !strings.HasPrefix(ctype, "text/vtt") {
			t.Fatalf("%s\n%q", ctype, b)
		}
	})
	t.Run("youtube", func(t *testing.T) {
		b, _, err := core.RenderOutline(o, core.ChaptersYouTube)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "00:00 Introduction\n02:10 Quicksort\n05:00 Merge sort\n" {
			t.Fatalf("%q", b)
		}
	})
	t.Run("podcast", func(t *testing.T) {
		b, ctype, err := core.RenderOutline(o, core.ChaptersPodcast)
		if err != nil {
			t.Fatal(err)
		}
		var pc struct {
			Version  string
			Chapters []struct {
				StartTime float64
				Title     string
			}
		}
		if err := json.Unmarshal(b, &pc); err != nil || ctype != "application/json+chapters" {
			t.Fatalf("%v %s %s", err, ctype, b)
		}
		if pc.Version != "1.2.0" || len(pc.Chapters) != 3 || pc.Chapters[1].StartTime != 130 || pc.Chapters[1].Title != "Quicksort" {
			t.Fatalf("%+v", pc)
		}
	})
	t.Run("markmap", func(t *testing.T) {
		b, _, err := core.RenderOutline(o, core.ChaptersMarkmap)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{"---\ntitle: \"Sorting \\u003c\\\"algorithms\\\"\\u003e \\u0026 more\"", "\n# Sorting", "\n## [02:10] Quicksort\n\n- [02:30] Quicksort picks a pivot; partitions around it.\n",
			"\n## Key takeaways\n\n- Quicksort is fast on average.\n"} {
			if !strings.Contains(s, want) {
				t.Errorf("markmap lacks %q:\n%s", want, s)
			}
		}
	})
	t.Run("opml", func(t *testing.T) {
		b, _, err := core.RenderOutline(o, core.ChaptersOPML)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Version string `xml:"version,attr"`
			Head    struct {
				Title string `xml:"title"`
			} `xml:"head"`
			Body struct {
				Outlines []struct {
					Text     string `xml:"text,attr"`
					Start    string `xml:"start,attr"`
					Children []struct {
						Text string `xml:"text,attr"`
					} `xml:"outline"`
				} `xml:"outline"`
			} `xml:"body"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if doc.Version != "2.0" || doc.Head.Title != o.Title || len(doc.Body.Outlines) != 5 {
			t.Fatalf("%+v", doc)
		}
		q := doc.Body.Outlines[2]
		if q.Text != "[02:10] Quicksort" || q.Start != "130" || len(q.Children) != 1 {
			t.Fatalf("%+v", q)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		if err := core.CheckChapterFormat("mp3"); err == nil {
			t.Fatal("mp3 accepted")
		}
	})
}

// TestYouTubeChapters: YouTube's rules (first at 00:00, at least three,
// each at least 10 s) are met or the export is refused.
func TestYouTubeChapters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		md       string
		stored   []recap.Chapter
		duration float64
		want     string
		code     string
	}{
		{name: "short chapters merge", duration: 120, stored: []recap.Chapter{{Start: 0, Title: "A"}, {Start: 5, Title: "B"}, {Start: 30, Title: "C"},
			{Start: 60, Title: "D"}, {Start: 115, Title: "E"}}, md: "## Chapters\n", want: "00:00 A\n00:30 C\n01:00 D\n"},
		{name: "two chapters filled from highlights", duration: 200, stored: []recap.Chapter{{Start: 0, Title: "A"}, {Start: 100, Title: "B"}},
			md: highlightsOnly, want: "00:00 Welcome and the plan for today\n00:40 The first real topic starts here\n01:30 A second topic about databases\n02:50 Wrap-up and questions\n"},
		{name: "video too short", duration: 21.7, md: "## Highlights\n- [00:00] a\n- [00:05] b\n- [00:10] c\n- [00:15] d\n- [00:20] e\n", code: "too_few_chapters"},
		{name: "one timestamp", duration: 600, md: "## Highlights\n- [03:00] only\n", code: "too_few_chapters"},
		{name: "hour-long", duration: 5400, stored: []recap.Chapter{{Start: 0, Title: "A"}, {Start: 1800, Title: "B"}, {Start: 3600, Title: "C"}},
			md: "", want: "00:00 A\n30:00 B\n1:00:00 C\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _, err := core.RenderOutline(core.BuildOutline(tt.md, tt.stored, tt.duration), core.ChaptersYouTube)
			if tt.code != "" {
				if e := core.As(err); err == nil || e.Code != tt.code || e.Kind != core.KindInvalid {
					t.Fatalf("err %v, want %s; got %q", err, tt.code, b)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Fatalf("%v\n%q\nwant %q", err, b, tt.want)
			}
		})
	}
}

// FuzzBuildOutline: whatever a model writes, every export renders without
// a panic, chapters start at 0 and are contiguous, and the XML parses.
func FuzzBuildOutline(f *testing.F) {
	f.Add(withChapters, 450.0)
	f.Add(highlightsOnly, 0.0)
	f.Add("## Chapters\n- [99:59 – 00:00] x\n- [00:00] \x00\n## Highlights\n- [1:2:3] <&>\n", -5.0)
	f.Fuzz(func(t *testing.T, md string, dur float64) {
		if dur != dur || dur > 1e7 { // NaN or absurd
			return
		}
		o := core.BuildOutline(md, nil, dur)
		if len(o.Chapters) == 0 || o.Chapters[0].Start != 0 {
			t.Fatalf("chapters %+v", o.Chapters)
		}
		for i := 1; i < len(o.Chapters); i++ {
			if o.Chapters[i].Start != o.Chapters[i-1].End || o.Chapters[i].Start <= o.Chapters[i-1].Start {
				t.Fatalf("chapter %d: %+v", i, o.Chapters)
			}
		}
		for _, format := range []string{core.ChaptersJSON, core.ChaptersWebVTT, core.ChaptersYouTube, core.ChaptersPodcast, core.ChaptersMarkmap, core.ChaptersOPML} {
			b, _, err := core.RenderOutline(o, format)
			if err != nil && format != core.ChaptersYouTube {
				t.Fatalf("%s: %v", format, err)
			}
			if format == core.ChaptersOPML {
				var v any
				if err := xml.Unmarshal(b, &v); err != nil {
					t.Fatalf("opml does not parse: %v\n%s", err, b)
				}
			}
		}
	})
}

// TestBuildOutlineRange: the outline of a summary of 1:00–1:55 begins at
// 1:00 and ends at 1:55; YouTube chapters (a whole video's) are refused.
func TestBuildOutlineRange(t *testing.T) {
	t.Parallel()
	md := "## Overview\nPart of a lecture.\n\n## Chapters\n- [00:00 – 01:20] Earlier words the model dated at 0\n- [01:20 – 01:55] Second part\n\n" +
		"## Highlights\n- [01:02] A first point\n- [01:30] A second point\n"
	o := core.BuildOutlineRange(md, nil, 60, 115)
	if o.Start != 60 || o.Duration != 115 || len(o.Chapters) != 2 {
		t.Fatalf("outline %+v", o)
	}
	if c := o.Chapters; c[0].Start != 60 || c[0].End != 80 || c[1].Start != 80 || c[1].End != 115 ||
		len(c[0].Highlights) != 1 || len(c[1].Highlights) != 1 {
		t.Fatalf("chapters %+v", c)
	}
	if _, _, err := core.RenderOutline(o, core.ChaptersYouTube); err == nil || !strings.Contains(err.Error(), "whole video") {
		t.Fatalf("youtube chapters of a part: %v", err)
	}
	vtt, _, err := core.RenderOutline(o, core.ChaptersWebVTT)
	if err != nil || !strings.Contains(string(vtt), "00:01:00.000 --> 00:01:20.000") {
		t.Fatalf("webvtt of a part: %v\n%s", err, vtt)
	}
}
