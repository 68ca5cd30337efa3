package core

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recap/recap"
)

func TestPlaylistRequestValidate(t *testing.T) {
	t.Parallel()
	caller := &recap.Caller{ID: 1, AccountID: 1}
	intp := func(n int) *int { return &n }
	tests := []struct {
		name  string
		r     PlaylistRequest
		limit int
		code  string
	}{
		{"default limit", PlaylistRequest{Playlist: "https://example.com/feed.rss"}, DefaultPlaylistLimit, ""},
		{"limit one", PlaylistRequest{Playlist: "https://example.com/feed.rss", Limit: intp(1)}, 1, ""},
		{"limit max", PlaylistRequest{Playlist: " https://example.com/feed.rss ", Limit: intp(MaxPlaylistLimit)}, MaxPlaylistLimit, ""},
		{"limit zero", PlaylistRequest{Playlist: "https://example.com/feed.rss", Limit: intp(0)}, 0, "invalid_limit"},
		{"limit over", PlaylistRequest{Playlist: "https://example.com/feed.rss", Limit: intp(MaxPlaylistLimit + 1)}, 0, "invalid_limit"},
		{"no url", PlaylistRequest{}, 0, "invalid_url"},
		{"not http", PlaylistRequest{Playlist: "ftp://example.com/feed.rss"}, 0, "invalid_url"},
		{"too long", PlaylistRequest{Playlist: "https://example.com/" + strings.Repeat("a", MaxURLLength)}, 0, "url_too_long"},
		{"urls too", PlaylistRequest{Playlist: "https://example.com/feed.rss", BatchRequest: BatchRequest{URLs: []string{"https://example.com/v"}}}, 0, "invalid_request"},
		{"bad language", PlaylistRequest{Playlist: "https://example.com/feed.rss", BatchRequest: BatchRequest{AudioLanguage: "english!"}}, 0, "invalid_language"},
	}
	for _, tt := range tests {
		tt.r.Caller = caller
		limit, err := tt.r.validate()
		if tt.code == "" {
			if err != nil || limit != tt.limit {
				t.Errorf("%s: validate = %d, %v; want %d", tt.name, limit, err, tt.limit)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Kind != KindInvalid {
			t.Errorf("%s: validate error %v, want %s", tt.name, err, tt.code)
		}
	}
}

func TestPlaylistError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		kind Kind
	}{
		{recap.CodeNotAPlaylist, KindInvalid},
		{recap.CodeURLNotAllowed, KindInvalid},
		{"login_required", KindInvalid},
		{"upstream_blocked", KindUnavailable},
		{recap.CodeVideoUnavailable, KindNotFound},
		{recap.CodeUpstream, KindUpstream},
		{"something_new", KindUpstream},
	}
	for _, tt := range tests {
		e := As(playlistError(&recap.ErrorInfo{Code: tt.code, Message: "why"}))
		if e.Kind != tt.kind || e.Code != tt.code || e.Param != "playlist" {
			t.Errorf("%s: %+v, want kind %d", tt.code, e, tt.kind)
		}
	}
}

func TestSiteText(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"plain", "nul\x00inside", "bad \xff utf8", strings.Repeat("長", 500)} {
		out := siteText(in, 300)
		if !utf8.ValidString(out) || strings.ContainsRune(out, 0) || utf8.RuneCountInString(out) > 301 {
			t.Errorf("siteText(%q) = %q", in, out)
		}
	}
}

func TestCheckNotPlaylist(t *testing.T) {
	t.Parallel()
	if err := CheckNotPlaylist("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "messages"); err != nil {
		t.Errorf("a video refused: %v", err)
	}
	var e *Error
	err := CheckNotPlaylist("https://www.youtube.com/playlist?list=PL1", "messages")
	if !errors.As(err, &e) || e.Kind != KindInvalid || e.Code != "playlist_not_supported" || !strings.Contains(e.Message, "/api/v1/jobs") {
		t.Errorf("playlist: %v", err)
	}
}
