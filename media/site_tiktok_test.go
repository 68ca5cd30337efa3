package media_test

import "testing"

var tiktokCases = siteTable("tiktok", []keyCase{
	{"user video", "https://www.tiktok.com/@scout2015/video/6718335390845095173", "tiktok:6718335390845095173"},
	{"user video tracking", "https://www.tiktok.com/@scout2015/video/6718335390845095173?is_from_webapp=1&sender_device=pc&lang=en", "tiktok:6718335390845095173"},
	{"mobile", "https://m.tiktok.com/v/6718335390845095173.html", "tiktok:6718335390845095173"},
	{"embed v2", "https://www.tiktok.com/embed/v2/6718335390845095173", "tiktok:6718335390845095173"},
	{"embed", "https://www.tiktok.com/embed/6718335390845095173", "tiktok:6718335390845095173"},
	{"player", "https://www.tiktok.com/player/v1/6718335390845095173?autoplay=1", "tiktok:6718335390845095173"},
	{"photo post is generic", "https://www.tiktok.com/@scout2015/photo/6718335390845095173", genericKey("https://www.tiktok.com/@scout2015/photo/6718335390845095173")},
	{"bad id", "https://www.tiktok.com/@scout2015/video/abc", genericKey("https://www.tiktok.com/@scout2015/video/abc")},
	{"short link is generic", "https://vm.tiktok.com/ZMeAbCdEf/", genericKey("https://vm.tiktok.com/ZMeAbCdEf/")},
	{"profile is generic", "https://www.tiktok.com/@scout2015", genericKey("https://www.tiktok.com/@scout2015")},
})

func TestSiteTiktok(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "tiktok", tiktokCases)
}
