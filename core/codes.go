package core

import (
	"slices"

	"github.com/recap/recap"
)

// Retry is whether the same request, sent again unchanged, can succeed:
// the HTTP door's x-should-retry header, which OpenAI's SDKs obey.
type Retry int8

// Retry rules.
const (
	// RetryByKind defers to the kind's rule (see Kind.Retryable).
	RetryByKind Retry = iota
	// RetryNo: the same request fails the same way; change it first.
	RetryNo
	// RetryYes: the same request may succeed later.
	RetryYes
)

// Code is one row of the code table: a stable error code, its kind (which
// each door maps to its own status, api in statusOf), whether a retry can
// help, and the meaning docs/api.md gives it.
type Code struct {
	Code  string
	Kind  Kind
	Retry Retry
	// Job marks codes a job can end with (recorded by the worker, replayed
	// by JobError); the rest are refusals of a request before any job.
	Job bool
	// Doc is the meaning, as docs/api.md's error table words it.
	Doc string
}

// codeTable is the one table of error codes: every code a job can end
// with, and every code docs/api.md's error table names. A new error is a
// new row here (and a line in docs/api.md: TestDocsErrorTable checks).
// Request checks that name the field at fault (invalid_limit,
// missing_purpose, …) are KindInvalid by construction and need no row.
var codeTable = []Code{
	// The request, before any job.
	{Code: "invalid_json", Kind: KindInvalid, Doc: "the body is not JSON"},
	{Code: "missing_messages", Kind: KindInvalid, Doc: "no messages"},
	{Code: "missing_video_url", Kind: KindInvalid, Doc: "no video URL in the messages"},
	{Code: "invalid_url", Kind: KindInvalid, Doc: "the URL is not an http(s) URL"},
	{Code: "invalid_content_type", Kind: KindInvalid, Doc: "the body is not application/json (or multipart where a file is sent)"},
	{Code: "request_too_large", Kind: KindInvalid, Doc: "the body is over the limit"},
	{Code: "prompt_too_long", Kind: KindInvalid, Doc: "the prompt is over the limit"},
	{Code: "invalid_idempotency_key", Kind: KindInvalid, Doc: "see Idempotency"},
	{Code: "invalid_api_key", Kind: KindUnauthorized, Doc: "no valid key or token"},
	{Code: "insufficient_scope", Kind: KindForbidden, Doc: "the key or token lacks the scope"},
	{Code: "not_found", Kind: KindNotFound, Doc: "no such route or object"},
	{Code: "model_not_found", Kind: KindNotFound, Doc: "no such model"},
	{Code: "method_not_allowed", Kind: KindMethodNotAllowed, Doc: "the path exists; Allow lists its methods"},
	{Code: "idempotency_key_reused", Kind: KindConflict, Retry: RetryNo, Doc: "the key was used for another request"},
	{Code: "summary_not_ready", Kind: KindConflict, Retry: RetryYes, Doc: "the job has no summary yet (retry-after)"},
	{Code: "file_too_large", Kind: KindTooLarge, Retry: RetryNo, Doc: "an upload (or inline file_data) over the size limit"},
	{Code: "rate_limit_exceeded", Kind: KindRateLimited, Doc: "over the key's requests per minute (retry-after)"},
	{Code: "too_many_streams", Kind: KindRateLimited, Doc: "over the key's concurrent streams"},
	{Code: "job_still_running", Kind: KindTimeout, Doc: "a non-stream request outlived SYNC_WAIT_SECONDS; the job goes on"},
	{Code: "timeout", Kind: KindTimeout, Doc: "no worker answered in time (a playlist listing)"},
	{Code: recap.CodeInvalidResponseFormat, Kind: KindInvalid, Doc: "a response_format that can never be followed (see Structured output)"},

	// What a job can end with.
	{Code: recap.CodeNoTranscript, Kind: KindInvalid, Job: true, Doc: "the video has no subtitles and speech-to-text is off, or nothing is said in the range"},
	{Code: recap.CodeMediaTooLong, Kind: KindInvalid, Job: true, Doc: "the media is longer than the server accepts"},
	{Code: recap.CodeTooLarge, Kind: KindInvalid, Job: true, Doc: "the media file is larger than the server accepts"},
	{Code: recap.CodeLiveNotSupported, Kind: KindInvalid, Job: true, Doc: "a live or upcoming broadcast"},
	{Code: recap.CodeUnsupportedURL, Kind: KindInvalid, Job: true, Doc: "no video at this URL"},
	{Code: recap.CodeUnsupportedMedia, Kind: KindInvalid, Retry: RetryNo, Job: true, Doc: "the downloaded file is no media Recap reads (a playlist or manifest disguised as a video, or a container off the allow-list)"},
	{Code: recap.CodeURLNotAllowed, Kind: KindInvalid, Job: true, Doc: "the URL (or a redirect) points where the server may not go"},
	{Code: recap.CodeLoginRequired, Kind: KindInvalid, Job: true, Doc: "the site wants a signed-in session"},
	{Code: recap.CodeGeoRestricted, Kind: KindInvalid, Job: true, Doc: "not offered in the server's country"},
	{Code: recap.CodeDRMProtected, Kind: KindInvalid, Job: true, Doc: "encrypted with DRM"},
	{Code: recap.CodePlaylistNotSupported, Kind: KindInvalid, Job: true, Doc: "a playlist where one video was expected"},
	{Code: recap.CodeNotAPlaylist, Kind: KindInvalid, Job: true, Doc: "no playlist at a playlist URL"},
	{Code: recap.CodeInvalidImage, Kind: KindInvalid, Job: true, Doc: "an image URL that is not an image"},
	{Code: recap.CodeInvalidRange, Kind: KindInvalid, Job: true, Doc: "start/end outside the video"},
	{Code: recap.CodeResponseFormatUnsupported, Kind: KindInvalid, Job: true, Doc: "JSON output asked of the offline summarizer"},
	{Code: recap.CodeContextLength, Kind: KindInvalid, Retry: RetryNo, Job: true, Doc: "the transcript is too long for the model (send a range or another model)"},
	{Code: recap.CodeVideoUnavailable, Kind: KindNotFound, Job: true, Doc: "the video is private, removed or never there"},
	// An upload the job was admitted with, deleted or expired before the
	// worker read it: the same code and status as the upload missing at
	// admission, so a client has one branch for it (upload again).
	{Code: recap.CodeFileNotFound, Kind: KindNotFound, Job: true, Doc: "no such uploaded file (deleted or expired, before or after the job was admitted)"},
	{Code: recap.CodeInsufficientQuota, Kind: KindQuota, Retry: RetryNo, Job: true, Doc: "not enough credit"},
	{Code: recap.CodeSchemaValidationFailed, Kind: KindUnprocessable, Retry: RetryNo, Job: true, Doc: "the model's JSON broke the response_format schema twice"},
	{Code: recap.CodeCanceled, Kind: KindCanceled, Retry: RetryNo, Job: true, Doc: "the job was canceled"},
	{Code: recap.CodeUpstream, Kind: KindUpstream, Job: true, Doc: "the LLM, speech-to-text or the video's site failed through every retry"},
	{Code: recap.CodeModelError, Kind: KindUpstream, Retry: RetryNo, Job: true, Doc: "the model answered nothing, or nothing the transcript supports; the job is not charged"},
	{Code: recap.CodeUpstreamRejected, Kind: KindUpstream, Retry: RetryNo, Job: true, Doc: "the LLM refused the request (a 4xx other than 408, 409, 429): not retried"},
	{Code: recap.CodeTranscription, Kind: KindUpstream, Retry: RetryNo, Job: true, Doc: "speech-to-text refused the audio (a 4xx other than 408, 409, 429): not retried"},
	{Code: recap.CodeUpstreamBlocked, Kind: KindUnavailable, Retry: RetryYes, Job: true, Doc: "the video's site refuses the server for now; a waiting request answers within BLOCKED_WAIT_SECONDS while the job retries (retry-after: the next attempt)"},
	{Code: recap.CodeInternal, Kind: KindInternal, Job: true, Doc: "Recap failed"},
}

