package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/recap/recap"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
)

// CodeInvalidTime is a start or end that is not a time.
const CodeInvalidTime = "invalid_time"

// maxTimeSeconds bounds a start or end (about 31 years): anything larger is
// no time in a video, and would lose the millisecond precision ranges keep.
const maxTimeSeconds = 1e9

// ParseTime reads a start or end as a caller sends it: a JSON number of
// seconds, or a string of seconds ("90", "90.5") or of "[h:]mm:ss"
// ("1:02:03", "12:34.5"). Minutes and seconds after the first part are
// below 60. null or nothing is absent (ok false). Times keep milliseconds.
// A bad value is KindInvalid naming param.
func ParseTime(param string, raw json.RawMessage) (sec float64, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	bad := func() (float64, bool, error) {
		return 0, false, Invalid(CodeInvalidTime, param,
			"'%s' must be a number of seconds (90, 754.5) or a string \"[h:]mm:ss\" or \"ss\" (\"12:34\", \"1:02:03\", \"90\"), at least 0.", param)
	}
	var v float64
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return bad()
		}
		var good bool
		if v, good = summarize.ParseClock(strings.TrimSpace(s)); !good {
			return bad()
		}
	default:
		if json.Unmarshal(raw, &v) != nil {
			return bad()
		}
	}
	if math.IsNaN(v) || v < 0 || v > maxTimeSeconds {
		return bad()
	}
	return math.Round(v*1000) / 1000, true, nil
}

// ParseRange reads a request's start and end (either may be absent; an
// absent end runs to the video's end) and checks what it can without
// the video: start ≥ 0 and end after start. Whether the range fits the
// video is checked once its duration is known (CheckRangeIn, and the
// job's resolve). startParam and endParam name the fields in errors.
func ParseRange(startParam, endParam string, start, end json.RawMessage) (recap.Range, error) {
	s, _, err := ParseTime(startParam, start)
	if err != nil {
		return recap.Range{}, err
	}
	e, hasEnd, err := ParseTime(endParam, end)
	if err != nil {
		return recap.Range{}, err
	}
	if hasEnd && e <= s {
		return recap.Range{}, Invalid(recap.CodeInvalidRange, endParam, "'%s' (%s s) must be after '%s' (%s s).", endParam, fmtNum(e), startParam, fmtNum(s))
	}
	return recap.Range{Start: s, End: e}, nil
}

// CheckRangeIn refuses a range that does not fit a video duration
// seconds long (0: not known yet, passes), naming the field at fault.
func CheckRangeIn(r recap.Range, duration float64, startParam, endParam string) error {
	if r.IsZero() || duration <= 0 {
		return nil
	}
	err := jobs.CheckRange(r, duration)
	var je *jobs.Error
	if !errors.As(err, &je) {
		return err
	}
	param := endParam
	if r.Start >= duration {
		param = startParam
	}
	return Invalid(recap.CodeInvalidRange, param, "'%s' does not fit the video: %s.", param, je.Message)
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// applyRange makes j work on rng only: the job's Range keys the
// transcript it stores, the summary cache's lookup and attaching repeats
// (requestHash), so they all tell a range from the whole video. A video
// resolved before has a known duration: a range past its end is refused
// now, before a job is made.
func (s *Service) applyRange(ctx context.Context, rng recap.Range, j *recap.Job) error {
	if rng.IsZero() {
		return nil
	}
	d, err := s.knownDuration(ctx, j.VideoKey, j.AudioLanguage)
	if err != nil {
		return err
	}
	if err := CheckRangeIn(rng, d, "start", "end"); err != nil {
		return err
	}
	j.Range = rng
	return nil
}

// knownDuration is a video's duration as the pipeline knows it: from its
// metadata, else from its stored transcript in lang (what a job learns
// it from when the metadata has none); 0 when not known yet.
func (s *Service) knownDuration(ctx context.Context, key, lang string) (float64, error) {
	v, err := s.cfg.Store.Video(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if v.Duration > 0 {
		return v.Duration, nil
	}
	t, err := s.cfg.Store.LatestTranscript(ctx, key, lang)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return t.Duration, nil
}
