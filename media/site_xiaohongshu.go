package media

import (
	"net/url"
	"regexp"
	"strings"
)

// xiaohongshuSite keys Xiaohongshu (RED) notes by their 24-hex-digit id:
// /explore/<id> and /discovery/item/<id>. xhslink.com short links stay
// generic. The id is lowercased: the site treats it case-insensitively.
var xiaohongshuSite = site{name: "xiaohongshu", key: xiaohongshuKey, extractors: []string{"XiaoHongShu"}}

var xiaohongshuID = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

func xiaohongshuKey(host string, u *url.URL) (string, bool) {
	if host != "xiaohongshu.com" {
		return "", false
	}
	segs := pathSegments(u)
	var id string
	switch {
	case len(segs) == 2 && segs[0] == "explore":
		id = segs[1]
	case len(segs) == 3 && segs[0] == "discovery" && segs[1] == "item":
		id = segs[2]
	}
	if !xiaohongshuID.MatchString(id) {
		return "", false
	}
	return strings.ToLower(id), true
}
