package media

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
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

var (
	youtubeID = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
	bvID      = regexp.MustCompile(`^[Bb][Vv](1[0-9A-Za-z]{9})$`)
	avID      = regexp.MustCompile(`^[Aa][Vv]([0-9]{1,16})$`)
)

// CanonicalKey normalizes a video URL into the key that drives caching and
// dedupe: "bilibili:BV1Sk4y1x7r2:p1", "youtube:dQw4w9WgXcQ" or
// "generic:<hex sha256 of NormalizeURL>". It returns ErrBadURL for URLs
// that are not http(s) or have no host.
func CanonicalKey(rawURL string) (string, error) {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return "", fmt.Errorf("canonical key: %w", err)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if k, ok := youtubeKey(host, u); ok {
		return k, nil
	}
	if k, ok := bilibiliKey(host, u); ok {
		return k, nil
	}
	// b23.tv short links (and any other redirector) can only be expanded by
	// following the redirect over the network, which a pure function cannot
	// do: they fall through to a generic key. Resolve's WebpageURL gives the
	// expanded URL for callers that want to re-key after resolving.
	n := normalize(u)
	sum := sha256.Sum256([]byte(n))
	return "generic:" + hex.EncodeToString(sum[:]), nil
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
		// An IPv6 zone is the one place a host holds "%", escaped in URLs.
		b.WriteString("[" + strings.ReplaceAll(host, "%", "%25") + "]")
	} else {
		b.WriteString(host)
	}
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
		b.WriteString(":" + p)
	}
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
		pairs = append(pairs, p)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func trimHostPrefixes(host string) string {
	for _, p := range []string{"www.", "m.", "music.", "mobile."} {
		host = strings.TrimPrefix(host, p)
	}
	return host
}

func youtubeKey(host string, u *url.URL) (string, bool) {
	h := trimHostPrefixes(host)
	segs := pathSegments(u)
	var id string
	switch h {
	case "youtu.be":
		if len(segs) > 0 {
			id = segs[0]
		}
	case "youtube.com", "youtube-nocookie.com":
		switch {
		case len(segs) == 1 && segs[0] == "watch":
			id = u.Query().Get("v")
		case len(segs) >= 2 && (segs[0] == "shorts" || segs[0] == "embed" || segs[0] == "live" || segs[0] == "v" || segs[0] == "e"):
			id = segs[1]
		}
	default:
		return "", false
	}
	if !youtubeID.MatchString(id) {
		return "", false
	}
	return "youtube:" + id, true
}

func bilibiliKey(host string, u *url.URL) (string, bool) {
	if trimHostPrefixes(host) != "bilibili.com" {
		return "", false
	}
	segs := pathSegments(u)
	if len(segs) >= 2 && segs[0] == "s" {
		segs = segs[1:]
	}
	if len(segs) < 2 || segs[0] != "video" {
		return "", false
	}
	part := 1
	if p, err := strconv.Atoi(u.Query().Get("p")); err == nil && p > 0 {
		part = p
	}
	if m := bvID.FindStringSubmatch(segs[1]); m != nil {
		return fmt.Sprintf("bilibili:BV%s:p%d", m[1], part), true
	}
	if m := avID.FindStringSubmatch(segs[1]); m != nil {
		aid, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil || aid == 0 {
			return "", false
		}
		if bv, ok := AVToBV(aid); ok {
			return fmt.Sprintf("bilibili:%s:p%d", bv, part), true
		}
		return fmt.Sprintf("bilibili:av%d:p%d", aid, part), true
	}
	return "", false
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

// Bilibili's public av→BV mapping (the 2024 form, valid for aid < 2^51).
const (
	bvXorCode = 23442827791579
	bvMaxAID  = 1 << 51
	bvAlpha   = "FcwAPNKTMug3GV5Lj7EJnHpWsx4tb8haYeviqBz6rkCy12mUSDQX9RdoZf"
)

// AVToBV converts a Bilibili av number to its BV id with Bilibili's public,
// deterministic mapping, so av and BV links to one video share a key. It
// reports false for numbers outside the mapping's range.
func AVToBV(aid uint64) (string, bool) {
	if aid == 0 || aid >= bvMaxAID {
		return "", false
	}
	b := []byte("BV1000000000")
	t := (bvMaxAID | aid) ^ bvXorCode
	for i := len(b) - 1; t > 0 && i >= 0; i-- {
		b[i] = bvAlpha[t%58]
		t /= 58
	}
	b[3], b[9] = b[9], b[3]
	b[4], b[7] = b[7], b[4]
	return string(b), true
}
