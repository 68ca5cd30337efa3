// Package media turns a video URL into text with timestamps. It normalizes
// URLs into canonical video keys, refuses URLs that point into private
// networks, drives yt-dlp (metadata, subtitles, audio) and ffmpeg (probe,
// conversion, splitting) as subprocesses with fixed argument lists, parses
// WebVTT and SRT subtitles, and transcribes audio through an
// OpenAI-compatible speech-to-text API.
//
// The package imports no other project package; jobs declares the small
// interfaces it needs and *Client / *Transcriber satisfy them.
package media

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; everything else
// returned by this package is to be treated as transient.
var (
	// ErrBadURL means the URL is unparsable, not http(s), or has no host.
	ErrBadURL = errors.New("bad url")
	// ErrURLNotAllowed means the URL's host resolves to a loopback, private,
	// link-local or otherwise internal address.
	ErrURLNotAllowed = errors.New("url not allowed")
	// ErrUnsupported means yt-dlp has no extractor that understands the URL.
	ErrUnsupported = errors.New("unsupported url")
	// ErrUnavailable means the video does not exist (any more) or is private.
	ErrUnavailable = errors.New("video unavailable")
	// ErrNoSubtitles means the video has no usable subtitle track for the
	// requested language.
	ErrNoSubtitles = errors.New("no subtitles")
	// ErrMediaTooLong means the media is longer than Config.MaxDuration.
	ErrMediaTooLong = errors.New("media too long")
	// ErrLive means the URL is a live stream, which cannot be summarized.
	ErrLive = errors.New("live stream")
	// ErrTooLarge means the download exceeded Config.MaxFileSize.
	ErrTooLarge = errors.New("media too large")
	// ErrUnconfinable means every format of the video needs a downloader
	// that Recap cannot keep behind the egress proxy (RTMP, RTSP, an HLS
	// stream that only ffmpeg can fetch): it is refused rather than let
	// out.
	ErrUnconfinable = errors.New("format needs a downloader that cannot be confined")
	// ErrSTTPermanent means the speech-to-text service rejected the request
	// in a way a retry cannot fix (a 4xx other than 408, 409 and 429).
	ErrSTTPermanent = errors.New("speech-to-text rejected the request")
)
