package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
)

// resolve learns the video's metadata (once per canonical key), refuses
// what cannot be processed, and places the credit hold when the
// duration is known.
func (w *Worker) resolve(ctx context.Context, j *store.Job) error {
	if j.URL == "" { // images only: straight to the model
		w.publish(ctx, j.ID, Event{Type: EventPriced})
		return w.next(ctx, j, TypeSummary)
	}
	v, err := w.video(ctx, j)
	if err != nil {
		return err
	}
	if v.IsLive {
		return permanent(CodeLive, "live streams cannot be summarized; try again once the broadcast has ended", nil)
	}
	if v.Duration > w.cfg.MaxMediaSeconds {
		return permanent(CodeMediaTooLong, fmt.Sprintf("the media is %s long; this server accepts at most %s",
			fmtDuration(v.Duration), fmtDuration(w.cfg.MaxMediaSeconds)), nil)
	}
	if err := w.cfg.Store.SetVideo(ctx, j.ID, v.Key, v.Title, v.Duration); err != nil {
		return err
	}
	j.Duration, j.Title = v.Duration, v.Title
	if err := w.price(ctx, j, v.Duration); err != nil {
		return err
	}
	return w.next(ctx, j, TypeTranscript)
}

func (w *Worker) video(ctx context.Context, j *store.Job) (*store.Video, error) {
	var v *store.Video
	err := w.cfg.Store.WithLock(ctx, "video:"+j.VideoKey, func(ctx context.Context) error {
		var err error
		if !j.Refresh {
			v, err = w.cfg.Store.Video(ctx, j.VideoKey)
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
		raw, _ := json.Marshal(info)
		v = &store.Video{Key: j.VideoKey, URL: j.URL, Title: info.Title, Duration: info.Duration, IsLive: info.IsLive, Info: raw}
		return w.cfg.Store.SaveVideo(ctx, v)
	})
	return v, err
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
func (w *Worker) price(ctx context.Context, j *store.Job, duration float64) error {
	if duration <= 0 {
		return nil
	}
	if !j.Refresh {
		free, err := w.cachedForFree(ctx, j)
		if err != nil {
			return err
		}
		if free {
			w.publish(ctx, j.ID, Event{Type: EventPriced})
			return nil
		}
	}
	cost := int64(math.Ceil(duration/60)) * 60
	if err := w.cfg.Store.Hold(ctx, j.AccountID, j.ID, cost); err != nil {
		if errors.Is(err, store.ErrInsufficientCredits) {
			return permanent(CodeInsufficientQuota, fmt.Sprintf("this video costs %d minutes of credit and the balance does not cover it", cost/60), err)
		}
		return err
	}
	j.CostSeconds = cost
	w.publish(ctx, j.ID, Event{Type: EventPriced, CostSeconds: cost})
	return nil
}

// cachedForFree reports whether the caches make the job free (see price).
func (w *Worker) cachedForFree(ctx context.Context, j *store.Job) (bool, error) {
	t, err := w.cfg.Store.LatestTranscript(ctx, j.VideoKey, j.AudioLanguage)
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

// mediaError classifies a media failure: what cannot succeed on retry is
// permanent, the rest is retried.
func mediaError(err error) error {
	// A site's refusal: its own code, message and retry rule (only a block
	// that may lift is retried, with asynq's backoff; its last attempt
	// records upstream_blocked).
	var ue *media.UpstreamError
	if errors.As(err, &ue) {
		if ue.Retry {
			return &Error{Code: string(ue.Code), Message: ue.Message(), Err: err}
		}
		return permanent(string(ue.Code), ue.Message(), err)
	}
	switch {
	case errors.Is(err, media.ErrURLNotAllowed):
		return permanent(CodeURLNotAllowed, "the video URL points at an address this server may not contact", err)
	case errors.Is(err, media.ErrUnsupported), errors.Is(err, media.ErrBadURL):
		return permanent(CodeUnsupported, "no video was found at this URL", err)
	case errors.Is(err, media.ErrUnavailable):
		return permanent(CodeUnavailable, "the video is unavailable (removed, private or blocked)", err)
	case errors.Is(err, media.ErrMediaTooLong):
		return permanent(CodeMediaTooLong, "the media is longer than this server accepts", err)
	case errors.Is(err, media.ErrLive):
		return permanent(CodeLive, "live streams cannot be summarized", err)
	case errors.Is(err, media.ErrTooLarge):
		return permanent(CodeTooLarge, "the media file is larger than this server accepts", err)
	case errors.Is(err, media.ErrUnconfinable):
		return permanent(CodeUnsupported, "the video is only offered in a form this server will not download "+
			"(RTMP, RTSP, or an HLS stream only ffmpeg can read, which is kept off the network); try another URL", err)
	}
	return &Error{Code: CodeUpstream, Message: "fetching the video failed: " + err.Error(), Err: err}
}

func fmtDuration(sec float64) string {
	return (time.Duration(sec) * time.Second).String()
}
