package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
)

// Sentinel errors of URL admission.
var (
	// ErrURLNotAllowed: the URL's host resolves to a forbidden address.
	ErrURLNotAllowed = errors.New("url not allowed")
	// ErrBadURL: the URL is not an absolute http(s) URL.
	ErrBadURL = errors.New("bad url")
)

// CheckURL admits a video or image URL: http(s) only and, unless
// allowPrivate, a host that resolves to public addresses only.
func CheckURL(ctx context.Context, rawURL string, allowPrivate bool) error {
	return CheckURLPolicy(ctx, rawURL, URLPolicy{AllowPrivate: allowPrivate})
}

// URLPolicy decides which addresses may be fetched; the worker's egress
// proxy enforces the same policy at connection time.
type URLPolicy = media.NetPolicy

// CheckURLPolicy is CheckURL under a policy that may admit some internal
// ranges (EGRESS_ALLOW).
func CheckURLPolicy(ctx context.Context, rawURL string, p URLPolicy) error {
	err := p.CheckURL(ctx, rawURL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, media.ErrURLNotAllowed):
		return ErrURLNotAllowed
	case errors.Is(err, media.ErrBadURL):
		return ErrBadURL
	}
	return err
}

// VideoKey is the canonical key of a video URL; it drives dedupe and caches.
func VideoKey(rawURL string) (string, error) {
	k, err := media.CanonicalKey(rawURL)
	if err != nil {
		return "", ErrBadURL
	}
	return k, nil
}

// TypePlaylist lists a playlist's entries for the jobs API. The API does
// no slow work and has no yt-dlp: it asks a worker, which runs the flat
// extraction through its confined runner and answers on an event stream
// of the request's own (see Client.ExpandPlaylist).
const TypePlaylist = "media:playlist"

// playlistTimeout bounds one flat extraction, and the API's wait for it.
const playlistTimeout = 2 * time.Minute

// replyTTL bounds the life of a playlist expansion's reply stream whose
// caller left before reading it (a read one is deleted at once): past
// the caller's wait, nobody reads it.
const replyTTL = playlistTimeout + time.Minute

// Playlist is a playlist's entries (media.Playlist).
type Playlist = media.Playlist

// PlaylistLister is what the playlist task needs from media (a
// *media.Client).
type PlaylistLister interface {
	Playlist(ctx context.Context, url string, limit int) (*media.Playlist, error)
}

type playlistPayload struct {
	Reply string `json:"reply"`
	URL   string `json:"url"`
	Limit int    `json:"limit"`
}

// ExpandPlaylist has a worker list up to limit entries of a playlist and
// waits for its answer (at most two minutes, or until ctx ends). A
// failure the caller caused or the site reported is a *recap.ErrorInfo.
func (c *Client) ExpandPlaylist(ctx context.Context, url string, limit int) (*Playlist, error) {
	reply := "playlist-" + uuid.NewString()
	body, _ := json.Marshal(playlistPayload{Reply: reply, URL: url, Limit: limit})
	_, err := c.cfg.Asynq.EnqueueContext(ctx, asynq.NewTask(TypePlaylist, body),
		asynq.Queue(c.cfg.QueuePrefix+QueueInteractive),
		// The caller is waiting: an expansion that fails is answered at
		// once, and asked again by the caller if it wants.
		asynq.MaxRetry(0),
		asynq.Timeout(playlistTimeout),
		asynq.Deadline(time.Now().Add(playlistTimeout)))
	if err != nil {
		return nil, fmt.Errorf("expand playlist: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, playlistTimeout+10*time.Second)
	defer cancel()
	// The reply has one reader, this call: its stream goes once read or
	// given up on. Should the delete fail, replyTTL removes it.
	defer func() { _ = c.cfg.Events.deleteStream(context.WithoutCancel(ctx), reply) }()
	var out *Playlist
	var fail *recap.ErrorInfo
	err = c.cfg.Events.Follow(wctx, reply, "0", 0, nil, func(ev recap.Event) error {
		switch {
		case ev.Type == recap.EventResult:
			out = &Playlist{}
			return json.Unmarshal([]byte(ev.Text), out)
		case ev.Type == recap.EventError && ev.Error != nil:
			e := *ev.Error
			fail = &e
		}
		return nil
	})
	switch {
	case fail != nil:
		return nil, fail
	case err != nil:
		return nil, fmt.Errorf("expand playlist: %w", err)
	case out == nil:
		return nil, errors.New("expand playlist: the worker's answer ended without a result")
	}
	return out, nil
}

// PlaylistHandler is the worker's handler of TypePlaylist: it runs the
// extraction and publishes the entries, or why there are none, on the
// request's reply stream. It never asks asynq for a retry.
func PlaylistHandler(m PlaylistLister, events *Events, log *slog.Logger) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p playlistPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || !strings.HasPrefix(p.Reply, "playlist-") {
			return fmt.Errorf("%s: bad payload: %w", TypePlaylist, asynq.SkipRetry)
		}
		ev := recap.Event{Type: recap.EventResult}
		pl, err := m.Playlist(ctx, p.URL, p.Limit)
		if err == nil {
			b, _ := json.Marshal(pl)
			ev.Text = string(b)
		} else {
			ev = recap.Event{Type: recap.EventError, Error: playlistFailure(err)}
			log.Info("playlist expansion failed", "code", ev.Error.Code, "err", err)
		}
		if _, perr := events.publish(context.WithoutCancel(ctx), p.Reply, ev, replyTTL); perr != nil {
			return fmt.Errorf("%s: publish: %w", TypePlaylist, perr)
		}
		return nil
	})
}

// playlistFailure classifies a failed expansion for the caller.
func playlistFailure(err error) *recap.ErrorInfo {
	var ue *media.UpstreamError
	switch {
	case errors.As(err, &ue) && ue.Code != recap.CodeUnsupportedURL:
		return &recap.ErrorInfo{Code: string(ue.Code), Message: ue.Message()}
	case errors.Is(err, media.ErrURLNotAllowed):
		return &recap.ErrorInfo{Code: recap.CodeURLNotAllowed, Message: "the playlist, or a page it led to, is at an address this server may not contact"}
	case errors.Is(err, media.ErrBadURL):
		return &recap.ErrorInfo{Code: recap.CodeUnsupportedURL, Message: "the playlist URL is not an http(s) URL"}
	case errors.Is(err, media.ErrUnsupported):
		return &recap.ErrorInfo{Code: recap.CodeNotAPlaylist, Message: "no playlist, channel or feed was found at this URL: send a single video in 'urls' instead"}
	case errors.Is(err, media.ErrUnavailable):
		return &recap.ErrorInfo{Code: recap.CodeVideoUnavailable, Message: "the playlist is unavailable or has no entries"}
	case errors.Is(err, media.ErrTooLarge):
		return &recap.ErrorInfo{Code: recap.CodeTooLarge, Message: "the playlist page is larger than this server reads"}
	case errors.Is(err, context.DeadlineExceeded):
		return &recap.ErrorInfo{Code: recap.CodeUpstream, Message: "listing the playlist took too long; try a smaller limit or later"}
	}
	return &recap.ErrorInfo{Code: recap.CodeUpstream, Message: "listing the playlist failed: " + err.Error()}
}
