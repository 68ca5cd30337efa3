package jobs

import (
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

// Each frame's image line follows its highlight's line (indented into a
// list item); a highlight without a frame gets none; one whose line is
// not found gets its image at the end.
func TestWithFrameLinks(t *testing.T) {
	t.Parallel()
	md := "## Overview\nWelcome to the talk. Thank you.\n\n## Highlights\n- [00:05] Welcome to the talk.\n- [00:40] The middle part.\n  - [01:10] Thank you.\n\nDone."
	hls := []recap.Highlight{{Start: 5, Text: "Welcome to the talk."}, {Start: 40, Text: "The middle part."},
		{Start: 70, Text: "Thank you."}, {Start: 80, Text: "Not in the text."}}
	made := []store.Frame{{N: 1}, {N: 3}, {N: 4}}
	got := withFrameLinks(md, "j1", hls, made)
	want := "## Overview\nWelcome to the talk. Thank you.\n\n## Highlights\n- [00:05] Welcome to the talk.\n  ![frame 1](/api/v1/jobs/j1/frames/1.jpg)\n" +
		"- [00:40] The middle part.\n  - [01:10] Thank you.\n    ![frame 3](/api/v1/jobs/j1/frames/3.jpg)\n\nDone." +
		"\n\n![frame 4](/api/v1/jobs/j1/frames/4.jpg)"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := withFrameLinks(md, "j1", hls, nil); got != md {
		t.Fatalf("no frames changed the markdown:\n%s", got)
	}
}
