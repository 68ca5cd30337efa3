package media_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
)

// upstreamFixtures are real yt-dlp error output: each line is one yt-dlp
// prints for the case, as its extractors word it (yt-dlp's
// extractor/common.py raise_login_required, raise_geo_restricted and
// report_drm, extractor/unsupported.py, extractor/bilibili.py,
// extractor/youtube/_video.py, which passes on YouTube's own playability
// reasons, utils UnsupportedError) or as users reported them verbatim.
var upstreamFixtures = []struct {
	name   string
	stderr string
	code   string
	site   string
	retry  bool
	reason string // a fragment the caller must see
	sent   error
}{
	{"youtube not a bot", "[youtube] Extracting URL: https://www.youtube.com/watch?v=tpUr8xVxj-w\n" +
		"[youtube] tpUr8xVxj-w: Downloading webpage\n" +
		"ERROR: [youtube] tpUr8xVxj-w: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips on effectively exporting YouTube cookies",
		recap.CodeLoginRequired, "youtube", false, "Sign in to confirm you’re not a bot", media.ErrLoginRequired},
	{"youtube stale cookies", "WARNING: [youtube] The provided YouTube account cookies are no longer valid. They have likely been rotated in the browser as a security measure. For tips on how to effectively export YouTube cookies, refer to  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies .\n" +
		"ERROR: [youtube] M7FH1dL51oU: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the authentication.",
		recap.CodeLoginRequired, "youtube", false, "no longer valid", media.ErrLoginRequired},
	{"youtube age gate", "ERROR: [youtube] 07FYdnEawAQ: Sign in to confirm your age. This video may be inappropriate for some users. Use --cookies-from-browser or --cookies for the authentication.",
		recap.CodeLoginRequired, "youtube", false, "confirm your age", media.ErrLoginRequired},
	{"youtube members only", "ERROR: [youtube] Ds8Zy3dGrM0: Join this channel to get access to members-only content like this video, and other exclusive perks.",
		recap.CodeLoginRequired, "youtube", false, "members-only", media.ErrLoginRequired},
	{"bilibili premium", "ERROR: [BiliBili] BV1Sk4y1x7r2: This video is for premium members only. Use --cookies, --cookies-from-browser, --username and --password, --netrc-cmd, or --netrc (bilibili) to provide account credentials. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies",
		recap.CodeLoginRequired, "bilibili", false, "premium members only", media.ErrLoginRequired},
	{"registered users", "ERROR: [vimeo] 76979871: This video is only available for registered users. Use --cookies, --cookies-from-browser, --username and --password, --netrc-cmd, or --netrc (vimeo) to provide account credentials.",
		recap.CodeLoginRequired, "vimeo", false, "registered users", media.ErrLoginRequired},

	{"bilibili 412", "[BiliBili] Extracting URL: https://www.bilibili.com/video/BV1m87D6iEh1\n" +
		"ERROR: [BiliBili] BV1m87D6iEh1: Unable to download webpage: HTTP Error 412: Precondition Failed (caused by <HTTPError 412: Precondition Failed>)",
		recap.CodeUpstreamBlocked, "bilibili", true, "412", media.ErrUpstreamBlocked},
	{"bilibili blocked", "ERROR: [BiliBiliSearch] 安卓: Request is blocked by server (412), please wait and try later.",
		recap.CodeUpstreamBlocked, "bilibilisearch", true, "blocked by server", media.ErrUpstreamBlocked},
	{"youtube 429", "ERROR: [youtube] dQw4w9WgXcQ: Unable to download API page: HTTP Error 429: Too Many Requests (caused by <HTTPError 429: Too Many Requests>)",
		recap.CodeUpstreamBlocked, "youtube", true, "429", media.ErrUpstreamBlocked},
	{"youtube rate limited", "ERROR: [youtube] dQw4w9WgXcQ: This content isn't available, try again later. The current session has been rate-limited by YouTube for up to an hour. It is recommended to use `-t sleep` to add a delay between video requests to avoid exceeding the rate limit.",
		recap.CodeUpstreamBlocked, "youtube", true, "try again later", media.ErrUpstreamBlocked},
	{"media 403", "[download] Destination: /tmp/audio.webm\nERROR: unable to download video data: HTTP Error 403: Forbidden",
		recap.CodeUpstreamBlocked, "", true, "403", media.ErrUpstreamBlocked},

	{"youtube unavailable", "ERROR: [youtube] aaaaaaaaaaa: Video unavailable",
		recap.CodeVideoUnavailable, "youtube", false, "Video unavailable", media.ErrUnavailable},
	{"youtube private", "ERROR: [youtube] yYr8q0y5Jfg: Private video. Sign in if you've been granted access to this video. Use --cookies-from-browser or --cookies for the authentication.",
		recap.CodeVideoUnavailable, "youtube", false, "Private video", media.ErrUnavailable},
	{"youtube removed", "ERROR: [youtube] 6JAmi4rpUzk: Video unavailable. This video has been removed by the uploader",
		recap.CodeVideoUnavailable, "youtube", false, "removed by the uploader", media.ErrUnavailable},
	{"youtube terminated", "ERROR: [youtube] s7_qI6_mIXc: Video unavailable. This video is no longer available because the YouTube account associated with this video has been terminated.",
		recap.CodeVideoUnavailable, "youtube", false, "terminated", media.ErrUnavailable},
	{"generic 404", "ERROR: [generic] gone: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
		recap.CodeVideoUnavailable, "generic", false, "404", media.ErrUnavailable},
	{"bilibili deleted", "ERROR: [BiliBili] BV1xx411c7mu: This video may be deleted or geo-restricted. You might want to try a VPN or a proxy server (with --proxy)",
		recap.CodeVideoUnavailable, "bilibili", false, "may be deleted", media.ErrUnavailable},

	{"youtube geo", "ERROR: [youtube] sJL6WA-aGkQ: The uploader has not made this video available in your country.\nThis video is available in Germany.\nYou might want to use a VPN or a proxy server (with --proxy) to workaround.",
		recap.CodeGeoRestricted, "youtube", false, "available in your country", media.ErrGeoRestricted},
	{"geo default", "ERROR: [ARD] 12345: This video is not available from your location due to geo restriction\nYou might want to use a VPN or a proxy server (with --proxy) to workaround.",
		recap.CodeGeoRestricted, "ard", false, "geo restriction", media.ErrGeoRestricted},

	{"unsupported", "WARNING: [generic] Falling back on generic information extractor\nERROR: [generic] Unsupported URL: https://example.com/about",
		recap.CodeUnsupportedURL, "generic", false, "Unsupported URL", media.ErrUnsupported},

	{"upcoming live", "ERROR: [youtube+GetPOT] zDDmqpnkPy8: This live event will begin in 2 days.",
		recap.CodeLiveNotSupported, "youtube", false, "will begin in 2 days", media.ErrLive},
	{"premiere", "ERROR: [youtube] CviUGzWvm6w: Premieres in 6 hours",
		recap.CodeLiveNotSupported, "youtube", false, "Premieres in 6 hours", media.ErrLive},

	{"known drm site", "ERROR: [DRM] 80018499: The requested site is known to use DRM protection. It will NOT be supported.\nPlease DO NOT open an issue, unless you have evidence that the video is not DRM protected",
		recap.CodeDRMProtected, "drm", false, "DRM protection", media.ErrDRMProtected},
	{"drm formats", "ERROR: [youtube] Lz3dBdS4Rzw: This video is DRM protected",
		recap.CodeDRMProtected, "youtube", false, "DRM protected", media.ErrDRMProtected},
}

