package mediatest

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// Episode is one item of a feed a Host serves.
type Episode struct {
	Title string
	// Path is where the Host serves the episode's media (a copy of
	// media/sample/talk.webm).
	Path string
}

// ServeFeed serves at path an RSS 2.0 podcast feed of n episodes, each an
// enclosure of its own copy of the talk (/feed-ep<i>.webm), which yt-dlp's
// generic extractor reads offline as a playlist. It returns the feed's
// URL and the episodes in feed order.
func (h *Host) ServeFeed(path string, n int) (string, []Episode) {
	h.mu.Lock()
	talk := h.routes[MediaPath]
	h.mu.Unlock()
	eps := make([]Episode, n)
	var items strings.Builder
	for i := range eps {
		eps[i] = Episode{Title: fmt.Sprintf("Episode %d", i+1), Path: fmt.Sprintf("%s-ep%d.webm", strings.TrimSuffix(path, ".rss"), i+1)}
		h.Serve(eps[i].Path, talk)
		fmt.Fprintf(&items, `<item><title>%s</title><guid isPermaLink="false">ep-%d</guid>`+
			`<enclosure url="%s" type="video/webm" length="1"/></item>`+"\n",
			html.EscapeString(eps[i].Title), i+1, html.EscapeString(h.URL(eps[i].Path)))
	}
	feed := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Recap test podcast</title><link>%s</link><description>Three talks.</description>
%s</channel></rss>
`, html.EscapeString(h.URL("/")), items.String())
	h.Serve(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, feed)
	}))
	return h.URL(path), eps
}
