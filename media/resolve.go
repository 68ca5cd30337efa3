package media

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	ytdlp "github.com/lrstanley/go-ytdlp"
	"github.com/recap/recap"
)

// SubtitleTrack is one downloadable subtitle format of one language.
type SubtitleTrack struct {
	Lang string `json:"lang"`
	Ext  string `json:"ext"`
	URL  string `json:"url"`
	Auto bool   `json:"auto"` // automatic captions (speech recognition by the site)
}

// Info is the metadata yt-dlp reports for a video.
type Info struct {
	ID        string `json:"id"`
	Extractor string `json:"extractor"`
	// ExtractorKey is yt-dlp's extractor class ("Youtube", "BiliBili",
	// "Generic"); with ID it names the video across URL forms.
	ExtractorKey string `json:"extractor_key,omitempty"`
	Title        string `json:"title"`
	WebpageURL   string `json:"webpage_url"`
	Uploader     string `json:"uploader"`
	Description  string `json:"description"`
	// Language is the video's spoken language when the site says so.
	Language string `json:"language"`
	// Duration is 0 when unknown, which is common with the generic extractor.
	Duration     float64         `json:"duration"`
	IsLive       bool            `json:"is_live"`
	Subtitles    []SubtitleTrack `json:"subtitles"`
	AutoCaptions []SubtitleTrack `json:"auto_captions"`

	// raw is yt-dlp's JSON, handed back with --load-info-json so fetching
	// subtitles does not extract the page a second time.
	raw []byte
}

// Resolve runs yt-dlp --dump-json and returns the video's metadata. An
// unsupported URL is ErrUnsupported, a missing or private video
// ErrUnavailable, a playlist, channel or feed ErrPlaylist (found from
// its first entry alone, never extracting the others); other failures
// are wrapped and worth a retry. A live stream resolves with IsLive set:
// the caller decides.
func (c *Client) Resolve(ctx context.Context, url string) (*Info, error) {
	cmd := c.ytdlp().DumpJSON().SkipDownload().NoProgress().FlatPlaylist().PlaylistItems("1")
	res := c.runYtDlp(ctx, pageBytes, url, cmd, []string{"--", url}, nil)
	if res.err != nil {
		return nil, ytdlpError("resolve", res)
	}
	info, err := parseInfo(res.stdout, c.log)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	return info, nil
}

// subtitleExts holds the one field of yt-dlp's subtitle entries that
// go-ytdlp's ExtractedSubtitle lacks: the format ("vtt", "srt", "json3"),
// which decides the parser and the track's rank.
type subtitleExts struct {
	Subtitles         map[string][]struct{ Ext string } `json:"subtitles"`
	AutomaticCaptions map[string][]struct{ Ext string } `json:"automatic_captions"`
}

// parseInfo reads the first JSON object yt-dlp printed into go-ytdlp's
// ExtractedInfo and keeps what Recap uses.
func parseInfo(data []byte, log *slog.Logger) (*Info, error) {
	// A playlist URL prints one JSON object per entry (one with
	// --playlist-items 1, flat with --flat-playlist): a video of a
	// playlist carries its playlist_index, a flat entry is a bare URL.
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("yt-dlp printed no metadata: %w", err)
	}
	y, err := ytdlp.ParseExtractedInfo(&raw)
	if err != nil {
		// go-ytdlp's types are strict (an int field given 1280.0 fails the
		// whole parse, and ParseExtractedInfo then returns nothing):
		// decode again, keep the fields that fit and say which did not.
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return nil, fmt.Errorf("decode yt-dlp metadata: %w", err)
		}
		y = &ytdlp.ExtractedInfo{}
		_ = json.Unmarshal(raw, y) // the same type error again; the rest is filled in
		log.Debug("media: yt-dlp metadata field of an unexpected type", "err", err)
	}
	switch {
	case y.Type == ytdlp.ExtractedTypePlaylist, y.Type == ytdlp.ExtractedTypeMultiVideo,
		y.Type == ytdlp.ExtractedTypeURL, y.Type == ytdlp.ExtractedTypeURLTransparent,
		y.PlaylistIndex != nil:
		return nil, errPlaylist(strings.ToLower(str(y.ExtractorKey)))
	}
	protocols := make([]string, 0, len(y.Formats))
	for _, f := range y.Formats {
		if f != nil {
			protocols = append(protocols, str(f.Protocol))
		}
	}
	if refused := unconfinableProtocols(protocols); len(refused) > 0 {
		return nil, errUnconfinable("formats", "every format of the video needs "+strings.Join(refused, ", "))
	}
	info := &Info{
		ID:           y.ID,
		Extractor:    str(y.Extractor),
		ExtractorKey: str(y.ExtractorKey),
		Title:        str(y.Title),
		WebpageURL:   str(y.WebpageURL),
		Uploader:     str(y.Uploader),
		Description:  str(y.Description),
		IsLive: (y.IsLive != nil && *y.IsLive) || (y.LiveStatus != nil &&
			(*y.LiveStatus == ytdlp.ExtractedLiveStatusIsLive || *y.LiveStatus == ytdlp.ExtractedLiveStatusIsUpcoming)),
		raw: raw,
	}
	if y.ExtractedFormat != nil { // the top-level format fields, when yt-dlp printed any
		info.Language = str(y.Language)
	}
	if y.Duration != nil && *y.Duration > 0 {
		info.Duration = *y.Duration
	}
	var exts subtitleExts
	_ = json.Unmarshal(raw, &exts) // same document: it decoded above
	info.Subtitles = flattenTracks(y.Subtitles, exts.Subtitles, false)
	info.AutoCaptions = flattenTracks(y.AutomaticCaptions, exts.AutomaticCaptions, true)
	return info, nil
}

