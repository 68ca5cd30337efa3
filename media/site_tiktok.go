package media

import (
	"net/url"
	"regexp"
	"strings"
)

// tiktokSite keys TikTok videos by their numeric id: /@user/video/<id>,
// the mobile /v/<id>.html, and the embed and player pages. vm.tiktok.com
// and /t/ short links stay generic.
var tiktokSite = site{name: "tiktok", key: tiktokKey, extractors: []string{"TikTok"}}

var tiktokID = regexp.MustCompile(`^[0-9]{8,20}$`)

func tiktokKey(host string, u *url.URL) (string, bool) {
	if host != "tiktok.com" {
		return "", false
	}
	segs := pathSegments(u)
	var id string
	switch {
	case len(segs) >= 3 && strings.HasPrefix(segs[0], "@") && segs[1] == "video":
		id = segs[2]
	case len(segs) == 2 && segs[0] == "v":
		id = strings.TrimSuffix(segs[1], ".html")
	case len(segs) >= 3 && segs[0] == "embed" && segs[1] == "v2":
		id = segs[2]
	case len(segs) == 2 && segs[0] == "embed":
		id = segs[1]
	case len(segs) >= 3 && segs[0] == "player" && segs[1] == "v1":
		id = segs[2]
	}
	if !tiktokID.MatchString(id) {
		return "", false
	}
	return id, true
}
