package core_test

import (
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/core"
)

// TestFormatTranscriptSpeakers: a known speaker prefixes txt and srt
// lines and becomes a WebVTT voice span (the cue text escaped, the label
// unable to end its tag); lines without a speaker are as before.
func TestFormatTranscriptSpeakers(t *testing.T) {
	t.Parallel()
	tr := &recap.Transcript{Segments: []recap.Segment{
		{Start: 754, End: 757, Text: "Hello <b>there</b> & you", Speaker: "Alice"},
		{Start: 757, End: 760, Text: "Hi", Speaker: "B<o>b\n"},
		{Start: 760, End: 761, Text: "Nobody"},
	}}
	for format, want := range map[string]string{
		core.FormatTXT: "[12:34] Alice: Hello <b>there</b> & you\n[12:37] Bob: Hi\n[12:40] Nobody\n",
		core.FormatSRT: "1\n00:12:34,000 --> 00:12:37,000\nAlice: Hello <b>there</b> & you\n\n2\n00:12:37,000 --> 00:12:40,000\nBob: Hi\n\n" +
			"3\n00:12:40,000 --> 00:12:41,000\nNobody\n\n",
		core.FormatVTT: "WEBVTT\n\n00:12:34.000 --> 00:12:37.000\n<v Alice>Hello &lt;b&gt;there&lt;/b&gt; &amp; you\n\n" +
			"00:12:37.000 --> 00:12:40.000\n<v Bob>Hi\n\n00:12:40.000 --> 00:12:41.000\nNobody\n\n",
	} {
		if got, _ := core.FormatTranscript(tr, format); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", format, got, want)
		}
	}
	if got := core.SpokenText(tr.Segments[2]); strings.Contains(got, ":") {
		t.Errorf("no speaker: %q", got)
	}
}
