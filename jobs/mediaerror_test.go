package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
)

// Every media failure becomes a job error with the right code and retry
// rule: a site's refusal keeps its code and message (only a block that may
// lift is retried), a refused scheme (a redirect to file://) and a format
// that cannot be confined end the job at once.
func TestMediaErrorClassification(t *testing.T) {
	t.Parallel()
	up := func(code string, retry bool) error {
		return fmt.Errorf("resolve: %w", &media.UpstreamError{Code: code, Site: "youtube", Reason: "the site's words", Retry: retry})
	}
	tests := []struct {
		err       error
		code      string
		permanent bool
		says      string
	}{
		{up(recap.CodeLoginRequired, false), recap.CodeLoginRequired, true, "COOKIES_DIR"},
		{up(recap.CodeUpstreamBlocked, true), recap.CodeUpstreamBlocked, false, "retry later"},
		{up(recap.CodeVideoUnavailable, false), recap.CodeVideoUnavailable, true, "the site's words"},
		{up(recap.CodeGeoRestricted, false), recap.CodeGeoRestricted, true, "country"},
		{up(recap.CodeUnsupportedURL, false), recap.CodeUnsupportedURL, true, "direct media link"},
		{up(recap.CodeLiveNotSupported, false), recap.CodeLiveNotSupported, true, "broadcast has ended"},
		{up(recap.CodeDRMProtected, false), recap.CodeDRMProtected, true, "DRM"},
		{fmt.Errorf("download: %w: the site sent yt-dlp to a URL scheme it never follows: HTTP Error 302: Found", media.ErrURLNotAllowed),
			recap.CodeURLNotAllowed, true, "may not contact"},
		{fmt.Errorf("download: %w: the stream can only be fetched by ffmpeg", media.ErrUnconfinable), recap.CodeUnsupportedURL, true, "try another URL"},
		{fmt.Errorf("probe: %w: the file is an HLS playlist, not audio or video", media.ErrNotMedia), recap.CodeUnsupportedMedia, true, "playlist or manifest"},
		{errors.New("download: yt-dlp: Unable to extract yt initial data: exit status 1"), recap.CodeUpstream, false, "fetching the video failed"},
	}
	for _, tt := range tests {
		var je *Error
		if !errors.As(mediaError(tt.err), &je) {
			t.Fatalf("mediaError(%v) is not a job error", tt.err)
		}
		if je.Code != tt.code || je.Permanent != tt.permanent || !strings.Contains(je.Message, tt.says) {
			t.Errorf("mediaError(%v) = code %s permanent %v message %q; want %s %v containing %q",
				tt.err, je.Code, je.Permanent, je.Message, tt.code, tt.permanent, tt.says)
		}
	}
}

// refusingMedia is a Media whose Resolve fails with a given error.
type refusingMedia struct {
	Media
	err error
}

func (r refusingMedia) Resolve(context.Context, string) (*media.Info, error) { return nil, r.err }

// Each site refusal is counted in recap_upstream_failures_total by site
// and code, beside the tool's failure count.
func TestUpstreamFailureCounted(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	for _, e := range []*media.UpstreamError{
		{Code: recap.CodeLoginRequired, Site: "youtube"},
		{Code: recap.CodeLoginRequired, Site: "youtube"},
		{Code: recap.CodeUpstreamBlocked, Site: "bilibili", Retry: true},
		{Code: recap.CodeVideoUnavailable},
	} {
		o := observedMedia{refusingMedia{err: fmt.Errorf("resolve: %w", e)}, m}
		if _, err := o.Resolve(context.Background(), "https://example.com/v"); err == nil {
			t.Fatal("Resolve succeeded")
		}
	}
	want := `
# HELP recap_upstream_failures_total Video sites' refusals seen by yt-dlp, by site (yt-dlp's extractor) and code (login_required, upstream_blocked, video_unavailable, geo_restricted, unsupported_url, live_not_supported, drm_protected).
# TYPE recap_upstream_failures_total counter
recap_upstream_failures_total{code="login_required",site="youtube"} 2
recap_upstream_failures_total{code="upstream_blocked",site="bilibili"} 1
recap_upstream_failures_total{code="video_unavailable",site="unknown"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "recap_upstream_failures_total"); err != nil {
		t.Error(err)
	}
	if got := mediaCause(&media.UpstreamError{Code: recap.CodeLoginRequired}); got != "login_required" {
		t.Errorf("mediaCause = %s", got)
	}
}

// A site's permanent refusal is the request's outcome, not a queue
// failure; a block that outlasted the retries is upstream's.
func TestUpstreamCodesCallerCaused(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		recap.CodeLoginRequired: true, recap.CodeGeoRestricted: true, recap.CodeDRMProtected: true,
		recap.CodeVideoUnavailable: true, recap.CodeUnsupportedURL: true, recap.CodeLiveNotSupported: true, recap.CodeUpstreamBlocked: false,
	} {
		if got := callerCaused(code); got != want {
			t.Errorf("callerCaused(%s) = %v, want %v", code, got, want)
		}
	}
}
