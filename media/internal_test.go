package media

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPlanCuts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		total    float64
		window   float64
		silences []silence
		want     []float64
	}{
		{"fits", 50, 100, nil, []float64{0, 50}},
		{"exact fit", 100, 100, nil, []float64{0, 100}},
		{"no silences", 250, 100, nil, []float64{0, 100, 200, 250}},
		{"longest silence in zone", 250, 100, []silence{{9, 11}, {79, 81}, {88, 92}, {98.5, 99.5}, {169, 171}, {184.5, 185.5}}, []float64{0, 90, 170, 250}},
		{"later wins ties", 250, 100, []silence{{79, 81}, {89, 91}}, []float64{0, 90, 190, 250}},
		{"silence before zone ignored", 150, 100, []silence{{49, 51}, {73, 75}}, []float64{0, 100, 150}},
		{"silence past window ignored", 150, 100, []silence{{99, 102}}, []float64{0, 100, 150}},
		{"silence at window end", 150, 100, []silence{{99, 101}}, []float64{0, 100, 150}},
	}
	for _, tt := range tests {
		if got := planCuts(tt.total, tt.window, tt.silences); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: planCuts = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPickTracks(t *testing.T) {
	t.Parallel()
	info := &Info{
		Language: "de",
		Subtitles: []SubtitleTrack{
			{Lang: "en", Ext: "srt"}, {Lang: "en", Ext: "vtt"}, {Lang: "fr", Ext: "vtt"},
			{Lang: "live_chat", Ext: "json"}, {Lang: "ja", Ext: "ttml"},
		},
		AutoCaptions: []SubtitleTrack{
			{Lang: "de-orig", Ext: "vtt", Auto: true}, {Lang: "de", Ext: "vtt", Auto: true}, {Lang: "en", Ext: "vtt", Auto: true},
		},
	}
	tests := []struct {
		lang string
		want []string
	}{
		{"", []string{"en.vtt", "fr.vtt", "auto:de-orig.vtt", "auto:de.vtt", "auto:en.vtt"}},
		{"de", []string{"auto:de-orig.vtt", "auto:de.vtt"}},
		{"fr", []string{"fr.vtt"}},
		{"ja", nil},
	}
	// Bilibili: manual, then its AI subtitles, then automatic captions,
	// for each language.
	bili := &Info{
		Subtitles: []SubtitleTrack{
			{Lang: "ai-zh", Ext: "srt"}, {Lang: "zh-Hans", Ext: "srt"}, {Lang: "ai-en", Ext: "srt"}, {Lang: "danmaku", Ext: "xml"},
		},
		AutoCaptions: []SubtitleTrack{{Lang: "zh", Ext: "vtt", Auto: true}},
	}
	for _, tt := range []struct {
		lang string
		want []string
	}{
		{"zh", []string{"zh-Hans.srt", "ai-zh.srt", "auto:zh.vtt"}},
		{"en", []string{"ai-en.srt"}},
	} {
		var got []string
		for _, tr := range pickTracks(bili, tt.lang) {
			s := tr.Lang + "." + tr.Ext
			if tr.Auto {
				s = "auto:" + s
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("bilibili pickTracks(%q) = %v, want %v", tt.lang, got, tt.want)
		}
	}
	for _, tt := range tests {
		var got []string
		for _, tr := range pickTracks(info, tt.lang) {
			s := tr.Lang + "." + tr.Ext
			if tr.Auto {
				s = "auto:" + s
			}
			got = append(got, s)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("pickTracks(%q) = %v, want %v", tt.lang, got, tt.want)
		}
	}
}

// Every yt-dlp run gets the base and confinement options through
// go-ytdlp's builder, the operator's flags, and the URL last after "--".
func TestYtdlpBaseArgs(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Proxy: "http://127.0.0.1:3128", ExtraArgs: []string{"--extractor-args", "youtube:player_client=web"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ytdlpArgs(context.Background(), c.ytdlp().DumpJSON(), "--", "https://example.com/v")
	if err != nil {
		t.Fatal(err)
	}
	joined := " " + strings.Join(got, " ") + " "
	for _, want := range []string{
		"--ignore-config", "--no-plugin-dirs", "--no-playlist", "--no-exec", "--no-cache-dir", "--socket-timeout 30",
		"--proxy http://127.0.0.1:3128", "--downloader native", "--downloader-args ffmpeg_i:-protocol_whitelist file",
		"--fixup never", "--extractor-args youtube:player_client=web", "--dump-json",
	} {
		if !strings.Contains(joined, " "+want+" ") {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	if n := len(got); n < 2 || got[n-2] != "--" || got[n-1] != "https://example.com/v" {
		t.Errorf("args %q do not end with -- and the URL", got)
	}
}

// A URL finds its site's cookie file by its host, any subdomain, or a
// short-link domain of the site; nothing else.
func TestCookieSite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"youtube.com.txt", "bilibili.com.txt", "127.0.0.1.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("# Netscape HTTP Cookie File\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "vimeo.com.txt"), 0o700); err != nil { // a directory is no file
		t.Fatal(err)
	}
	for url, want := range map[string]string{
		"https://www.youtube.com/watch?v=x":    "youtube.com",
		"https://m.youtube.com/watch?v=x":      "youtube.com",
		"https://youtu.be/x":                   "youtube.com",
		"https://www.bilibili.com/video/BV1x":  "bilibili.com",
		"https://b23.tv/BV1x":                  "bilibili.com",
		"http://127.0.0.1:8080/v.html":         "127.0.0.1",
		"https://vimeo.com/1":                  "",
		"https://notyoutube.com/x":             "",
		"https://youtube.com.evil.example/x":   "",
		"https://example.com/../../etc/passwd": "",
		"not a url\x7f":                        "",
	} {
		if got := cookieSite(dir, url); got != want {
			t.Errorf("cookieSite(%q) = %q, want %q", url, got, want)
		}
	}
	if got := cookieSite("", "https://youtu.be/x"); got != "" {
		t.Errorf("no COOKIES_DIR: %q", got)
	}
}