// standInYtDlp writes a yt-dlp stand-in that prints the fixture named by
// the last path segment of its URL argument to stderr and fails, as yt-dlp
// does.
func standInYtDlp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, f := range upstreamFixtures {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("fixture-%d.txt", i)), []byte(f.stderr+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
for a; do last=$a; done
cat "%s/fixture-${last##*/}.txt" >&2
exit 1
`, dir)
	path := filepath.Join(dir, "yt-dlp")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every fixture line becomes its code, site, retry rule and a message that
// names the site's reason and the remedy, without yt-dlp's command-line
// advice; through Resolve and DownloadAudio alike.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, media.Config{YtDlpPath: standInYtDlp(t)})
	ctx := context.Background()
	for i, f := range upstreamFixtures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			url := fmt.Sprintf("https://video.example/%d", i)
			_, rerr := c.Resolve(ctx, url)
			_, derr := c.DownloadAudio(ctx, url, nil, t.TempDir(), nil)
			for _, err := range []error{rerr, derr} {
				var ue *media.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("error %v is not an *UpstreamError", err)
				}
				if ue.Code != f.code || ue.Site != f.site || ue.Retry != f.retry {
					t.Errorf("got code %s site %q retry %v, want %s %q %v", ue.Code, ue.Site, ue.Retry, f.code, f.site, f.retry)
				}
				if !errors.Is(err, f.sent) {
					t.Errorf("errors.Is(%v, %v) = false", err, f.sent)
				}
				msg := ue.Message()
				t.Log(msg)
				if !strings.Contains(msg, f.reason) {
					t.Errorf("message %q lacks the site's reason %q", msg, f.reason)
				}
				if strings.Contains(msg, "--cookies") || strings.Contains(msg, "github.com/yt-dlp") || strings.Contains(msg, "--proxy)") {
					t.Errorf("message %q repeats yt-dlp's command-line advice", msg)
				}
				remedy := map[string]string{
					recap.CodeLoginRequired: "cookies", recap.CodeUpstreamBlocked: "retry later",
					recap.CodeVideoUnavailable: "another", recap.CodeGeoRestricted: "another URL",
					recap.CodeUnsupportedURL: "direct media link", recap.CodeLiveNotSupported: "once the broadcast has ended",
					recap.CodeDRMProtected: "another source",
				}[f.code]
				if !strings.Contains(msg, remedy) {
					t.Errorf("message %q does not name the remedy (%q)", msg, remedy)
				}
			}
		})
	}
}

// Lines no rule knows stay ordinary (retryable) failures.
func TestUpstreamUnknown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "yt-dlp")
	script := "#!/bin/sh\necho 'ERROR: [youtube] abc: Unable to extract yt initial data; please report this issue on  https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate issue template.' >&2\nexit 1\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := setup(t, media.Config{YtDlpPath: path})
	_, err := c.Resolve(context.Background(), "https://www.youtube.com/watch?v=abc")
	var ue *media.UpstreamError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "Unable to extract yt initial data") {
		t.Fatalf("Resolve = %v, want an unclassified error carrying yt-dlp's line", err)
	}
}
