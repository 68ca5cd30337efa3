package jobs

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

// rangeSep starts the range part of a ranged job's language, written as
// a media fragment ("en#t=30-90").
const rangeSep = "#t="

// WithRange returns the language a ranged job carries in place of lang:
// lang followed by the range as a media fragment ("en#t=30-90.5"). The
// job's audio language, the transcript it stores and the summary cache's
// lookup all key on it, so a ranged transcript or summary is never taken
// for the whole video's, nor the other way round, without a column of its
// own; SplitRange takes it apart.
func WithRange(lang string, r recap.Range) string {
	if r.IsZero() {
		return lang
	}
	end := ""
	if r.End > 0 {
		end = fmtSec(r.End)
	}
	return lang + rangeSep + fmtSec(r.Start) + "-" + end
}

func fmtSec(s float64) string { return strconv.FormatFloat(math.Round(s*1000)/1000, 'f', -1, 64) }

// SplitRange separates a language made by WithRange into the language and
// the range (the zero Range when it carries none).
func SplitRange(lang string) (string, recap.Range) {
	i := strings.Index(lang, rangeSep)
	if i < 0 {
		return lang, recap.Range{}
	}
	a, b, ok := strings.Cut(lang[i+len(rangeSep):], "-")
	if !ok {
		return lang[:i], recap.Range{}
	}
	s, err := strconv.ParseFloat(a, 64)
	if err != nil {
		return lang[:i], recap.Range{}
	}
	var e float64
	if b != "" {
		if e, err = strconv.ParseFloat(b, 64); err != nil {
			return lang[:i], recap.Range{}
		}
	}
	return lang[:i], recap.Range{Start: s, End: e}
}

// jobRange is the job's range and its plain audio language.
func jobRange(j *recap.Job) (string, recap.Range) { return SplitRange(j.AudioLanguage) }

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
