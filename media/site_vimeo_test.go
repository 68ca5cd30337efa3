package media_test

import "testing"

var vimeoCases = siteTable("vimeo", []keyCase{
	{"id", "https://vimeo.com/76979871", "vimeo:76979871"},
	{"id tracking", "https://vimeo.com/76979871?share=copy&fbclid=x", "vimeo:76979871"},
	{"unlisted hash", "https://vimeo.com/76979871/4f3a2b1c0d", "vimeo:76979871"},
	{"channel", "https://vimeo.com/channels/staffpicks/76979871", "vimeo:76979871"},
	{"group", "https://vimeo.com/groups/shortfilms/videos/76979871", "vimeo:76979871"},
	{"player", "https://player.vimeo.com/video/76979871?h=abc", "vimeo:76979871"},
	{"user page is generic", "https://vimeo.com/someuser", genericKey("https://vimeo.com/someuser")},
	{"channel page is generic", "https://vimeo.com/channels/staffpicks", genericKey("https://vimeo.com/channels/staffpicks")},
	{"showcase is generic", "https://vimeo.com/showcase/123456", genericKey("https://vimeo.com/showcase/123456")},
	{"player bad path", "https://player.vimeo.com/76979871", genericKey("https://player.vimeo.com/76979871")},
})

func TestSiteVimeo(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "vimeo", vimeoCases)
}
