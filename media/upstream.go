package media

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/recap/recap"
)

// Sentinels of the upstream codes that have none of their own elsewhere in
// this package (video_unavailable is ErrUnavailable, unsupported_url
// ErrUnsupported, live_not_supported ErrLive).
var (
	// ErrLoginRequired means the site wants a signed-in session.
	ErrLoginRequired = errors.New("login required")
	// ErrUpstreamBlocked means the site refuses the worker's requests for
	// now; a later attempt may pass.
	ErrUpstreamBlocked = errors.New("blocked by the site")
	// ErrGeoRestricted means the site does not offer the video in the
	// worker's country.
	ErrGeoRestricted = errors.New("geo restricted")
	// ErrDRMProtected means the media is encrypted with DRM.
	ErrDRMProtected = errors.New("drm protected")
)

// UpstreamError is a failure the video's site reported through yt-dlp,
// classified. errors.Is matches it against the sentinel of its code.
type UpstreamError struct {
	Code string
	// Site is yt-dlp's extractor name in lower case ("youtube",
	// "bilibili", "generic"), "" when yt-dlp did not say.
	Site string
	// Reason is the site's own words as yt-dlp reported them, without
	// yt-dlp's command-line advice (which names flags no API client has).
	Reason string
	// Retry reports whether a later attempt may succeed.
	Retry bool
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message())
}

// Unwrap returns the sentinel of the code.
func (e *UpstreamError) Unwrap() error {
	switch e.Code {
	case recap.CodeLoginRequired:
		return ErrLoginRequired
	case recap.CodeUpstreamBlocked:
		return ErrUpstreamBlocked
	case recap.CodeVideoUnavailable:
		return ErrUnavailable
	case recap.CodeGeoRestricted:
		return ErrGeoRestricted
	case recap.CodeUnsupportedURL:
		return ErrUnsupported
	case recap.CodeLiveNotSupported:
		return ErrLive
	case recap.CodeDRMProtected:
		return ErrDRMProtected
	case recap.CodePlaylistNotSupported:
		return ErrPlaylist
	}
	return nil
}

// Message is the sentence for the caller: what the site said and what
// would help.
func (e *UpstreamError) Message() string {
	site := siteName(e.Site)
	var what, remedy string
	switch e.Code {
	case recap.CodeLoginRequired:
		what = site + " requires a signed-in session for this video"
		remedy = "the operator can add cookies of a signed-in account for this site (COOKIES_DIR); otherwise try another URL"
	case recap.CodeUpstreamBlocked:
		what = site + " is refusing this server's requests for now"
		remedy = "retry later; if it persists, the operator can add cookies for this site (COOKIES_DIR) or pace requests (YTDLP_EXTRA_ARGS --sleep-requests)"
	case recap.CodeVideoUnavailable:
		what = "the video is unavailable on " + site + " (private, removed or never there)"
		remedy = "check the URL, or send another one"
	case recap.CodeGeoRestricted:
		what = site + " does not offer this video in this server's country"
		remedy = "send another URL for it; only a worker in an allowed region can fetch this one"
	case recap.CodeUnsupportedURL:
		what = "no video was found at this URL"
		remedy = "send the video's own page or a direct media link"
	case recap.CodeLiveNotSupported:
		what = "this is a live or upcoming broadcast"
		remedy = "send the recording's URL once the broadcast has ended"
	case recap.CodeDRMProtected:
		what = site + " encrypts this video with DRM, which cannot be read"
		remedy = "send another source of the same content"
	case recap.CodePlaylistNotSupported:
		what = "this URL is a playlist, channel, feed or multi-part video, not one video"
		remedy = `send one video's URL, or summarize every video with the jobs API (POST /api/v1/jobs {"playlist": URL, "limit": N})`
	default:
		what, remedy = site+" refused the request", "try again later"
	}
	if e.Reason != "" {
		what += fmt.Sprintf(" (%q)", e.Reason)
	}
	return what + ": " + remedy
}

// SiteName is the site as messages name it: "Bilibili", "YouTube", "the
// site" when yt-dlp did not say or used its generic extractor.
func (e *UpstreamError) SiteName() string { return siteName(e.Site) }

// siteNames spell the extractors users know by name.
var siteNames = map[string]string{
	"youtube": "YouTube", "bilibili": "Bilibili", "douyin": "Douyin", "tiktok": "TikTok",
	"vimeo": "Vimeo", "twitter": "X", "instagram": "Instagram", "facebook": "Facebook",
	"twitch": "Twitch", "soundcloud": "SoundCloud", "xiaohongshu": "Xiaohongshu", "dailymotion": "Dailymotion",
}

// siteName is the site as a message names it: "YouTube" for "youtube"
// and its variants ("youtube:tab", "bilibilisearch"), the extractor name
// for others, "the site" when unknown.
func siteName(extractor string) string {
	if extractor == "" || extractor == "generic" || extractor == "drm" {
		return "the site"
	}
	for k, v := range siteNames {
		if strings.HasPrefix(extractor, k) {
			return v
		}
	}
	return extractor
}

