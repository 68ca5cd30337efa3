package media

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
)

// bilibiliSite keys Bilibili videos as "BV<id>:p<part>": /video/BV…,
// /video/av… (converted to BV), the /s/ share path, b23.tv/BV… and
// b23.tv/av… short links that carry the id, and any bilibili.com page
// naming the video in ?bvid= (watch-later, festival pages). The part is
// ?p= (1 when absent or not a positive number).
var bilibiliSite = site{name: "bilibili", key: bilibiliKey, extractors: []string{"BiliBili"}}

var (
	bvID = regexp.MustCompile(`^[Bb][Vv](1[0-9A-Za-z]{9})$`)
	avID = regexp.MustCompile(`^[Aa][Vv]([0-9]{1,16})$`)
)

func bilibiliKey(host string, u *url.URL) (string, bool) {
	var id string
	switch host {
	case "bilibili.com":
		segs := pathSegments(u)
		if len(segs) >= 2 && segs[0] == "s" {
			segs = segs[1:]
		}
		switch {
		case len(segs) >= 2 && segs[0] == "video":
			id = segs[1]
		case u.Query().Get("bvid") != "":
			// Watch-later lists and festival pages play the video named
			// by bvid; only a BV id is taken from it.
			id = u.Query().Get("bvid")
			if !bvID.MatchString(id) {
				return "", false
			}
		default:
			return "", false
		}
	case "b23.tv":
		// A short link usually holds a code only a redirect expands; some
		// carry the video's own id.
		segs := pathSegments(u)
		if len(segs) != 1 {
			return "", false
		}
		id = segs[0]
	default:
		return "", false
	}
	part := 1
	if p, err := strconv.Atoi(u.Query().Get("p")); err == nil && p > 0 {
		part = p
	}
	if m := bvID.FindStringSubmatch(id); m != nil {
		return fmt.Sprintf("BV%s:p%d", m[1], part), true
	}
	if m := avID.FindStringSubmatch(id); m != nil {
		aid, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil || aid == 0 {
			return "", false
		}
		if bv, ok := AVToBV(aid); ok {
			return fmt.Sprintf("%s:p%d", bv, part), true
		}
		return fmt.Sprintf("av%d:p%d", aid, part), true
	}
	return "", false
}

// Bilibili's public av→BV mapping (the 2024 form, valid for aid < 2^51).
const (
	bvXorCode = 23442827791579
	bvMaxAID  = 1 << 51
	bvAlpha   = "FcwAPNKTMug3GV5Lj7EJnHpWsx4tb8haYeviqBz6rkCy12mUSDQX9RdoZf"
)

// AVToBV converts a Bilibili av number to its BV id with Bilibili's public,
// deterministic mapping, so av and BV links to one video share a key. It
// reports false for numbers outside the mapping's range.
func AVToBV(aid uint64) (string, bool) {
	if aid == 0 || aid >= bvMaxAID {
		return "", false
	}
	b := []byte("BV1000000000")
	t := (bvMaxAID | aid) ^ bvXorCode
	for i := len(b) - 1; t > 0 && i >= 0; i-- {
		b[i] = bvAlpha[t%58]
		t /= 58
	}
	b[3], b[9] = b[9], b[3]
	b[4], b[7] = b[7], b[4]
	return string(b), true
}
