package recap

import (
	"fmt"
	"math"
)

// Clock writes a moment of the media as Recap writes it everywhere (in
// summaries, transcripts fed to models, exports and messages): "mm:ss"
// under an hour and "h:mm:ss" from an hour on. A moment belongs to the
// second it starts in (floored); a negative or NaN moment is 00:00.
func Clock(sec float64) string {
	if sec < 0 || math.IsNaN(sec) {
		sec = 0
	}
	s := int64(sec)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// ClockMillis writes a moment as hh:mm:ss<sep>mmm, rounded to the
// millisecond: sep is "." for WebVTT, "," for SRT.
func ClockMillis(sec float64, sep string) string {
	ms := int64(math.Round(math.Max(sec, 0) * 1000))
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}
