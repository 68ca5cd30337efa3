package media

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	ytdlp "github.com/lrstanley/go-ytdlp"
	"github.com/recap/recap"
)

// RawInfo returns yt-dlp's own JSON for the video, or nil when the Info
// did not come from a yt-dlp run. Kept with the video (store.Video), it
// lets later steps hand it back with --load-info-json instead of
// extracting the page again.
func (i *Info) RawInfo() []byte { return i.raw }

// SetRawInfo attaches yt-dlp's JSON kept from the resolve (a video reloaded
// from the store).
func (i *Info) SetRawInfo(raw []byte) { i.raw = raw }

// expiryMargin is how long before its signed URLs expire a kept info JSON
// is no longer used: a download started just before the expiry would fail
// midway.
const expiryMargin = 10 * time.Minute

// expirePathRE finds an expiry written into a URL's path
// (".../expire/1700000000/...", as googlevideo's manifest URLs do).
var expirePathRE = regexp.MustCompile(`/expire/([0-9]{9,11})(?:/|$)`)

// Expiry returns the earliest expiry the media and subtitle URLs of the
// kept info JSON carry (the "expire" query parameter of a signed URL, or
// its /expire/ path segment), and false when none says.
func (i *Info) Expiry() (time.Time, bool) {
	if len(i.raw) == 0 {
		return time.Time{}, false
	}
	var doc struct {
		URL     string `json:"url"`
		Formats []struct {
			URL         string `json:"url"`
			ManifestURL string `json:"manifest_url"`
		} `json:"formats"`
		RequestedFormats  []struct{ URL string }            `json:"requested_formats"`
		Subtitles         map[string][]struct{ URL string } `json:"subtitles"`
		AutomaticCaptions map[string][]struct{ URL string } `json:"automatic_captions"`
	}
	if json.Unmarshal(i.raw, &doc) != nil {
		return time.Time{}, false
	}
	urls := []string{doc.URL}
	for _, f := range doc.Formats {
		urls = append(urls, f.URL, f.ManifestURL)
	}
	for _, f := range doc.RequestedFormats {
		urls = append(urls, f.URL)
	}
	for _, m := range []map[string][]struct{ URL string }{doc.Subtitles, doc.AutomaticCaptions} {
		for _, ts := range m {
			for _, t := range ts {
				urls = append(urls, t.URL)
			}
		}
	}
	var earliest time.Time
	for _, u := range urls {
		if t, ok := urlExpiry(u); ok && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	return earliest, !earliest.IsZero()
}

// urlExpiry reads the expiry a signed URL carries.
func urlExpiry(raw string) (time.Time, bool) {
	if raw == "" {
		return time.Time{}, false
	}
	var s string
	if m := expirePathRE.FindStringSubmatch(raw); m != nil {
		s = m[1]
	} else if u, err := url.Parse(raw); err == nil {
		s = u.Query().Get("expire")
		if s == "" {
			s = u.Query().Get("Expires") // CloudFront and S3-style signatures
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// Fresh reports whether the kept info JSON can still be used at now: it
// exists and none of its signed URLs expires within expiryMargin.
func (i *Info) Fresh(now time.Time) bool {
	if len(i.raw) == 0 {
		return false
	}
	exp, ok := i.Expiry()
	return !ok || exp.After(now.Add(expiryMargin))
}

// useInfo points a yt-dlp run at the video: the kept info JSON, written
// under dir, when it is fresh (no page extraction), else the URL. It
// returns the positional arguments and whether the info JSON is used.
func useInfo(cmd *ytdlp.Command, info *Info, pageURL, dir string) ([]string, bool, error) {
	if info == nil || !info.Fresh(time.Now()) {
		cmd.UnsetLoadInfoJSON()
		return []string{"--", pageURL}, false, nil
	}
	f, err := os.CreateTemp(dir, "info-*.json")
	if err != nil {
		return nil, false, fmt.Errorf("info json: %w", err)
	}
	_, err = f.Write(info.raw)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return nil, false, fmt.Errorf("info json: %w", err)
	}
	cmd.LoadInfoJSON(filepath.Clean(f.Name()))
	return nil, true, nil
}

// urlsRefused reports whether a run failed because the site refused the
// kept info JSON's media URLs (HTTP 403 or 410: expired or bound to
// another session), which extracting the page again fixes.
func urlsRefused(res procResult) bool {
	return res.err != nil && (strings.Contains(res.stderr, "HTTP Error 403") || strings.Contains(res.stderr, "HTTP Error 410"))
}

// fetchTrackDirect fetches a subtitle track's URL from the kept info JSON
// through the egress proxy (the same network policy and byte cap as a
// yt-dlp run), without starting yt-dlp.
func (c *Client) fetchTrackDirect(ctx context.Context, tr SubtitleTrack) ([]recap.Segment, bool, error) {
	u, err := url.Parse(tr.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, false, fmt.Errorf("subtitle url: %w", ErrBadURL)
	}
	run, err := c.cfg.Egress.Begin(maxSubtitleBytes + pageBytes)
	if err != nil {
		return nil, false, err
	}
	defer run.End()
	proxy, err := url.Parse(run.ProxyURL())
	if err != nil {
		return nil, false, err
	}
	hc := &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true, ResponseHeaderTimeout: c.cfg.SocketTimeout},
		Timeout:   max(c.cfg.SocketTimeout, 10*time.Second) * 3,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.URL, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (compatible; Recap)")
	res, err := hc.Do(req)
	if err != nil {
		if d := run.Denied(); d != "" {
			return nil, false, fmt.Errorf("subtitles: %s: %w", d, ErrURLNotAllowed)
		}
		return nil, false, fmt.Errorf("subtitles: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("subtitles: %s answered %d", u.Host, res.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxSubtitleBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("subtitles: %w", err)
	}
	if len(data) > maxSubtitleBytes {
		return nil, false, fmt.Errorf("subtitles: larger than %d bytes", maxSubtitleBytes)
	}
	return parseSubtitleFile(tr.Ext, data)
}
