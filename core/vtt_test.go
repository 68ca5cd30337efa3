package core

import (
	"strings"
	"testing"

	"github.com/recap/recap"
)

// TestOneVTTWriter: transcripts and chapters escape cue text the same
// way, so neither a "-->" nor a tag nor a blank line in a segment or a
// title can end or restyle a cue.
func TestOneVTTWriter(t *testing.T) {
	t.Parallel()
	tr := &recap.Transcript{Segments: []recap.Segment{
		{Start: 1, End: 2, Text: "a --> b <i>x</i> & c\n\nsecond line"},
		{Start: 2, End: 3, Text: "said <b>", Speaker: "Bob"},
	}}
	got, _ := FormatTranscript(tr, FormatVTT)
	want := "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na --&gt; b &lt;i&gt;x&lt;/i&gt; &amp; c\nsecond line\n\n" +
		"00:00:02.000 --> 00:00:03.000\n<v Bob>said &lt;b&gt;\n\n"
	if got != want {
		t.Errorf("transcript VTT:\n%q\nwant\n%q", got, want)
	}
	body, _, err := RenderOutline(&Outline{Chapters: []OutlineChapter{{Start: 0, End: 5, Title: "Intro --> <b>Part</b>"}}}, ChaptersWebVTT)
	if err != nil {
		t.Fatal(err)
	}
	if want := "WEBVTT\n\n1\n00:00:00.000 --> 00:00:05.000\nIntro --&gt; &lt;b&gt;Part&lt;/b&gt;\n\n"; string(body) != want {
		t.Errorf("chapters VTT:\n%q\nwant\n%q", body, want)
	}
	if strings.Count(got, " --> ") != 2 {
		t.Errorf("a cue arrow leaked into cue text: %q", got)
	}
}
