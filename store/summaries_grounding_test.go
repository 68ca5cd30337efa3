package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/store"
)

func TestSaveGroundedSummary(t *testing.T) {
	t.Parallel()
	s, _ := setup(t, 1)
	ctx := context.Background()
	if err := s.SaveVideo(ctx, &store.Video{Key: "generic:g", URL: "https://example.com/g", Title: "G", Duration: 60}); err != nil {
		t.Fatal(err)
	}
	tr := &recap.Transcript{VideoKey: "generic:g", Language: "en", Source: "subtitles", Segments: []recap.Segment{{Start: 40, End: 45, Text: "Vesuvius buried Pompeii"}}, Duration: 60}
	if err := s.SaveTranscript(ctx, tr); err != nil {
		t.Fatal(err)
	}
	plain := &store.Summary{TranscriptID: tr.ID, PromptHash: "plain", Model: "m", Markdown: "# old"}
	if err := s.SaveSummary(ctx, plain); err != nil {
		t.Fatal(err)
	}
	g, err := s.SummaryGroundingOf(ctx, plain.ID)
	if err != nil || len(g.Highlights) != 0 || g.Counts != nil {
		t.Fatalf("a summary saved without grounding: %+v, %v", g, err)
	}

	want := store.SummaryGrounding{
		Highlights: []recap.Highlight{{Start: 40, Text: "Pompeii buried", Source: recap.Source{Start: 40, End: 45, Text: "Vesuvius buried Pompeii"}}},
		Counts:     &recap.Grounding{Checked: 3, Repaired: 1, Dropped: 1},
	}
	sm := &store.Summary{TranscriptID: tr.ID, PromptHash: "p", Model: "m", Markdown: "- [00:40] Pompeii buried", Chapters: []recap.Chapter{{Start: 0, End: 60, Title: "All"}}}
	if err := s.SaveGroundedSummary(ctx, sm, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.SummaryGroundingOf(ctx, sm.ID)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("SummaryGroundingOf = %+v, %v; want %+v", got, err, want)
	}
	if back, err := s.FindSummary(ctx, tr.ID, "p", "m", ""); err != nil || back.Markdown != sm.Markdown || len(back.Chapters) != 1 {
		t.Fatalf("FindSummary = %+v, %v", back, err)
	}

	// Regenerated (refresh): the same row, with the new highlights only.
	again := &store.Summary{TranscriptID: tr.ID, PromptHash: "p", Model: "m", Markdown: "## JSON"}
	if err := s.SaveGroundedSummary(ctx, again, store.SummaryGrounding{}); err != nil {
		t.Fatal(err)
	}
	got, err = s.SummaryGroundingOf(ctx, again.ID)
	if err != nil || again.ID != sm.ID || len(got.Highlights) != 0 || got.Counts != nil {
		t.Fatalf("after a regeneration: id %d (was %d), %+v, %v", again.ID, sm.ID, got, err)
	}
	if _, err := s.SummaryGroundingOf(ctx, -1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing summary: %v", err)
	}
}