// str dereferences one of go-ytdlp's optional strings.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func flattenTracks(m map[string][]*ytdlp.ExtractedSubtitle, exts map[string][]struct{ Ext string }, auto bool) []SubtitleTrack {
	langs := make([]string, 0, len(m))
	for l := range m {
		if l == "live_chat" || l == "rechat" || l == "danmaku" { // chat replays, not speech
			continue
		}
		langs = append(langs, l)
	}
	sort.Strings(langs)
	var out []SubtitleTrack
	for _, l := range langs {
		for i, t := range m[l] {
			if t == nil {
				continue
			}
			var ext string
			if i < len(exts[l]) {
				ext = exts[l][i].Ext
			}
			out = append(out, SubtitleTrack{Lang: l, Ext: ext, URL: t.URL, Auto: auto})
		}
	}
	return out
}

// maxSubtitleBytes bounds a subtitle file read into memory.
const maxSubtitleBytes = 32 << 20

// Subtitles fetches and parses the best subtitle track for lang. With lang
// empty it prefers the video's own language, then English, then any. Manual
// tracks win over automatic captions, VTT over SRT; other formats are not
// used. Automatic captions have their rolling repetition removed. The
// track is downloaded by yt-dlp (so it goes through the same proxy and
// limits as everything else) into a temporary directory that is always
// removed. It returns ErrNoSubtitles when no track yields text. info may be
// nil, in which case the URL is resolved first.
func (c *Client) Subtitles(ctx context.Context, url string, info *Info, lang string) ([]recap.Segment, SubtitleTrack, error) {
	if info == nil {
		var err error
		if info, err = c.Resolve(ctx, url); err != nil {
			return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w", err)
		}
	}
	cands := pickTracks(info, lang)
	if len(cands) == 0 {
		return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w (language %q)", ErrNoSubtitles, lang)
	}
	var lastErr error
	for i, tr := range cands {
		if i == 3 { // the rest are unlikely to fare better; let STT take over
			break
		}
		segs, rolling, err := c.fetchTrack(ctx, url, info, tr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w", ctx.Err())
			}
			lastErr = err
			c.log.Warn("media: subtitle track failed", "lang", tr.Lang, "ext", tr.Ext, "auto", tr.Auto, "err", err)
			continue
		}
		if tr.Auto && !rolling {
			// Automatic captions not shaped as rolling lines may still
			// overlap word by word.
			segs = DedupeCaptions(segs)
		}
		if len(segs) > 0 {
			return segs, tr, nil
		}
	}
	if lastErr != nil {
		if errors.Is(lastErr, ErrUnavailable) || errors.Is(lastErr, ErrUnsupported) || errors.Is(lastErr, ErrURLNotAllowed) {
			return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w", lastErr)
		}
		return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w (last failure: %v)", ErrNoSubtitles, lastErr)
	}
	return nil, SubtitleTrack{}, fmt.Errorf("subtitles: %w (tracks were empty)", ErrNoSubtitles)
}

