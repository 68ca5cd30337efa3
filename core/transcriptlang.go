package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// MaxTranscriptLangs is how many languages one transcript request may
// ask for: one, or two side by side.
const MaxTranscriptLangs = 2

// TranscriptLangs returns a job's video's transcripts in langs (one, or
// two for a bilingual reply), in that order. A language stored before is
// answered from the store. A language the video has subtitles in (its
// kept info JSON lists the tracks) is fetched by a transcript job
// through the pipeline, as POST /audio/transcriptions does with a URL:
// billed like one, it needs the 'write' scope, and it is waited for up to
// SyncWait (then 504 job_still_running naming the job; the same request
// again attaches to it). Any other language is 404 language_not_available
// naming the languages there are.
func (s *Service) TranscriptLangs(ctx context.Context, c *recap.Caller, id, format string, langs []string, heartbeat time.Duration) (*recap.Job, []*recap.Transcript, error) {
	j, err := s.Job(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckTranscriptFormat(format); err != nil {
		return nil, nil, err
	}
	if len(langs) == 0 || len(langs) > MaxTranscriptLangs {
		return nil, nil, Invalid("invalid_lang", "lang", "'lang' takes one language, or two separated by a comma (lang=en,zh).")
	}
	for i, l := range langs {
		if err := CheckLanguage("lang", l); err != nil {
			return nil, nil, err
		}
		langs[i] = NormLang(l)
		if langs[i] == "" || i > 0 && strings.EqualFold(langs[i], langs[0]) {
			return nil, nil, Invalid("invalid_lang", "lang", "'lang' takes one language, or two different ones separated by a comma (lang=en,zh).")
		}
	}
	if j.VideoKey == "" {
		return nil, nil, NotFound("transcript_not_ready", "Job %s has no video (state %s).", j.ID, j.State)
	}
	out := make([]*recap.Transcript, len(langs))
	var info *media.Info
	for i, l := range langs {
		t, err := s.cfg.Store.LatestTranscript(ctx, j.VideoKey, l)
		if err == nil {
			out[i] = t
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		if info == nil {
			if info, err = s.videoInfo(ctx, j); err != nil {
				return nil, nil, err
			}
		}
		if !info.HasSubtitles(l) {
			have, err := s.cfg.Store.TranscriptLanguages(ctx, j.VideoKey)
			if err != nil {
				return nil, nil, err
			}
			avail := info.SubtitleLanguages()
			for _, h := range have {
				if h != "" && !slices.Contains(avail, h) {
					avail = append(avail, h)
				}
			}
			slices.Sort(avail)
			list := "none besides the transcript the job made (without 'lang')"
			if len(avail) > 0 {
				list = strings.Join(avail, ", ")
			}
			e := NotFound("language_not_available", "The video of job %s has no subtitles or transcript in %q. Available languages: %s.", j.ID, l, list)
			e.Param = "lang"
			return nil, nil, e
		}
		if !c.Can(recap.ScopeWrite) {
			return nil, nil, &Error{Kind: KindForbidden, Code: "insufficient_scope", Param: "lang",
				Message: fmt.Sprintf("The video has subtitles in %q but no transcript in it yet; fetching it is billed and needs the 'write' scope.", l)}
		}
		tr, err := s.Transcribe(ctx, TranscriptionRequest{Caller: c, URL: j.URL, Model: "whisper-1", Language: l, Heartbeat: heartbeat})
		if err != nil {
			return nil, nil, err
		}
		out[i] = tr.Transcript
	}
	return j, out, nil
}

// videoInfo is the metadata the resolve kept for the job's video.
func (s *Service) videoInfo(ctx context.Context, j *recap.Job) (*media.Info, error) {
	v, err := s.cfg.Store.Video(ctx, j.VideoKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("transcript_not_ready", "Job %s has not resolved its video yet (state %s).", j.ID, j.State)
	}
	if err != nil {
		return nil, err
	}
	var info media.Info
	if len(v.Info) > 0 {
		if err := json.Unmarshal(v.Info, &info); err != nil {
			return nil, fmt.Errorf("video info: %w", err)
		}
	}
	return &info, nil
}

// BilingualSegment is one cue of the first language with the second
// language's text said during it.
type BilingualSegment struct {
	Start float64  `json:"start"`
	End   float64  `json:"end"`
	Texts []string `json:"texts"`
}

// Bilingual aligns the second transcript to the first's cues: each cue
// of first gets the text of every cue of second whose time overlaps it
// most (each second-language cue is placed once, in the first-language
// cue it overlaps longest; one that overlaps none goes to the nearest).
func Bilingual(first, second *recap.Transcript) []BilingualSegment {
	out := make([]BilingualSegment, len(first.Segments))
	for i, sg := range first.Segments {
		out[i] = BilingualSegment{Start: sg.Start, End: sg.End, Texts: []string{strings.TrimSpace(sg.Text), ""}}
	}
	if len(out) == 0 {
		return out
	}
	for _, sg := range second.Segments {
		best, bestOverlap, bestDist := 0, 0.0, math.Inf(1)
		for i, c := range out {
			ov := math.Min(c.End, sg.End) - math.Max(c.Start, sg.Start)
			dist := math.Abs((c.Start+c.End)/2 - (sg.Start+sg.End)/2)
			if ov > bestOverlap || bestOverlap == 0 && ov <= 0 && dist < bestDist {
				best, bestOverlap, bestDist = i, math.Max(ov, 0), dist
			}
		}
		t := strings.TrimSpace(sg.Text)
		if out[best].Texts[1] != "" {
			t = out[best].Texts[1] + " " + t
		}
		out[best].Texts[1] = t
	}
	return out
}

// FormatBilingual writes aligned cues as srt, vtt or txt, the two
// languages' lines one under the other, and returns the text and its
// content type.
func FormatBilingual(segs []BilingualSegment, format string) (string, string) {
	t := &recap.Transcript{Segments: make([]recap.Segment, len(segs))}
	for i, sg := range segs {
		lines := make([]string, 0, 2)
		for _, x := range sg.Texts {
			if x != "" {
				lines = append(lines, x)
			}
		}
		t.Segments[i] = recap.Segment{Start: sg.Start, End: sg.End, Text: strings.Join(lines, "\n")}
	}
	if format == FormatTXT {
		// One line per cue: the languages separated by " / ".
		for i := range t.Segments {
			t.Segments[i].Text = strings.ReplaceAll(t.Segments[i].Text, "\n", " / ")
		}
	}
	return FormatTranscript(t, format)
}
