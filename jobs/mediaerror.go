package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
)

// mediaFailures is the one classification of media failures: the job's
// error code and message (permanent: no retry can succeed) and the cause
// label of recap_media_failures_total, first match wins. A site's refusal
// (media.UpstreamError) carries its own code and message; its sentinels
// are listed for the metric only (msg empty).
var mediaFailures = []struct {
	err   error
	code  string
	cause string
	msg   string
}{
	{media.ErrURLNotAllowed, recap.CodeURLNotAllowed, "url_not_allowed", "the video URL points at an address this server may not contact"},
	{media.ErrUnsupported, recap.CodeUnsupportedURL, "unsupported", "no video was found at this URL"},
	{media.ErrBadURL, recap.CodeUnsupportedURL, "unsupported", "no video was found at this URL"},
	{media.ErrUnavailable, recap.CodeVideoUnavailable, "unavailable", "the video is unavailable (removed, private or blocked)"},
	{media.ErrMediaTooLong, recap.CodeMediaTooLong, "too_long", "the media is longer than this server accepts"},
	{media.ErrLive, recap.CodeLiveNotSupported, "live", "live streams cannot be summarized"},
	{media.ErrTooLarge, recap.CodeTooLarge, "too_large", "the media file is larger than this server accepts"},
	{media.ErrNotMedia, recap.CodeUnsupportedMedia, "unsupported_media", "the URL serves a file that is not audio or video this server reads " +
		"(a playlist or manifest served as a media file is refused); send the video's page or a direct media file"},
	{media.ErrUnconfinable, recap.CodeUnsupportedURL, "unconfinable", "the video is only offered in a form this server will not download " +
		"(RTMP, RTSP, or an HLS stream only ffmpeg can read, which is kept off the network); try another URL"},
	{media.ErrLoginRequired, recap.CodeLoginRequired, "login_required", ""},
	{media.ErrUpstreamBlocked, recap.CodeUpstreamBlocked, "upstream_blocked", ""},
	{media.ErrGeoRestricted, recap.CodeGeoRestricted, "geo_restricted", ""},
	{media.ErrDRMProtected, recap.CodeDRMProtected, "drm_protected", ""},
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
	for _, f := range mediaFailures {
		if f.msg != "" && errors.Is(err, f.err) {
			return permanent(f.code, f.msg, err)
		}
	}
	return &Error{Code: recap.CodeUpstream, Message: "fetching the video failed: " + err.Error(), Err: err}
}

// mediaCause names why a media call failed, for metrics.
func mediaCause(err error) string {
	for _, f := range mediaFailures {
		if errors.Is(err, f.err) {
			return f.cause
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "other"
}

// imageError classifies the failed fetch of a job's image i (from 0): a
// host the policy forbids is url_not_allowed; what the image itself is to
// blame for (media.ImagePermanent: a 4xx but 408 and 429, a redirect
// loop, bytes that are no image, too many of them) is invalid_image; both
// end the job at once. The rest (a 5xx, a time-out) is retried.
func imageError(i int, err error) error {
	switch {
	case errors.Is(err, media.ErrURLNotAllowed):
		return permanent(recap.CodeURLNotAllowed, fmt.Sprintf("image %d: its host (or a redirect's) is not allowed", i+1), err)
	case media.ImagePermanent(err):
		return permanent(recap.CodeInvalidImage, fmt.Sprintf("image %d: %v", i+1, err), err)
	}
	return &Error{Code: recap.CodeUpstream, Message: fmt.Sprintf("image %d could not be fetched: %v", i+1, err), Err: err}
}
