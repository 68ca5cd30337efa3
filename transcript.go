package recap

import "time"

// Segment is one timed piece of a transcript, in seconds from the start
// of the media. Its JSON form is how segments are stored (a jsonb array)
// and cached; segments stored before speakers existed read back with none.
type Segment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	// Speaker is who speaks, as the speech-to-text service labelled it ("A",
	// or a known speaker's name); empty when unknown.
	Speaker string `json:"speaker,omitempty"`
}

// Transcript is the timed text of a video in one language.
type Transcript struct {
	ID       int64
	VideoKey string
	Language string
	// Range is the part of the video it covers, its segments at the
	// video's own times; the zero Range is the whole video.
	Range Range
	// Source is "subtitles", "auto_captions" or "speech_to_text".
	Source    string
	Segments  []Segment
	Duration  float64
	CreatedAt time.Time
}

// Chapter is one titled, contiguous part of the media.
type Chapter struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Title string  `json:"title"`
}

// Highlight is one timestamped line of a summary with the transcript span
// that supports it.
type Highlight struct {
	// Start is the line's (grounded) timestamp in seconds.
	Start float64 `json:"start"`
	// Text is the line without its bullet and leading timestamp.
	Text   string `json:"text"`
	Source Source `json:"source"`
}

// Source is the transcript span a highlight rests on.
type Source struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// Grounding counts what grounding did to one answer: timestamps (moments
// and ranges) checked, timestamps moved to a supporting moment, and
// timestamps taken out because nothing supports them: each highlight line
// dropped (once, with every timestamp it held) and each timestamp removed
// from prose (its words kept).
type Grounding struct {
	Checked  int `json:"checked"`
	Repaired int `json:"repaired"`
	Dropped  int `json:"dropped"`
}

// Add sums counts, for answers grounded in parts.
func (g *Grounding) Add(o Grounding) {
	g.Checked += o.Checked
	g.Repaired += o.Repaired
	g.Dropped += o.Dropped
}

// Range is the part of a video a job works on, in seconds of the video's
// own time. An End of 0 runs to the video's end; the zero Range is the
// whole video.
type Range struct {
	Start, End float64
}

// IsZero reports whether r is the whole video.
func (r Range) IsZero() bool { return r.Start == 0 && r.End == 0 }

// EndIn is where r ends in a video d seconds long (d when it runs to the
// end, or when it was asked to end past it).
func (r Range) EndIn(d float64) float64 {
	if r.End == 0 || (d > 0 && r.End > d) {
		return d
	}
	return r.End
}