// upstreamRule maps yt-dlp messages to a code. The patterns come from
// yt-dlp's extractors and the sites' own wording that they pass on
// (see upstream_test.go for one real line per rule); they are matched
// against the lower-cased ERROR line, in order.
type upstreamRule struct {
	code  string
	retry bool
	re    *regexp.Regexp
}

var upstreamRules = []upstreamRule{
	{recap.CodeUnsupportedURL, false, regexp.MustCompile(`unsupported url: `)},
	{recap.CodeDRMProtected, false, regexp.MustCompile(`drm protect|known to use drm|drm-protected`)},
	{recap.CodeLiveNotSupported, false, regexp.MustCompile(
		`live event will begin|premieres? in |this live event has ended|live stream recording is not available|` +
			`waiting for (?:the )?(?:stream|video|broadcast)|is (?:currently )?(?:a )?live(?: stream)?\b|stream is offline|has not started yet`)},
	// Bilibili's answer for a missing page names both causes; deletion is
	// by far the likelier one.
	{recap.CodeVideoUnavailable, false, regexp.MustCompile(`may be deleted or geo-restricted`)},
	{recap.CodeGeoRestricted, false, regexp.MustCompile(
		`geo.?restrict|not available (?:from|in) your (?:location|country|region)|` +
			`not made this video available in your country|only available in (?:certain|some|your) (?:countries|regions)|` +
			`not available in your (?:country|region)`)},
	// A private video's page asks to sign in too; it is unavailable, not a
	// matter of cookies, unless the caller's account was granted access.
	{recap.CodeVideoUnavailable, false, regexp.MustCompile(`^private video|this video is private|this video has been (?:made )?private`)},
	{recap.CodeLoginRequired, false, regexp.MustCompile(
		`sign in to confirm|not a bot|confirm your age|age.?restricted|inappropriate for some users|` +
			`members.?only|join this channel|channel's members|premium members|supporter-only|` +
			`only available for registered users|only available to (?:logged.?in|registered|premium|subscribers)|` +
			`login required|requires? (?:a )?login|need to log ?in|needs? authentication|requires authentication|` +
			`cookies are no longer valid|use --cookies|use --username|purchase|subscription required|paid content`)},
	{recap.CodeVideoUnavailable, false, regexp.MustCompile(
		`video unavailable|this video (?:is|has been) (?:no longer available|removed|deleted|unavailable)|` +
			`has been removed|no longer available|does not exist|doesn't exist|not available anymore|` +
			`account associated with this video has been terminated|copyright claim|` +
			`http error 404|http error 410|may be deleted|video not found|this video is not available|content is not available`)},
	{recap.CodeUpstreamBlocked, true, regexp.MustCompile(
		`http error 403|http error 412|http error 429|too many requests|rate.?limit|` +
			`request is (?:blocked|rejected) by server|try again later|captcha|precondition failed`)},
}

// ytdlpSiteRE reads the extractor from "[youtube] id: message" (or
// "[youtube:tab]", "[youtube+GetPOT]").
var ytdlpSiteRE = regexp.MustCompile(`^\[([A-Za-z0-9_.-]+)(?:[:+][^\]]*)?\]\s*`)

// ytdlpAdviceRE finds where yt-dlp's own advice about its command line
// begins in a message ("Use --cookies-from-browser ...", "See  https://
// ...", "You might want to use a VPN ...").
var ytdlpAdviceRE = regexp.MustCompile(`(?i)[.;]?\s+(?:use --|see\s+https?://|also see|you might want to|please report|confirm you are on the latest|for more information, refer to|it is recommended to|\(caused by )`)

// staleCookiesRE matches yt-dlp's warning that the cookies it was given
// no longer sign in (YouTube rotates them).
var staleCookiesRE = regexp.MustCompile(`(?i)cookies are no longer valid`)

// classifyUpstream turns yt-dlp's ERROR line into an UpstreamError, or nil
// when no rule knows the message. stderr is the whole log, for warnings
// that explain the error.
func classifyUpstream(msg, stderr string) *UpstreamError {
	ue := classifyLine(msg)
	if ue != nil && ue.Code == recap.CodeLoginRequired && staleCookiesRE.MatchString(stderr) {
		ue.Reason += "; the site reports the operator's cookies as no longer valid (expired or rotated): they need renewing"
	}
	return ue
}

func classifyLine(msg string) *UpstreamError {
	site, body := "", strings.TrimSpace(msg)
	if m := ytdlpSiteRE.FindStringSubmatch(body); m != nil {
		site = strings.ToLower(m[1])
		body = body[len(m[0]):]
		// "[youtube] dQw4w9WgXcQ: Video unavailable" names the video first.
		if id, rest, ok := strings.Cut(body, ": "); ok && !strings.Contains(id, " ") {
			body = rest
		}
	}
	low := strings.ToLower(body)
	for _, r := range upstreamRules {
		if r.re.MatchString(low) {
			return &UpstreamError{Code: r.code, Site: site, Reason: trimAdvice(body), Retry: r.retry}
		}
	}
	return nil
}

// trimAdvice cuts yt-dlp's command-line advice off a message and keeps it
// to one line of bounded length.
func trimAdvice(s string) string {
	if loc := ytdlpAdviceRE.FindStringIndex(s); loc != nil && loc[0] > 0 {
		s = s[:loc[0]]
	}
	s = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(s), "."))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
