package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/internal/redistest"
	"github.com/recap/recap/media"
)

// TestPlaylistFailure: every way a flat expansion fails reaches the
// caller with its own code.
func TestPlaylistFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"one video", fmt.Errorf("playlist: %w: the URL is one video", media.ErrUnsupported), recap.CodeNotAPlaylist},
		{"no extractor", fmt.Errorf("playlist: %w", &media.UpstreamError{Code: recap.CodeUnsupportedURL}), recap.CodeNotAPlaylist},
		{"login", fmt.Errorf("playlist: %w", &media.UpstreamError{Code: recap.CodeLoginRequired, Site: "youtube"}), recap.CodeLoginRequired},
		{"blocked", &media.UpstreamError{Code: recap.CodeUpstreamBlocked, Retry: true}, recap.CodeUpstreamBlocked},
		{"egress refused", fmt.Errorf("playlist: %w: 10.0.0.1", media.ErrURLNotAllowed), recap.CodeURLNotAllowed},
		{"bad url", fmt.Errorf("playlist: %w", media.ErrBadURL), recap.CodeUnsupportedURL},
		{"empty", fmt.Errorf("playlist: %w: no entries", media.ErrUnavailable), recap.CodeVideoUnavailable},
		{"over cap", fmt.Errorf("playlist: %w", media.ErrTooLarge), recap.CodeTooLarge},
		{"slow", fmt.Errorf("playlist: %w", context.DeadlineExceeded), recap.CodeUpstream},
		{"other", errors.New("yt-dlp: exit status 1"), recap.CodeUpstream},
	}
	for _, tt := range tests {
		got := playlistFailure(tt.err)
		if got.Code != tt.code || got.Message == "" {
			t.Errorf("%s: %+v, want code %s", tt.name, got, tt.code)
		}
	}
}

type listerFunc func(ctx context.Context, url string, limit int) (*media.Playlist, error)

func (f listerFunc) Playlist(ctx context.Context, url string, limit int) (*media.Playlist, error) {
	return f(ctx, url, limit)
}

// handlerQueue runs each enqueued task with a handler at once, as a
// worker would, recording the reply streams it was given.
type handlerQueue struct {
	h       asynq.Handler
	replies chan string
}

func (q *handlerQueue) EnqueueContext(ctx context.Context, task *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	var p playlistPayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil {
		return nil, err
	}
	q.replies <- p.Reply
	go func() { _ = q.h.ProcessTask(context.WithoutCancel(ctx), task) }()
	return &asynq.TaskInfo{}, nil
}

// TestPlaylistReplyStreamDeleted: the expansion's reply stream is gone
// once the API read it, an answer or a failure alike, and one published
// for a caller who never reads it expires within replyTTL, not the job
// streams' day.
func TestPlaylistReplyStreamDeleted(t *testing.T) {
	t.Parallel()
	rdb := redistest.NewNamed(t, randName(t, "recap-reply-"))
	ev := NewEvents(EventsConfig{Redis: rdb, Prefix: randName(t, "tr") + ":"})
	t.Cleanup(ev.Close)
	lister := listerFunc(func(_ context.Context, url string, _ int) (*media.Playlist, error) {
		if url == "https://feed.test/bad" {
			return nil, fmt.Errorf("playlist: %w: the URL is one video", media.ErrUnsupported)
		}
		return &media.Playlist{ID: "feed", Entries: []media.PlaylistEntry{{URL: "https://feed.test/1.mp3"}}}, nil
	})
	q := &handlerQueue{h: PlaylistHandler(lister, ev, slog.New(slog.NewTextHandler(io.Discard, nil))), replies: make(chan string, 4)}
	c := NewClient(ClientConfig{Asynq: q, Events: ev})
	ctx := context.Background()
	exists := func(reply string) int64 {
		n, err := rdb.Exists(ctx, ev.key(reply)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	pl, err := c.ExpandPlaylist(ctx, "https://feed.test/rss", 10)
	if err != nil || len(pl.Entries) != 1 {
		t.Fatalf("expand: %+v %v", pl, err)
	}
	if r := <-q.replies; exists(r) != 0 {
		t.Fatalf("the reply stream %s outlived its read", r)
	}
	var pe *recap.ErrorInfo
	if _, err := c.ExpandPlaylist(ctx, "https://feed.test/bad", 10); !errors.As(err, &pe) || pe.Code != recap.CodeNotAPlaylist {
		t.Fatalf("expand a video: %v", err)
	}
	if r := <-q.replies; exists(r) != 0 {
		t.Fatalf("the failed expansion's reply stream %s outlived its read", r)
	}
	// Nobody reads this one: it expires on its own, soon.
	unread := "playlist-" + randName(t, "unread")
	h := PlaylistHandler(lister, ev, slog.New(slog.NewTextHandler(io.Discard, nil)))
	body, _ := json.Marshal(playlistPayload{Reply: unread, URL: "https://feed.test/rss", Limit: 1})
	if err := h.ProcessTask(ctx, asynq.NewTask(TypePlaylist, body)); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.TTL(ctx, ev.key(unread)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > replyTTL {
		t.Fatalf("an unread reply stream lives %v, want at most %v", ttl, replyTTL)
	}
}
