package media_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
)

// TestPlaylistFeed expands a loopback RSS feed with the real yt-dlp
// generic extractor: one flat run, entries in feed order, the limit
// honoured, and no episode fetched.
func TestPlaylistFeed(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	feed, eps := b.host.ServeFeed("/pod.rss", 3)
	tests := []struct {
		limit int
		want  int
	}{{50, 3}, {3, 3}, {2, 2}, {1, 1}}
	for _, tt := range tests {
		p, err := c.Playlist(context.Background(), feed, tt.limit)
		if err != nil {
			t.Fatalf("Playlist(limit %d): %v", tt.limit, err)
		}
		if len(p.Entries) != tt.want || p.Count != 3 || p.Title != "Recap test podcast" || p.Extractor != "Generic" {
			t.Fatalf("Playlist(limit %d) = %+v, want %d of 3 entries of the feed", tt.limit, p, tt.want)
		}
		for i, e := range p.Entries {
			if e.URL != b.host.URL(eps[i].Path) || e.Title != eps[i].Title {
				t.Errorf("entry %d = %+v, want %s at %s", i, e, eps[i].Title, b.host.URL(eps[i].Path))
			}
		}
	}
	for _, ep := range eps {
		if n := b.host.Hits(ep.Path); n != 0 {
			t.Errorf("%s fetched %d times by a flat extraction", ep.Path, n)
		}
	}
}

func TestPlaylistRefusals(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	ctx := context.Background()
	// One video is not a playlist.
	if _, err := c.Playlist(ctx, b.host.PageURL(), 10); !errors.Is(err, media.ErrUnsupported) || errors.Is(err, media.ErrPlaylist) {
		t.Errorf("Playlist(a video page) = %v, want ErrUnsupported", err)
	}
	for _, limit := range []int{0, -1, media.MaxPlaylistEntries + 1} {
		if _, err := c.Playlist(ctx, b.host.URL("/pod.rss"), limit); err == nil {
			t.Errorf("Playlist(limit %d) succeeded", limit)
		}
	}
	if _, err := c.Playlist(ctx, "file:///etc/passwd", 10); !errors.Is(err, media.ErrBadURL) {
		t.Errorf("Playlist(file://) = %v, want ErrBadURL", err)
	}
	if _, err := c.Playlist(ctx, b.host.URL("/missing.rss"), 10); err == nil {
		t.Error("Playlist(a 404) succeeded")
	}
}

// TestResolvePlaylist: resolving a feed as one video is ErrPlaylist, an
// UpstreamError with code playlist_not_supported naming the jobs API, and
// extracts none of the episodes.
func TestResolvePlaylist(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	feed, eps := b.host.ServeFeed("/pod.rss", 3)
	_, err := c.Resolve(context.Background(), feed)
	var ue *media.UpstreamError
	if !errors.Is(err, media.ErrPlaylist) || !errors.Is(err, media.ErrUnsupported) || !errors.As(err, &ue) ||
		ue.Code != recap.CodePlaylistNotSupported {
		t.Fatalf("Resolve(feed) = %v, want an UpstreamError playlist_not_supported", err)
	}
	if !strings.Contains(ue.Message(), "/api/v1/jobs") {
		t.Errorf("message %q does not name the jobs API", ue.Message())
	}
	for _, ep := range eps {
		if n := b.host.Hits(ep.Path); n != 0 {
			t.Errorf("%s fetched %d times while resolving the feed", ep.Path, n)
		}
	}
	// A video page still resolves.
	if _, err := c.Resolve(context.Background(), b.host.PageURL()); err != nil {
		t.Errorf("Resolve(video page): %v", err)
	}
}

func TestIsPlaylistURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", true},
		{"https://www.youtube.com/watch?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", true},
		{"https://www.youtube.com/@LinusTechTips", true},
		{"https://www.youtube.com/@LinusTechTips/videos", true},
		{"https://www.youtube.com/channel/UC0vBXGSyV14uvJ4hECDOl0Q", true},
		{"https://www.youtube.com/c/somename", true},
		{"https://www.youtube.com/user/somename", true},
		{"https://www.bilibili.com/list/watchlater", true},
		{"https://www.bilibili.com/medialist/detail/ml123", true},
		{"https://space.bilibili.com/12345/channel/collectiondetail?sid=1", true},
		{"https://www.bilibili.com/bangumi/media/md28229233", true},
		{"https://vimeo.com/showcase/123456", true},
		{"https://vimeo.com/channels/staffpicks", true},
		{"https://example.com/podcast/feed.rss", true},
		{"https://example.com/podcast.xml", true},
		{"https://example.com/blog/feed", true},
		{"https://example.com/atom.ATOM", true},
		{"https://example.com/rss", true},
		// Videos.
		{"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL123", false},
		{"https://youtu.be/dQw4w9WgXcQ", false},
		{"https://www.bilibili.com/video/BV1Sk4y1x7r2?p=2", false},
		{"https://www.bilibili.com/list/watchlater?bvid=BV1Sk4y1x7r2", false},
		{"https://www.bilibili.com/bangumi/play/ep123", false},
		{"https://vimeo.com/76979871", false},
		{"https://vimeo.com/channels/staffpicks/76979871", false},
		{"https://example.com/talk.webm", false},
		{"https://example.com/", false},
		{"https://example.com/feeds/talk.html", false},
		{"not a url", false},
		{"ftp://example.com/feed.rss", false},
	}
	for _, tt := range tests {
		if got := media.IsPlaylistURL(tt.in); got != tt.want {
			t.Errorf("IsPlaylistURL(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
