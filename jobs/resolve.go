package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// resolveTask learns a video's metadata: in the job's queue, bounded by
// Timeouts.Resolve, retried MaxRetry times.
var resolveTask = task{typ: TypeResolve, state: recap.StateResolving, timeout: func(t Timeouts) time.Duration { return t.Resolve }}

// resolve learns the video's metadata (once per canonical key), refuses
// what cannot be processed, and places the credit hold when the
// duration is known.
func (w *Worker) resolve(ctx context.Context, j *recap.Job) error {
	if j.URL == "" { // images only: straight to the model
		w.publish(ctx, j.ID, recap.Event{Type: recap.EventPriced})
		return w.next(ctx, j, &summaryTask)
	}
	v, err := w.video(ctx, j)
	if err != nil {
		return err
	}
	if v.IsLive {
		return permanent(recap.CodeLiveNotSupported, "live streams cannot be summarized; try again once the broadcast has ended", nil)
	}
	length, err := w.rangeLength(j, v.Duration)
	if err != nil {
		return err
	}
	if err := w.cfg.Store.SetVideo(ctx, j.ID, v.Key, v.Title, v.Duration); err != nil {
		return err
	}
	j.VideoKey, j.Duration, j.Title = v.Key, v.Duration, v.Title
	if err := w.price(ctx, j, length); err != nil {
		return err
	}
	return w.next(ctx, j, &transcriptTask)
}

// video returns the job's video, resolving it once per canonical key. A
// key that joined another URL form's video (same yt-dlp extractor_key +
// id, see media.StableID and store.ClaimVideo) answers with that video,
// whose transcripts and summaries the job then shares.
func (w *Worker) video(ctx context.Context, j *recap.Job) (*store.Video, error) {
	var v *store.Video
	err := w.cfg.Store.WithLock(ctx, "video:"+j.VideoKey, func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			key := j.VideoKey
			if owner, err := w.cfg.Store.VideoAlias(ctx, key); err == nil {
				key = owner
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			v, err = w.cfg.Store.Video(ctx, key)
			if err == nil {
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		info, err := w.resolveInfo(ctx, j)
		if err != nil {
			return err
		}
		cleanInfo(info)
		raw, _ := json.Marshal(info)
		v = &store.Video{Key: j.VideoKey, URL: j.URL, Title: info.Title, Duration: info.Duration, IsLive: info.IsLive, Info: raw,
			RawInfo: info.RawInfo()}
		if info.ID == "" || !media.StableID(info.ExtractorKey) {
			return w.cfg.Store.SaveVideo(ctx, v)
		}
		owner, err := w.cfg.Store.ClaimVideo(ctx, v, info.ExtractorKey, info.ID)
		if err != nil || owner == v.Key {
			return err
		}
		w.log.Info("url form joined a resolved video", "job_id", j.ID, "video_key", j.VideoKey, "joined", owner,
			"extractor_key", info.ExtractorKey)
		v, err = w.cfg.Store.Video(ctx, owner)
		return err
	})
	return v, err
}

// checkLength refuses media longer than MaxMediaSeconds: the one length
// rule, applied to the metadata's duration at resolve and to a duration
// measured later (a transcript's end, a probed download).
func (w *Worker) checkLength(d float64) error {
	if d > w.cfg.MaxMediaSeconds {
		return permanent(recap.CodeMediaTooLong, fmt.Sprintf("the media is %s long; this server accepts at most %s",
			fmtDuration(d), fmtDuration(w.cfg.MaxMediaSeconds)), nil)
	}
	return nil
}

// rangeLength is what a job of a video d seconds long works on and is
// priced by: the whole video, or the part its range covers. A range that
// does not fit the video is refused, and so is a length over the limit.
func (w *Worker) rangeLength(j *recap.Job, d float64) (float64, error) {
	r := j.Range
	length := d
	if !r.IsZero() {
		if err := CheckRange(r, d); err != nil {
			return 0, err
		}
		if d <= 0 {
			// Priced once the duration is known; a closed range alone may
			// already be over the limit.
			return 0, w.checkLength(r.EndIn(0) - r.Start)
		}
		length = r.EndIn(d) - r.Start
	}
	return length, w.checkLength(length)
}

// measured handles a duration learned after resolve (generic pages and
// direct files carry none in their metadata): it refuses media over the
// limit and, for a job whose duration was unknown, prices it before
// anything more is spent on it and records the duration. Pricing comes
// first and is skipped once a hold exists, so a retry after a failed hold
// still sees an unpriced job and one after a failed write is not priced
// twice.
func (w *Worker) measured(ctx context.Context, j *recap.Job, d float64) error {
	length, err := w.rangeLength(j, d)
	if err != nil {
		return err
	}
	if j.Duration > 0 {
		return nil // known at resolve, and priced there
	}
	if j.CostSeconds == 0 {
		if err := w.price(ctx, j, length); err != nil {
			return err
		}
	}
	if err := w.cfg.Store.SetVideo(ctx, j.ID, j.VideoKey, j.Title, d); err != nil {
		return err
	}
	j.Duration = d
	return nil
}

// price places the job's hold once its duration is known: whole minutes,
// rounded up. A job whose duration is not known yet is priced later.
//
// Free: a follow-up question about a video whose transcript is stored, a
// summary already in the cache (the job will do no work), and, with
// PriceCachedTranscript off, a transcript that was in the cache before
// the job was created. "Before the job" keeps the
// decision the same on every retry and makes jobs that share one fresh
// download all pay for it.
func (w *Worker) price(ctx context.Context, j *recap.Job, duration float64) error {
	if duration <= 0 {
		return nil
	}
	if !j.Refresh {
		free, err := w.cachedForFree(ctx, j)
		if err != nil {
			return err
		}
		if free {
			w.publish(ctx, j.ID, recap.Event{Type: recap.EventPriced})
			return nil
		}
	}
	cost := int64(math.Ceil(duration/60)) * 60
	if err := w.cfg.Store.Hold(ctx, j.AccountID, j.ID, cost); err != nil {
		if errors.Is(err, store.ErrInsufficientCredits) {
			return permanent(recap.CodeInsufficientQuota, fmt.Sprintf("this video costs %d minutes of credit and the balance does not cover it", cost/60), err)
		}
		return err
	}
	j.CostSeconds = cost
	w.publish(ctx, j.ID, recap.Event{Type: recap.EventPriced, CostSeconds: cost})
	return nil
}

// cachedForFree reports whether the caches make the job free (see price).
func (w *Worker) cachedForFree(ctx context.Context, j *recap.Job) (bool, error) {
	t, err := w.cfg.Store.LatestRangeTranscript(ctx, j.VideoKey, j.AudioLanguage, j.Range)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if j.Kind == "answer" {
		return true, nil
	}
	if _, err := w.cfg.Store.FindSummary(ctx, t.ID, PromptHash(j.Prompt, j.Images), w.summaryModel(j), j.OutputLanguage); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return !w.cfg.PriceCachedTranscript && t.CreatedAt.Before(j.CreatedAt), nil
}

func fmtDuration(sec float64) string {
	return (time.Duration(sec) * time.Second).String()
}