// pickTracks orders the usable tracks best first: subtitles written by
// people, then a site's machine-made subtitles offered as such (Bilibili's
// "ai-zh", "ai-en", which need a signed-in session), then automatic
// captions; within each, the preferred languages in order, VTT before SRT.
func pickTracks(info *Info, lang string) []SubtitleTrack {
	var prefs []string
	if lang != "" {
		prefs = []string{lang}
	} else {
		if info.Language != "" {
			prefs = append(prefs, info.Language)
		}
		prefs = append(prefs, "en", "")
	}
	var manual, ai []SubtitleTrack
	for _, t := range info.Subtitles {
		if isAITrack(t.Lang) {
			ai = append(ai, t)
		} else {
			manual = append(manual, t)
		}
	}
	var out []SubtitleTrack
	seen := map[string]bool{}
	for _, group := range [][]SubtitleTrack{manual, ai, info.AutoCaptions} {
		for _, p := range prefs {
			for _, ext := range []string{"vtt", "srt"} {
				for _, t := range group {
					key := fmt.Sprint(t.Auto, t.Lang)
					if t.Ext != ext || seen[key] || !langMatches(trackLang(t.Lang), p) {
						continue
					}
					seen[key] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// isAITrack reports whether a subtitle language key names machine-made
// subtitles (Bilibili's "ai-zh").
func isAITrack(lang string) bool { return strings.HasPrefix(strings.ToLower(lang), "ai-") }

// trackLang is the language a track key stands for ("ai-zh" is Chinese).
func trackLang(lang string) string {
	if isAITrack(lang) {
		return lang[3:]
	}
	return lang
}

// langMatches reports whether track language have satisfies want: equal,
// or want is its primary subtag ("en" matches "en-US" and YouTube's
// "en-orig"); an empty want matches anything.
func langMatches(have, want string) bool {
	if want == "" {
		return true
	}
	h, w := strings.ToLower(have), strings.ToLower(want)
	return h == w || strings.HasPrefix(h, w+"-") || strings.HasPrefix(h, w+"_")
}

func (c *Client) fetchTrack(ctx context.Context, url string, info *Info, tr SubtitleTrack) ([]recap.Segment, bool, error) {
	if c.cfg.Egress != nil && tr.URL != "" && (tr.Ext == "vtt" || tr.Ext == "srt") && info.Fresh(time.Now()) {
		segs, rolling, err := c.fetchTrackDirect(ctx, tr)
		if err == nil || ctx.Err() != nil {
			return segs, rolling, err
		}
		c.log.Info("media: direct subtitle fetch failed; asking yt-dlp", "lang", tr.Lang, "err", err)
	}
	dir, err := os.MkdirTemp(c.cfg.TempDir, "recap-subs-")
	if err != nil {
		return nil, false, fmt.Errorf("fetch subtitles: %w", err)
	}
	defer os.RemoveAll(dir)

	cmd := c.ytdlp().SkipDownload().NoProgress()
	if tr.Auto {
		cmd.WriteAutoSubs()
	} else {
		cmd.WriteSubs()
	}
	format := tr.Ext
	if format == "" {
		format = "vtt/srt"
	}
	cmd.SubLangs(regexp.QuoteMeta(tr.Lang)).SubFormat(format).Output(filepath.Join(dir, "sub.%(ext)s"))
	pageURL := cmp.Or(url, info.WebpageURL)
	positional, loaded, err := useInfo(cmd, info, pageURL, dir)
	if err != nil {
		return nil, false, fmt.Errorf("fetch subtitles: %w", err)
	}
	res := c.runYtDlp(ctx, pageBytes, pageURL, cmd, positional, nil)
	if loaded && urlsRefused(res) && ctx.Err() == nil {
		// The kept info JSON's URLs were refused (expired, or bound to
		// another session): extract the page again, once.
		c.log.Info("media: kept info JSON refused; extracting the page again", "err", lastErrorLine(res.stderr))
		positional, _, _ = useInfo(cmd, nil, pageURL, dir)
		res = c.runYtDlp(ctx, pageBytes, pageURL, cmd, positional, nil)
	}
	if res.err != nil {
		return nil, false, ytdlpError("fetch subtitles", res)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "sub.*"))
	for _, m := range matches {
		ext := strings.TrimPrefix(filepath.Ext(m), ".")
		if ext != "vtt" && ext != "srt" {
			continue
		}
		data, err := readCapped(m, maxSubtitleBytes)
		if err != nil {
			return nil, false, fmt.Errorf("fetch subtitles: %w", err)
		}
		segs, rolling, err := parseSubtitleFile(ext, data)
		if err != nil {
			return nil, false, fmt.Errorf("fetch subtitles: %w", err)
		}
		return segs, rolling, nil
	}
	return nil, false, fmt.Errorf("fetch subtitles: yt-dlp wrote no %s file for %q", tr.Ext, tr.Lang)
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", filepath.Base(path), limit)
	}
	return data, nil
}

// SubtitleLanguages lists the languages the video has subtitles in (vtt
// or srt tracks, the site's own, AI-made and automatic alike; "ai-zh"
// counts as "zh"), sorted, each once.
func (i *Info) SubtitleLanguages() []string {
	seen := map[string]bool{}
	var out []string
	for _, group := range [][]SubtitleTrack{i.Subtitles, i.AutoCaptions} {
		for _, t := range group {
			l := trackLang(t.Lang)
			if l == "" || seen[l] || (t.Ext != "vtt" && t.Ext != "srt") {
				continue
			}
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// HasSubtitles reports whether the video has a track the subtitle step
// would take for lang ("en" is met by "en-US").
func (i *Info) HasSubtitles(lang string) bool { return lang != "" && len(pickTracks(i, lang)) > 0 }
