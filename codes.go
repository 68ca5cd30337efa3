package recap

// The codes a job can end with, and the request codes more than one
// package records. Each has a row in core's code table (core/codes.go:
// kind, HTTP status, retry rule, the docs' wording); a test checks every
// code here has one. A new code is a constant here and a row there.
const (
	// CodeNoTranscript: no subtitles and speech-to-text is off, or nothing
	// is said in the range.
	CodeNoTranscript = "no_transcript"
	// CodeMediaTooLong: longer than the server accepts.
	CodeMediaTooLong = "media_too_long"
	// CodeTooLarge: a media file larger than the server accepts.
	CodeTooLarge = "media_too_large"
	// CodeURLNotAllowed: the URL (or a redirect) points where the server
	// may not go.
	CodeURLNotAllowed = "url_not_allowed"
	// CodeInsufficientQuota: not enough credit.
	CodeInsufficientQuota = "insufficient_quota"
	// CodeUpstream: the LLM, speech-to-text or the site failed through
	// every retry.
	CodeUpstream = "upstream_error"
	// CodeCanceled: the caller canceled the job.
	CodeCanceled = "canceled"
	// CodeInternal: Recap failed.
	CodeInternal = "internal_error"
	// CodeInvalidImage: an image URL that is not an image (or answers
	// 404, or redirects forever).
	CodeInvalidImage = "invalid_image"
	// CodeInvalidRange: a start/end range that does not fit the video: it
	// starts at or after the video's end, or ends past it.
	CodeInvalidRange = "invalid_range"
	// CodeFileNotFound: the uploaded file a job was admitted with was
	// deleted or expired before the worker read it.
	CodeFileNotFound = "file_not_found"
	// CodeUnsupportedMedia: the downloaded file is no media Recap reads (a
	// playlist or manifest disguised as a video, or a container off the
	// format allow-list).
	CodeUnsupportedMedia = "unsupported_media"
	// CodeNotAPlaylist: a playlist URL that is one video (it belongs in
	// urls).
	CodeNotAPlaylist = "not_a_playlist"

	// A video site's refusal (media.UpstreamError) carries one of these.
	// Only upstream_blocked is retried.

	// CodeLoginRequired: the site wants a signed-in session (sign-in,
	// "not a bot" checks, members-only, age gates, expired cookies).
	CodeLoginRequired = "login_required"
	// CodeUpstreamBlocked: the site refuses the worker's requests for now
	// (HTTP 403, 412, 429, rate limits). The only code worth a retry.
	CodeUpstreamBlocked = "upstream_blocked"
	// CodeVideoUnavailable: private, removed, or not there (404, 410).
	CodeVideoUnavailable = "video_unavailable"
	// CodeGeoRestricted: not offered in the worker's country.
	CodeGeoRestricted = "geo_restricted"
	// CodeUnsupportedURL: no yt-dlp extractor understands the URL.
	CodeUnsupportedURL = "unsupported_url"
	// CodeLiveNotSupported: a live or upcoming broadcast.
	CodeLiveNotSupported = "live_not_supported"
	// CodeDRMProtected: the media is encrypted with DRM.
	CodeDRMProtected = "drm_protected"
	// CodePlaylistNotSupported: a playlist URL where one video was
	// expected (a chat completion); the jobs API expands it.
	CodePlaylistNotSupported = "playlist_not_supported"

	// CodeSchemaValidationFailed: the model's JSON broke the caller's
	// schema twice (the second try is told the errors).
	CodeSchemaValidationFailed = "schema_validation_failed"
	// CodeResponseFormatUnsupported: a response format asked of what
	// cannot produce one (the offline summarizer, a follow-up question).
	CodeResponseFormatUnsupported = "response_format_unsupported"
	// CodeInvalidResponseFormat: a response format that can never be
	// followed.
	CodeInvalidResponseFormat = "invalid_response_format"
	// CodeModelError: the model answered nothing, or nothing the
	// transcript supports: permanent, not the caller's doing, not charged.
	CodeModelError = "model_error"
	// CodeUpstreamRejected: the LLM answered a 4xx other than 408, 409
	// and 429: the same request fails the same way, so not retried.
	CodeUpstreamRejected = "upstream_rejected"
	// CodeContextLength: the transcript is too long for the model (send a
	// range or another model).
	CodeContextLength = "context_length_exceeded"
	// CodeTranscription: speech-to-text refused the audio (a 4xx other
	// than 408, 409, 429).
	CodeTranscription = "transcription_failed"
)
