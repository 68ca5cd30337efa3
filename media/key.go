package media

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// trackingParams are query parameters that identify the sharer or the
// campaign, never the content; two URLs differing only in them are the same
// video.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true,
	"msclkid": true, "yclid": true, "mc_cid": true, "mc_eid": true, "igshid": true,
	"igsh": true, "_hsenc": true, "_hsmi": true, "mkt_tok": true, "si": true,
	"ref_src": true, "ref_url": true,
	// Bilibili share links.
	"spm_id_from": true, "vd_source": true, "share_source": true, "share_medium": true,
	"share_plat": true, "share_session_id": true, "share_tag": true, "share_from": true,
	"from_spmid": true, "unique_k": true, "bbid": true, "from_source": true,
	"buvid": true, "up_id": true, "plat_id": true, "is_story_h5": true,
}

func isTrackingParam(k string) bool {
	k = strings.ToLower(k)
	return trackingParams[k] || strings.HasPrefix(k, "utm_")
}

// site is one video site's offline URL rule, declared in its own file
// (site_<name>.go) and listed in sites.
type site struct {
	// name is the key's prefix ("bilibili" in "bilibili:BV1Sk4y1x7r2:p1").
	name string
	// key returns the rest of the key for a URL of this site, or false
	// when the URL is not a video form it recognizes. host is lowercased,
	// without a trailing dot or the www., m., music. and mobile. prefixes.
	key func(host string, u *url.URL) (string, bool)
	// extractors are the yt-dlp extractor keys ("BiliBili", "Youtube")
	// whose ids name this site's videos stably: a second URL form that
	// resolves to one of them with the same id joins the first video
	// (see StableID).
	extractors []string
}

// sites are the rules CanonicalKey tries in order; a URL no rule claims
// gets a generic key. Adding a site is one file with its rule and an
// entry here.
var sites = []site{bilibiliSite, youtubeSite, douyinSite, tiktokSite, xiaohongshuSite, vimeoSite}

// Sites lists the key prefixes of the sites with URL rules, besides
// "generic".
func Sites() []string {
	out := make([]string, len(sites))
	for i, s := range sites {
		out[i] = s.name
	}
	return out
}

// StableID reports whether yt-dlp's id for this extractor names one video
// whatever URL form reached it, so that two forms resolving to the same
// extractor_key + id are the same video: only the extractors the site
// rules declare (BiliBili, Youtube, Douyin, TikTok, XiaoHongShu, Vimeo).
// Never "Generic" (its ids are the URL's file name, "video" from any
// host's /video.mp4) nor any other extractor, whose ids are not known to
// be stable.
func StableID(extractorKey string) bool {
	for _, s := range sites {
		for _, e := range s.extractors {
			if e == extractorKey {
				return true
			}
		}
	}
	return false
}

// CanonicalKey normalizes a video URL into the key that drives caching and
// dedupe: "<site>:<id>" for the URL forms a site rule recognizes without
// the network ("bilibili:BV1Sk4y1x7r2:p1", "youtube:dQw4w9WgXcQ",
// "douyin:7301234567890123456"; see Sites), else
// "generic:<hex sha256 of NormalizeURL>". It returns ErrBadURL for URLs
// that are not http(s) or have no host.
func CanonicalKey(rawURL string) (string, error) {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return "", fmt.Errorf("canonical key: %w", err)
	}
	if k, ok := siteKey(u); ok {
		return k, nil
	}
	// Short links whose target is not in the URL (b23.tv/<code>,
	// v.douyin.com/<code>) can only be expanded by following the redirect
	// over the network, which a pure function cannot do: they fall through
	// to a generic key, and resolve's extractor_key + id joins them to the
	// video afterwards.
	n := normalize(u)
	sum := sha256.Sum256([]byte(n))
	return "generic:" + hex.EncodeToString(sum[:]), nil
}

// siteKey is "<site>:<id>" when a site rule recognizes u as one video.
func siteKey(u *url.URL) (string, bool) {
	host := trimHostPrefixes(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."))
	for _, s := range sites {
		if k, ok := s.key(host, u); ok {
			return s.name + ":" + k, true
		}
	}
	return "", false
}

// NormalizeURL returns the form of rawURL that generic keys hash: scheme
// and host lowercased, default port, fragment and tracking parameters
// dropped, remaining query parameters sorted.
func NormalizeURL(rawURL string) (string, error) {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return "", fmt.Errorf("normalize url: %w", err)
	}
	return normalize(u), nil
}

func parseHTTPURL(rawURL string) (*url.URL, error) {
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrBadURL, u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrBadURL)
	}
	return u, nil
}

func normalize(u *url.URL) string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.User != nil {
		b.WriteString(u.User.String())
		b.WriteByte('@')
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		host += ":" + p
	}
	// Hostname() is unescaped (an IPv6 zone, or a name sent as %25):
	// escape it again the way url.URL does, so the result parses back.
	b.WriteString(strings.TrimPrefix((&url.URL{Host: host}).String(), "//"))
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	if q := normalizeQuery(u.RawQuery); q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	return b.String()
}

// normalizeQuery drops tracking parameters and sorts the rest while keeping
// each pair's original encoding, so that normalizing is idempotent even for
// malformed escapes.
func normalizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, p := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if k == "" || isTrackingParam(k) {
			continue
		}
		pairs = append(pairs, escapeSpaces(p))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func pathSegments(u *url.URL) []string {
	var out []string
	for _, s := range strings.Split(u.Path, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// escapeSpaces percent-encodes the white space url.Parse lets through in
// a raw query (a space, U+0085, U+00A0, ...): left raw, a trailing one
// would be trimmed when the normalized URL is parsed again, and
// normalizing would not be idempotent.
func escapeSpaces(s string) string {
	if !strings.ContainsFunc(s, unicode.IsSpace) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) {
			for _, c := range []byte(s[:n]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(s[:n]) // as sent, invalid UTF-8 included
		}
		s = s[n:]
	}
	return b.String()
}

func trimHostPrefixes(host string) string {
	for _, p := range []string{"www.", "m.", "music.", "mobile."} {
		host = strings.TrimPrefix(host, p)
	}
	return host
}
