package jobs

import (
	"fmt"
	"math"

	"github.com/recap/recap"
)

// CheckRange refuses a range that does not fit a video of duration
// seconds (a duration of 0 is not known yet, and passes). A range may end
// up to a second past the duration the metadata gives, which is rounded.
func CheckRange(r recap.Range, duration float64) error {
	if r.IsZero() || duration <= 0 {
		return nil
	}
	if r.Start >= duration {
		return permanent(recap.CodeInvalidRange, fmt.Sprintf("the range starts at %s, at or after the end of the video (%s long)", recap.Clock(r.Start), recap.Clock(duration)), nil)
	}
	if r.End > 0 && r.End > duration+1 {
		return permanent(recap.CodeInvalidRange, fmt.Sprintf("the range ends at %s, past the end of the video (%s long)", recap.Clock(r.End), recap.Clock(duration)), nil)
	}
	return nil
}

// CutSegments keeps the segments that overlap r, as they are (times stay
// the video's own). The zero Range keeps all.
func CutSegments(segs []recap.Segment, r recap.Range) []recap.Segment {
	if r.IsZero() {
		return segs
	}
	to := r.End
	if to == 0 {
		to = math.Inf(1)
	}
	out := make([]recap.Segment, 0, len(segs))
	for _, s := range segs {
		end := max(s.End, s.Start)
		if end > r.Start && s.Start < to || end == s.Start && s.Start >= r.Start && s.Start < to {
			out = append(out, s)
		}
	}
	return out
}
