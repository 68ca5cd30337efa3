package jobs

import (
	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
	"github.com/recap/recap/textclean"
)

// Text the worker stores came from outside: a page's metadata through
// yt-dlp, subtitle files, speech-to-text and the LLM. A NUL in any of it
// (a page whose <title> holds one) or invalid UTF-8 would fail the
// statement that stores it, and the job with it after every retry. It is
// cleaned instead (textclean.String), before it is stored.

// cleanInfo cleans the text of a video's metadata in place.
func cleanInfo(info *media.Info) {
	for _, s := range []*string{&info.ID, &info.Extractor, &info.ExtractorKey, &info.Title, &info.WebpageURL,
		&info.Uploader, &info.Description, &info.Language} {
		*s = textclean.String(*s)
	}
	for _, tracks := range [][]media.SubtitleTrack{info.Subtitles, info.AutoCaptions} {
		for i := range tracks {
			tracks[i].Lang, tracks[i].Ext = textclean.String(tracks[i].Lang), textclean.String(tracks[i].Ext)
		}
	}
}

// cleanSegments cleans transcript segments in place and returns them.
func cleanSegments(segs []recap.Segment) []recap.Segment {
	for i := range segs {
		segs[i].Text, segs[i].Speaker = textclean.String(segs[i].Text), textclean.String(segs[i].Speaker)
	}
	return segs
}

// cleanSummary cleans a model's summary in place: its markdown, chapter
// titles and highlights.
func cleanSummary(sm *store.Summary) {
	sm.Markdown = textclean.String(sm.Markdown)
	for i := range sm.Chapters {
		sm.Chapters[i].Title = textclean.String(sm.Chapters[i].Title)
	}
	for i := range sm.Highlights {
		h := &sm.Highlights[i]
		h.Text, h.Source.Text = textclean.String(h.Text), textclean.String(h.Source.Text)
	}
}
