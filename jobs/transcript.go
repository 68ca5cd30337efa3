package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// transcriptTask gets a video's transcript: in the job's queue, bounded by
// Timeouts.Transcript (hours: a download and speech-to-text of a long
// video), retried MaxRetry times.
var transcriptTask = task{typ: TypeTranscript, state: recap.StateTranscribing, timeout: func(t Timeouts) time.Duration { return t.Transcript }}

// transcript gets the job's transcript: from the cache, from subtitles,
// or from speech-to-text, once per video and language.
func (w *Worker) transcript(ctx context.Context, j *recap.Job) error {
	var t *recap.Transcript
	// A ranged job's transcript is stored apart from the whole video's.
	lang, rng := j.AudioLanguage, j.Range
	lock := "transcript:" + j.VideoKey + ":" + lang
	if !rng.IsZero() {
		lock += fmt.Sprintf("#t=%v-%v", rng.Start, rng.End)
	}
	err := w.cfg.Store.WithLock(ctx, lock, func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			t, err = w.cfg.Store.LatestRangeTranscript(ctx, j.VideoKey, lang, rng)
			if err == nil {
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if !rng.IsZero() {
				// The whole video's transcript, stored before, is cut: no
				// download, no speech-to-text.
				whole, err := w.cfg.Store.LatestTranscript(ctx, j.VideoKey, lang)
				if err == nil {
					if t, err = cutTranscript(whole, rng); err != nil {
						return err
					}
					return w.cfg.Store.SaveTranscript(ctx, t)
				}
				if !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		t, err = w.fetchTranscript(ctx, j)
		if err != nil {
			return err
		}
		cleanSegments(t.Segments)
		if t.Range != rng {
			// Subtitles are the whole video's: kept as such, and cut.
			if err := w.cfg.Store.SaveTranscript(ctx, t); err != nil {
				return err
			}
			if t, err = cutTranscript(t, rng); err != nil {
				return err
			}
		}
		if err := w.cfg.Store.SaveTranscript(ctx, t); err != nil {
			return err
		}
		return w.cfg.Store.DeleteChunks(ctx, j.VideoKey, lang, rng)
	})
	if err != nil {
		return err
	}
	if j.Duration <= 0 {
		if err := w.measured(ctx, j, t.Duration); err != nil {
			return err
		}
	}
	if err := w.cfg.Store.SetTranscript(ctx, j.ID, t.ID); err != nil {
		return err
	}
	if j.Kind == KindTranscript {
		return w.finishTranscript(ctx, j)
	}
	return w.next(ctx, j, &summaryTask)
}

func (w *Worker) fetchTranscript(ctx context.Context, j *recap.Job) (*recap.Transcript, error) {
	v, err := w.cfg.Store.Video(ctx, j.VideoKey)
	if err != nil {
		return nil, err
	}
	if isFileJob(j) {
		return w.fileTranscript(ctx, j, v)
	}
	var info media.Info
	if err := json.Unmarshal(v.Info, &info); err != nil {
		return nil, fmt.Errorf("video info: %w", err)
	}
	// yt-dlp's own JSON from the resolve: the subtitle and audio steps use
	// it instead of extracting the page again (one extraction per video).
	info.SetRawInfo(v.RawInfo)
	w.publish(ctx, j.ID, recap.Event{Type: recap.EventProgress, Message: "Fetching subtitles…"})
	lang := j.AudioLanguage
	segs, track, err := w.cfg.Media.Subtitles(ctx, j.URL, &info, lang)
	if err == nil && len(segs) > 0 {
		source := "subtitles"
		if track.Auto {
			source = "auto_captions"
		}
		return &recap.Transcript{VideoKey: j.VideoKey, Language: lang, Source: source,
			Segments: toStoreSegments(segs, 0), Duration: transcriptDuration(v.Duration, segs)}, nil
	}
	if err != nil && !errors.Is(err, media.ErrNoSubtitles) {
		return nil, mediaError(err)
	}
	if w.cfg.Transcriber == nil {
		return nil, permanent(recap.CodeNoTranscript, "this video has no subtitles"+langNote(lang)+
			" and no speech-to-text service is configured: set STT_BASE_URL (and STT_API_KEY) on the worker, or choose a video with subtitles", nil)
	}
	return w.speechToText(ctx, j, v, &info)
}

func langNote(lang string) string {
	if lang == "" {
		return ""
	}
	return " in " + lang
}

func transcriptDuration(known float64, segs []recap.Segment) float64 {
	if known > 0 {
		return known
	}
	if len(segs) == 0 {
		return 0
	}
	return segs[len(segs)-1].End
}

func toStoreSegments(segs []recap.Segment, offset float64) []recap.Segment {
	out := make([]recap.Segment, 0, len(segs))
	for _, s := range segs {
		out = append(out, recap.Segment{Start: s.Start + offset, End: s.End + offset, Text: s.Text, Speaker: s.Speaker})
	}
	return out
}

// cutTranscript is the part of a whole video's transcript that rng
// covers, stored under that range: the cues overlapping the range, at the
// video's own times. Its Duration stays the whole video's,
// so a job learning the duration from it is checked and priced as at
// resolve. A range that does not fit the video is refused.
func cutTranscript(whole *recap.Transcript, rng recap.Range) (*recap.Transcript, error) {
	if err := CheckRange(rng, whole.Duration); err != nil {
		return nil, err
	}
	segs := CutSegments(whole.Segments, rng)
	if len(segs) == 0 {
		return nil, permanent(recap.CodeNoTranscript, fmt.Sprintf("nothing is said between %s and %s (the transcript has no line there)",
			recap.Clock(rng.Start), recap.Clock(rng.EndIn(whole.Duration))), nil)
	}
	return &recap.Transcript{VideoKey: whole.VideoKey, Language: whole.Language, Range: rng, Source: whole.Source, Segments: segs,
		Duration: whole.Duration}, nil
}
