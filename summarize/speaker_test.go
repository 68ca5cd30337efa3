package summarize

import "github.com/recap/recap"
import "testing"

// TestTranscriptLineSpeaker: a known speaker is named between the
// timestamp and the text, as the model reads it.
func TestTranscriptLineSpeaker(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		seg  recap.Segment
		want string
	}{
		{recap.Segment{Start: 754, End: 760, Text: "Hello  there", Speaker: "Alice"}, "[12:34] Alice: Hello there"},
		{recap.Segment{Start: 754, End: 760, Text: "Hello", Speaker: " Bob\nSmith "}, "[12:34] Bob Smith: Hello"},
		{recap.Segment{Start: 3725, End: 3730, Text: "No speaker"}, "[1:02:05] No speaker"},
	} {
		if got := transcriptLine(tt.seg); got != tt.want {
			t.Errorf("transcriptLine(%+v) = %q, want %q", tt.seg, got, tt.want)
		}
	}
}
