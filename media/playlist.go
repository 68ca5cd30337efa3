package media

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/recap/recap"
)

// ErrPlaylist means the URL names a playlist, a channel, a feed or a
// multi-part video rather than one video. It is an ErrUnsupported for
// callers that only know that one; the jobs API expands such URLs (see
// Client.Playlist).
var ErrPlaylist = fmt.Errorf("%w: a playlist, not a video", ErrUnsupported)

// errPlaylist is the failure of resolving a playlist URL as one video:
// an UpstreamError, so that job failures carry its code and remedy.
func errPlaylist(site string) error {
	return &UpstreamError{Code: recap.CodePlaylistNotSupported, Site: site}
}

// MaxPlaylistEntries bounds Playlist's limit.
const MaxPlaylistEntries = 1000

// Playlist is what a flat playlist extraction found.
type Playlist struct {
	// ID and Title are the playlist's, as the site names it.
	ID, Title string
	// Extractor is yt-dlp's extractor key ("Generic" for feeds).
	Extractor string
	// Count is the number of entries the site reports (0 when unknown);
	// Entries holds at most the limit asked for.
	Count   int
	Entries []PlaylistEntry
}

// PlaylistEntry is one video of a playlist, not yet extracted.
type PlaylistEntry struct {
	// URL is the entry's own page or media URL, http(s) only.
	URL      string
	Title    string
	Duration float64
}

// flatPlaylist is the part of yt-dlp's -J --flat-playlist output Recap
// reads. go-ytdlp's ExtractedInfo is strict about field types, which flat
// entries of some extractors break (a duration given as a string), and it
// knows nothing of playlist_count: the few fields are read here.
type flatPlaylist struct {
	Type         string          `json:"_type"`
	ID           json.RawMessage `json:"id"`
	Title        string          `json:"title"`
	ExtractorKey string          `json:"extractor_key"`
	Count        int             `json:"playlist_count"`
	Entries      []flatEntry     `json:"entries"`
}

type flatEntry struct {
	Type       string          `json:"_type"`
	URL        string          `json:"url"`
	WebpageURL string          `json:"webpage_url"`
	Title      string          `json:"title"`
	Duration   json.RawMessage `json:"duration"`
	Entries    json.RawMessage `json:"entries"`
}

// Playlist lists up to limit entries of a playlist, channel, feed (RSS,
// Atom) or multi-part video with yt-dlp's flat extraction (-J
// --flat-playlist): one run that reads the list itself, never the
// entries' pages, through the same confinement as every run (egress
// proxy, scrubbed environment, byte cap). A URL of one video is
// ErrUnsupported (not a playlist); entries that are not http(s) URLs, and
// nested playlists, are left out.
func (c *Client) Playlist(ctx context.Context, rawURL string, limit int) (*Playlist, error) {
	if limit < 1 || limit > MaxPlaylistEntries {
		return nil, fmt.Errorf("playlist: limit %d is outside 1..%d", limit, MaxPlaylistEntries)
	}
	if _, err := parseHTTPURL(rawURL); err != nil {
		return nil, fmt.Errorf("playlist: %w", err)
	}
	cmd := c.ytdlp().YesPlaylist().FlatPlaylist().DumpSingleJSON().SkipDownload().NoProgress().
		PlaylistItems("1:" + strconv.Itoa(limit))
	res := c.runYtDlp(ctx, pageBytes, rawURL, cmd, []string{"--", rawURL}, nil)
	if res.err != nil {
		return nil, ytdlpError("playlist", res)
	}
	return parsePlaylist(res.stdout, limit)
}

// parsePlaylist reads yt-dlp's -J --flat-playlist output.
func parsePlaylist(data []byte, limit int) (*Playlist, error) {
	var fp flatPlaylist
	if err := json.Unmarshal(data, &fp); err != nil {
		return nil, fmt.Errorf("playlist: decode yt-dlp output: %w", err)
	}
	if fp.Type != "playlist" && fp.Type != "multi_video" {
		return nil, fmt.Errorf("playlist: %w: the URL is one video, not a playlist", ErrUnsupported)
	}
	p := &Playlist{ID: rawString(fp.ID), Title: fp.Title, Extractor: fp.ExtractorKey, Count: fp.Count}
	for _, e := range fp.Entries {
		if len(p.Entries) == limit {
			break
		}
		if e.Type == "playlist" || len(e.Entries) > 0 && string(e.Entries) != "null" {
			continue // a nested list (a channel's tabs): not one video
		}
		u := entryURL(e)
		if u == "" {
			continue
		}
		p.Entries = append(p.Entries, PlaylistEntry{URL: u, Title: e.Title, Duration: rawSeconds(e.Duration)})
	}
	if len(p.Entries) == 0 {
		return nil, fmt.Errorf("playlist: %w: the playlist has no entries with a URL", ErrUnavailable)
	}
	return p, nil
}

// entryURL is an entry's URL without yt-dlp's smuggled data (a fragment
// "#__youtubedl_smuggle=…" only yt-dlp reads), or "" when it is not
// http(s).
func entryURL(e flatEntry) string {
	for _, raw := range []string{e.URL, e.WebpageURL} {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := parseHTTPURL(raw)
		if err != nil {
			continue
		}
		if strings.HasPrefix(u.Fragment, "__youtubedl_smuggle") {
			u.Fragment, u.RawFragment = "", ""
		}
		return u.String()
	}
	return ""
}

// rawString reads a JSON string or number as text.
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// rawSeconds reads a duration given as a number or a numeric string; 0
// when it is neither or not positive.
func rawSeconds(raw json.RawMessage) float64 {
	f, err := strconv.ParseFloat(strings.Trim(string(raw), `"`), 64)
	if err != nil || f <= 0 || f != f {
		return 0
	}
	return f
}

// IsPlaylistURL reports whether a URL's shape alone says it is a
// playlist, a channel or a feed rather than one video: a YouTube
// playlist (list= without a video id) or channel page,
// Bilibili collections, spaces and favourites, Vimeo showcases and
// channels, and feed URLs (.rss, .xml, .atom, /feed, /rss). It touches no
// network; resolving is what finds the rest (ErrPlaylist).
func IsPlaylistURL(rawURL string) bool {
	u, err := parseHTTPURL(rawURL)
	if err != nil {
		return false
	}
	if _, ok := siteKey(u); ok {
		return false // a video form of a known site (a watch URL with list= is its video)
	}
	host := trimHostPrefixes(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."))
	segs := pathSegments(u)
	first := ""
	if len(segs) > 0 {
		first = strings.ToLower(segs[0])
	}
	switch host {
	case "youtube.com":
		return u.Query().Get("list") != "" ||
			strings.HasPrefix(first, "@") || first == "channel" || first == "c" || first == "user"
	case "bilibili.com", "space.bilibili.com":
		if first == "list" || first == "medialist" || first == "festival" || host == "space.bilibili.com" {
			return u.Query().Get("bvid") == ""
		}
		if first == "bangumi" && len(segs) >= 3 && segs[1] == "media" {
			return true
		}
	case "vimeo.com":
		return first == "showcase" || first == "album" || (first == "channels" && len(segs) == 2)
	}
	if len(segs) == 0 {
		return false
	}
	last := strings.ToLower(segs[len(segs)-1])
	for _, ext := range []string{".rss", ".xml", ".atom"} {
		if strings.HasSuffix(last, ext) {
			return true
		}
	}
	return last == "feed" || last == "rss" || last == "atom"
}
