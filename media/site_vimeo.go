package media

import (
	"net/url"
	"regexp"
)

// vimeoSite keys Vimeo videos by their numeric id: vimeo.com/<id> (and
// /<id>/<hash> of unlisted videos), /channels/<name>/<id>,
// /groups/<name>/videos/<id> and player.vimeo.com/video/<id>. Showcases,
// albums and user pages are not videos and stay generic.
var vimeoSite = site{name: "vimeo", key: vimeoKey, extractors: []string{"Vimeo"}}

var vimeoID = regexp.MustCompile(`^[0-9]{1,12}$`)

func vimeoKey(host string, u *url.URL) (string, bool) {
	segs := pathSegments(u)
	var id string
	switch host {
	case "vimeo.com":
		switch {
		case len(segs) == 1 || len(segs) == 2 && !vimeoID.MatchString(segs[1]):
			id = segs[0]
		case len(segs) == 3 && segs[0] == "channels":
			id = segs[2]
		case len(segs) == 4 && segs[0] == "groups" && segs[2] == "videos":
			id = segs[3]
		}
	case "player.vimeo.com":
		if len(segs) == 2 && segs[0] == "video" {
			id = segs[1]
		}
	default:
		return "", false
	}
	if !vimeoID.MatchString(id) {
		return "", false
	}
	return id, true
}
