package media

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// How the processes of a download are kept behind the egress proxy.
//
// yt-dlp's own Python code honours --proxy for every request it makes, so
// its connections all pass the egress proxy's checks. The processes it
// hands work to do not: ffmpeg dials whatever protocol a playlist names
// (httpproxy://, tcp://, rtmp://...) itself, and rtmpdump, mpv or aria2c
// have no notion of Recap's policy. Three layers keep them in:
//
//  1. yt-dlp only ever uses its native downloaders (--downloader native),
//     only formats whose protocol those handle over HTTP(S) are selected
//     (allowedProtocols), and a video offering nothing else is refused
//     with ErrUnconfinable before any download.
//  2. Every ffmpeg and ffprobe run reads local files only: Recap's own runs
//     carry -protocol_whitelist file (and -format_whitelist MediaFormats,
//     after a sniff of the file's first bytes, so a downloaded "video" that
//     is really a playlist cannot name other local files either; see
//     sniff.go), and the ffmpeg runs yt-dlp starts get
//     the same through --downloader-args, with post-download fix-ups (the
//     other place yt-dlp runs ffmpeg) turned off (Client.ytdlp sets
//     these options on every run). ffmpeg cannot be given
//     HTTP through the proxy instead: for https it reaches the proxy with
//     its httpproxy protocol, the very one a hostile playlist names to
//     dial a forbidden host, so no allow-list can admit the one and refuse
//     the other. An HLS stream yt-dlp would delegate to ffmpeg (SAMPLE-AES,
//     for one) therefore fails with ErrUnconfinable, having fetched nothing.
//  3. On Linux, when the system allows it, each run starts in a network
//     namespace of its own whose only reachable address is a listener of
//     the egress proxy (see Isolation): whatever a child decides to dial,
//     there is no route to anything else.

// allowedProtocols are yt-dlp's format protocols that its native
// downloaders fetch over HTTP(S) through --proxy: plain files, HLS, DASH,
// Smooth Streaming and HDS manifests. Everything else (rtmp, rtsp, mms,
// websocket fragments, live-only protocols) needs an external program.
var allowedProtocols = []string{
	"http", "https",
	"m3u8", "m3u8_native",
	"http_dash_segments", "http_dash_segments_generator",
	"ism", "f4m",
}

// protocolFilter is a yt-dlp format filter admitting allowedProtocols only.
var protocolFilter = "[protocol~='^(" + strings.Join(allowedProtocols, "|") + ")$']"

// audioFormat selects the best audio-only format, else the best format,
// among those a native downloader can fetch.
var audioFormat = "bestaudio" + protocolFilter + "/best" + protocolFilter

// videoFormat selects the smallest format with a picture (with or without
// sound), else the smallest format (a direct file's codecs are not known
// before it is read), among those a native downloader can fetch: frames
// need only a small picture.
var videoFormat = "worst[vcodec!=none]" + protocolFilter + "/worstvideo" + protocolFilter + "/worst" + protocolFilter

// ffmpegInputWhitelist is the -protocol_whitelist of every ffmpeg and
// ffprobe run: local files only, so an HLS playlist hidden in a "media"
// file cannot make ffmpeg fetch anything (and MediaFormats keeps it from
// being read as a playlist at all, so it cannot name local files).
const ffmpegInputWhitelist = "file"

// unconfinableProtocols returns the protocols of formats that no native
// downloader can fetch, when those are all the video offers (nil when at
// least one format is allowed, or when yt-dlp listed no formats).
func unconfinableProtocols(protocols []string) []string {
	var refused []string
	for _, p := range protocols {
		if p == "" {
			continue
		}
		if allowedProtocol(p) {
			return nil
		}
		for _, part := range strings.Split(p, "+") {
			if !slices.Contains(allowedProtocols, part) && !slices.Contains(refused, part) {
				refused = append(refused, part)
			}
		}
	}
	slices.Sort(refused)
	return refused
}

// allowedProtocol reports whether a format's protocol, or every part of a
// merged one ("https+m3u8_native"), is in allowedProtocols.
func allowedProtocol(p string) bool {
	for _, part := range strings.Split(p, "+") {
		if !slices.Contains(allowedProtocols, part) {
			return false
		}
	}
	return true
}

// delegatedRE matches yt-dlp's warning that its native HLS downloader
// hands a stream to ffmpeg (unsupported encryption, live streams), and
// ffmpeg's refusal of a protocol outside its whitelist.
var delegatedRE = regexp.MustCompile(`(?i)extraction will be delegated to ffmpeg|protocol '[a-z0-9_+-]+' not on whitelist`)

// unconfinedDownload reports whether a failed run's log shows a download
// that needed a downloader kept off the network.
func unconfinedDownload(stderr string) bool { return delegatedRE.MatchString(stderr) }

// errUnconfinable describes a refused format.
func errUnconfinable(op, what string) error {
	return fmt.Errorf("%s: %w: %s; Recap only downloads over HTTP(S) through its egress proxy, so this video needs another URL", op, ErrUnconfinable, what)
}

// Isolation chooses whether the processes of a download run in a network
// namespace of their own (layer 3 above).
type Isolation int

const (
	// IsolationAuto uses a namespace when the system allows one (Linux, as
	// root or with CAP_SYS_ADMIN) and otherwise relies on the allow-lists
	// alone; Client.Isolated says which.
	IsolationAuto Isolation = iota
	// IsolationRequired makes New fail when no namespace can be made, and
	// fails a run whose namespace cannot be made rather than run it
	// without one.
	IsolationRequired
	// IsolationOff relies on the allow-lists alone.
	IsolationOff
)

// ParseIsolation reads DOWNLOAD_NETNS: "auto" (or empty), "on" (also
// "required", "1") or "off" (also "0").
func ParseIsolation(s string) (Isolation, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return IsolationAuto, nil
	case "on", "required", "1", "true", "yes":
		return IsolationRequired, nil
	case "off", "0", "false", "no":
		return IsolationOff, nil
	}
	return IsolationAuto, fmt.Errorf("network isolation %q: want auto, on or off", s)
}

// String is the DOWNLOAD_NETNS spelling.
func (i Isolation) String() string {
	switch i {
	case IsolationRequired:
		return "on"
	case IsolationOff:
		return "off"
	}
	return "auto"
}
