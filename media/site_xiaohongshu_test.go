package media_test

import "testing"

var xiaohongshuCases = siteTable("xiaohongshu", []keyCase{
	{"explore", "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b", "xiaohongshu:64a1b2c3d4e5f60718293a4b"},
	{"explore token", "https://www.xiaohongshu.com/explore/64a1b2c3d4e5f60718293a4b?xsec_token=AB12&xsec_source=pc_feed", "xiaohongshu:64a1b2c3d4e5f60718293a4b"},
	{"explore upper hex", "https://xiaohongshu.com/explore/64A1B2C3D4E5F60718293A4B", "xiaohongshu:64a1b2c3d4e5f60718293a4b"},
	{"discovery item", "https://www.xiaohongshu.com/discovery/item/64a1b2c3d4e5f60718293a4b", "xiaohongshu:64a1b2c3d4e5f60718293a4b"},
	{"bad id", "https://www.xiaohongshu.com/explore/xyz", genericKey("https://www.xiaohongshu.com/explore/xyz")},
	{"explore feed is generic", "https://www.xiaohongshu.com/explore", genericKey("https://www.xiaohongshu.com/explore")},
	{"short link is generic", "http://xhslink.com/a/AbCd", genericKey("http://xhslink.com/a/AbCd")},
})

func TestSiteXiaohongshu(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "xiaohongshu", xiaohongshuCases)
}
