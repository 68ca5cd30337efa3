package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
		{"one video", fmt.Errorf("playlist: %w: the URL is one video", media.ErrUnsupported), CodeNotAPlaylist},
		{"no extractor", fmt.Errorf("playlist: %w", &media.UpstreamError{Code: media.CodeUnsupportedURL}), CodeNotAPlaylist},
		{"login", fmt.Errorf("playlist: %w", &media.UpstreamError{Code: media.CodeLoginRequired, Site: "youtube"}), CodeLoginRequired},
		{"blocked", &media.UpstreamError{Code: media.CodeUpstreamBlocked, Retry: true}, CodeUpstreamBlocked},
		{"egress refused", fmt.Errorf("playlist: %w: 10.0.0.1", media.ErrURLNotAllowed), CodeURLNotAllowed},
		{"bad url", fmt.Errorf("playlist: %w", media.ErrBadURL), CodeUnsupported},
		{"empty", fmt.Errorf("playlist: %w: no entries", media.ErrUnavailable), CodeUnavailable},
		{"over cap", fmt.Errorf("playlist: %w", media.ErrTooLarge), CodeTooLarge},
		{"slow", fmt.Errorf("playlist: %w", context.DeadlineExceeded), CodeUpstream},
		{"other", errors.New("yt-dlp: exit status 1"), CodeUpstream},
	}
	for _, tt := range tests {
		got := playlistFailure(tt.err)
		if got.Code != tt.code || got.Message == "" {
			t.Errorf("%s: %+v, want code %s", tt.name, got, tt.code)
		}
	}
}
