package media

import (
	"net/url"
	"regexp"
)

// youtubeSite keys YouTube videos by their 11-character id: watch?v=,
// youtu.be/, /shorts/, /embed/, /live/, /v/, /e/ and the nocookie host.
// Channels and playlists are not videos and stay generic.
var youtubeSite = site{name: "youtube", key: youtubeKey, extractors: []string{"Youtube"}}

var youtubeID = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)

func youtubeKey(host string, u *url.URL) (string, bool) {
	segs := pathSegments(u)
	var id string
	switch host {
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
	return id, true
}
