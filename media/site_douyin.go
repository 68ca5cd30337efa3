package media

import (
	"net/url"
	"regexp"
)

// douyinSite keys Douyin videos by their numeric aweme id: /video/<id>,
// the iesdouyin.com share page /share/video/<id>, and pages that open the
// video in a modal (?modal_id=<id>). v.douyin.com short links hold a code
// only a redirect expands and stay generic.
var douyinSite = site{name: "douyin", key: douyinKey, extractors: []string{"Douyin"}}

var douyinID = regexp.MustCompile(`^[0-9]{8,20}$`)

func douyinKey(host string, u *url.URL) (string, bool) {
	if host != "douyin.com" && host != "iesdouyin.com" {
		return "", false
	}
	segs := pathSegments(u)
	var id string
	switch {
	case len(segs) >= 2 && segs[0] == "video":
		id = segs[1]
	case len(segs) >= 3 && segs[0] == "share" && segs[1] == "video":
		id = segs[2]
	default:
		id = u.Query().Get("modal_id")
	}
	if !douyinID.MatchString(id) {
		return "", false
	}
	return id, true
}
