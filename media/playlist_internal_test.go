package media

import (
	"errors"
	"reflect"
	"testing"
)

// TestParsePlaylist reads flat extractions shaped as yt-dlp prints them
// for the sites the jobs API expands: a YouTube playlist and channel tab,
// a Bilibili multi-part video, and a feed with smuggled entry URLs.
func TestParsePlaylist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		json  string
		limit int
		want  *Playlist
		err   error
	}{
		{"youtube playlist", `{"_type":"playlist","id":"PL123","title":"Talks","extractor_key":"YoutubeTab","playlist_count":3,
			"entries":[{"_type":"url","ie_key":"Youtube","id":"dQw4w9WgXcQ","url":"https://www.youtube.com/watch?v=dQw4w9WgXcQ","title":"One","duration":212.0},
			{"_type":"url","ie_key":"Youtube","id":"a-b_c-d_e-f","url":"https://www.youtube.com/watch?v=a-b_c-d_e-f","title":"Two","duration":null},
			{"_type":"url","ie_key":"Youtube","id":"xxxxxxxxxxx","url":"https://www.youtube.com/watch?v=xxxxxxxxxxx","title":"Three","duration":"61"}]}`, 50,
			&Playlist{ID: "PL123", Title: "Talks", Extractor: "YoutubeTab", Count: 3, Entries: []PlaylistEntry{
				{URL: "https://www.youtube.com/watch?v=dQw4w9WgXcQ", Title: "One", Duration: 212},
				{URL: "https://www.youtube.com/watch?v=a-b_c-d_e-f", Title: "Two"},
				{URL: "https://www.youtube.com/watch?v=xxxxxxxxxxx", Title: "Three", Duration: 61}}}, nil},
		{"limit", `{"_type":"playlist","id":"PL123","entries":[{"url":"https://a.example/1"},{"url":"https://a.example/2"}]}`, 1,
			&Playlist{ID: "PL123", Entries: []PlaylistEntry{{URL: "https://a.example/1"}}}, nil},
		{"bilibili parts", `{"_type":"playlist","id":"BV1Sk4y1x7r2","title":"Course","extractor_key":"BiliBili",
			"entries":[{"_type":"url","url":"https://www.bilibili.com/video/BV1Sk4y1x7r2?p=1","title":"P1"},
			{"_type":"url","url":"https://www.bilibili.com/video/BV1Sk4y1x7r2?p=2","title":"P2"}]}`, 50,
			&Playlist{ID: "BV1Sk4y1x7r2", Title: "Course", Extractor: "BiliBili", Entries: []PlaylistEntry{
				{URL: "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=1", Title: "P1"},
				{URL: "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=2", Title: "P2"}}}, nil},
		{"feed smuggled", `{"_type":"playlist","id":"https://pod.example/feed.rss","title":"Pod","extractor_key":"Generic",
			"entries":[{"_type":"url_transparent","url":"https://cdn.example/a.mp3#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22ep1%22%7D","title":"Ep 1"}]}`, 50,
			&Playlist{ID: "https://pod.example/feed.rss", Title: "Pod", Extractor: "Generic", Entries: []PlaylistEntry{
				{URL: "https://cdn.example/a.mp3", Title: "Ep 1"}}}, nil},
		{"channel tabs and bad entries skipped", `{"_type":"playlist","id":7,"entries":[
			{"_type":"playlist","url":"https://www.youtube.com/@x/videos","entries":[]},
			{"_type":"url","url":"https://www.youtube.com/@x/shorts","entries":[{"url":"https://y"}]},
			{"url":"file:///etc/passwd"},{"url":"javascript:alert(1)"},{"url":""},
			{"url":"ytsearch:foo","webpage_url":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"}]}`, 50,
			&Playlist{ID: "7", Entries: []PlaylistEntry{{URL: "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}}}, nil},
		{"one video", `{"_type":"video","id":"x","title":"t"}`, 50, nil, ErrUnsupported},
		{"no type", `{"id":"x","title":"t"}`, 50, nil, ErrUnsupported},
		{"empty", `{"_type":"playlist","id":"x","entries":[]}`, 50, nil, ErrUnavailable},
		{"only bad entries", `{"_type":"playlist","id":"x","entries":[{"url":"file:///x"}]}`, 50, nil, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePlaylist([]byte(tt.json), tt.limit)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := parsePlaylist([]byte("not json"), 5); err == nil {
		t.Error("garbage parsed")
	}
}
