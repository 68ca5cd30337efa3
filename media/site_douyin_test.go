package media_test

import "testing"

var douyinCases = siteTable("douyin", []keyCase{
	{"video", "https://www.douyin.com/video/7301234567890123456", "douyin:7301234567890123456"},
	{"video tracking", "https://www.douyin.com/video/7301234567890123456?previous_page=app_code_link&utm_source=x", "douyin:7301234567890123456"},
	{"video no www", "https://douyin.com/video/7301234567890123456/", "douyin:7301234567890123456"},
	{"share page", "https://www.iesdouyin.com/share/video/7301234567890123456/?region=CN", "douyin:7301234567890123456"},
	{"modal", "https://www.douyin.com/jingxuan?modal_id=7301234567890123456", "douyin:7301234567890123456"},
	{"user modal", "https://www.douyin.com/user/MS4wLjABAAAA?modal_id=7301234567890123456", "douyin:7301234567890123456"},
	{"bad id", "https://www.douyin.com/video/abc", genericKey("https://www.douyin.com/video/abc")},
	{"short link is generic", "https://v.douyin.com/iRNBho6u/", genericKey("https://v.douyin.com/iRNBho6u/")},
	{"user page is generic", "https://www.douyin.com/user/MS4wLjABAAAA", genericKey("https://www.douyin.com/user/MS4wLjABAAAA")},
})

func TestSiteDouyin(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "douyin", douyinCases)
}