var codeIndex = func() map[string]Code {
	m := make(map[string]Code, len(codeTable))
	for _, c := range codeTable {
		if _, dup := m[c.Code]; dup {
			panic("core: code " + c.Code + " twice in the code table")
		}
		m[c.Code] = c
	}
	return m
}()

// Codes returns the code table.
func Codes() []Code { return slices.Clone(codeTable) }

// CodeOf returns the row of a code.
func CodeOf(code string) (Code, bool) {
	c, ok := codeIndex[code]
	return c, ok
}

// Kinds lists every kind, for doors that check their mapping covers all.
func Kinds() []Kind {
	out := make([]Kind, 0, kindCount)
	for k := range kindCount {
		out = append(out, k)
	}
	return out
}

// Retryable is a kind's retry rule for codes whose row says RetryByKind
// (or that have none): Recap's, a dependency's or a limit's failure may
// pass; the request's own may not.
func (k Kind) Retryable() bool {
	switch k {
	case KindInternal, KindTimeout, KindUpstream, KindRateLimited, KindUnavailable:
		return true
	}
	return false
}

// ShouldRetry reports whether sending the same request again can
// succeed: the error's own NoRetry or RetryAfter, else its code's rule,
// else its kind's.
func (e *Error) ShouldRetry() bool {
	switch {
	case e.NoRetry:
		return false
	case e.RetryAfter > 0:
		return true
	}
	if c, ok := codeIndex[e.Code]; ok && c.Retry != RetryByKind {
		return c.Retry == RetryYes
	}
	return e.Kind.Retryable()
}
