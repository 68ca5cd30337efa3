package summarize

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize/summarizetest"
)

func volcanoTranscript() []recap.Segment {
	texts := []string{
		"Welcome back to the channel, today we talk about volcanoes",
		"Magma rises through the crust under enormous pressure",
		"Basalt lava flows are runny and travel many kilometres",
		"Andesite volcanoes build steep cones from sticky lava",
		"Gas bubbles expand as the magma climbs toward the vent",
		"Seismometers record small earthquakes before an eruption",
		"Satellites measure the ground swelling by a few centimetres",
		"Evacuation plans depend on these warning signs",
		"The eruption of Mount Vesuvius buried Pompeii under ash",
		"Archaeologists still excavate the preserved streets today",
		"Iceland sits on the Mid-Atlantic Ridge between two plates",
		"Thanks for watching and see you next week",
	}
	segs := make([]recap.Segment, len(texts))
	for i, t := range texts {
		segs[i] = recap.Segment{Start: float64(i * 5), End: float64(i*5 + 5), Text: t}
	}
	return segs
}

func TestGroundLine(t *testing.T) {
	t.Parallel()
	en := volcanoTranscript()
	long := append(volcanoTranscript(), recap.Segment{Start: 3725, End: 3730, Text: "A bonus clip about geysers in Yellowstone park"})
	zh := []recap.Segment{
		{Start: 0, End: 6, Text: "大家好，今天我们来聊一聊火山是怎样形成的"},
		{Start: 6, End: 12, Text: "岩浆在巨大的压力下穿过地壳慢慢上升"},
		{Start: 12, End: 18, Text: "维苏威火山爆发的时候庞贝古城被火山灰掩埋"},
		{Start: 18, End: 24, Text: "感谢观看，我们下周再见"},
	}
	tests := []struct {
		name     string
		segs     []recap.Segment
		line     string
		want     string
		keep     bool
		st       recap.Grounding
		hlStart  float64 // -1: no highlight
		srcStart float64
	}{
		{"exact match", en, "- [00:05] Magma rises through the crust", "- [00:05] Magma rises through the crust", true, recap.Grounding{Checked: 1}, 5, 5},
		{"inside a segment's span", en, "- [00:07] Magma rises under pressure", "- [00:07] Magma rises under pressure", true, recap.Grounding{Checked: 1}, 7, 5},
		{"within the tolerance after the end", en, "- [01:01] Thanks for watching", "- [01:01] Thanks for watching", true, recap.Grounding{Checked: 1}, 61, 55},
		{"off by 40 s is repaired", en, "- [01:20] The eruption of Vesuvius buried Pompeii in ash", "- [00:40] The eruption of Vesuvius buried Pompeii in ash", true, recap.Grounding{Checked: 1, Repaired: 1}, 40, 40},
		{"repaired across neighbouring cues", en, "- [09:59] Seismometers and satellites watch earthquakes and swelling ground",
			"- [00:25] Seismometers and satellites watch earthquakes and swelling ground", true, recap.Grounding{Checked: 1, Repaired: 1}, 25, 25},
		{"invented line is dropped", en, "- [02:00] Aliens landed on the moon yesterday", "", false, recap.Grounding{Checked: 1, Dropped: 1}, -1, 0},
		{"one shared word is not support", en, "- [03:00] Lava lamps were a fashion of the seventies", "", false, recap.Grounding{Checked: 1, Dropped: 1}, -1, 0},
		{"no words cannot be repaired", en, "- [04:00]", "", false, recap.Grounding{Checked: 1, Dropped: 1}, -1, 0},
		{"hours", long, "- [1:02:05] Geysers in Yellowstone", "- [1:02:05] Geysers in Yellowstone", true, recap.Grounding{Checked: 1}, 3725, 3725},
		{"repaired into hours", long, "- [02:05] Geysers erupt in Yellowstone park", "- [1:02:05] Geysers erupt in Yellowstone park", true, recap.Grounding{Checked: 1, Repaired: 1}, 3725, 3725},
		{"inline timestamps", en, "Pompeii was buried [00:40] and archaeologists still excavate its streets [05:45].", "Pompeii was buried [00:40] and archaeologists still excavate its streets [00:45].", true, recap.Grounding{Checked: 2, Repaired: 1}, -1, 0},
		{"bold timestamp", en, "* **[00:50]** Iceland sits on the ridge", "* **[00:50]** Iceland sits on the ridge", true, recap.Grounding{Checked: 1}, 50, 50},
		{"chapter ranges are checked, not moved", en, "- [00:00 – 09:00] Volcanoes", "- [00:00 – 09:00] Volcanoes", true, recap.Grounding{Checked: 1}, -1, 0},
		{"no timestamp", en, "Volcanoes are explained.", "Volcanoes are explained.", true, recap.Grounding{}, -1, 0},
		{"CJK exact", zh, "- [00:06] 岩浆穿过地壳上升", "- [00:06] 岩浆穿过地壳上升", true, recap.Grounding{Checked: 1}, 6, 6},
		{"CJK repaired", zh, "- [05:00] 维苏威火山爆发，庞贝被掩埋", "- [00:12] 维苏威火山爆发，庞贝被掩埋", true, recap.Grounding{Checked: 1, Repaired: 1}, 12, 12},
		{"CJK invented", zh, "- [05:00] 外星人登陆了月球", "", false, recap.Grounding{Checked: 1, Dropped: 1}, -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewGrounder(tc.segs)
			out, keep, hl, st := g.Line(tc.line)
			if keep != tc.keep || (keep && out != tc.want) {
				t.Fatalf("Line(%q) = %q, keep %v; want %q, keep %v", tc.line, out, keep, tc.want, tc.keep)
			}
			if st != tc.st {
				t.Errorf("counts = %+v, want %+v", st, tc.st)
			}
			if tc.hlStart < 0 {
				if hl != nil {
					t.Errorf("highlight %+v, want none", hl)
				}
				return
			}
			if hl == nil {
				t.Fatal("no highlight")
			}
			if hl.Start != tc.hlStart || hl.Source.Start != tc.srcStart {
				t.Errorf("highlight start %v source %+v; want %v from %v", hl.Start, hl.Source, tc.hlStart, tc.srcStart)
			}
			if hl.Source.Text == "" || hl.Text == "" || strings.Contains(hl.Text, "[") {
				t.Errorf("highlight %+v: want text without its timestamp and a source text", hl)
			}
		})
	}
}

// groundedEverywhere fails when md shows a moment no segment holds.
func groundedEverywhere(t *testing.T, segs []recap.Segment, md string) {
	t.Helper()
	g := NewGrounder(segs)
	for _, m := range timestampRE.FindAllStringSubmatch(md, -1) {
		sec, _ := ParseClock(m[1])
		if len(g.matching(sec)) == 0 {
			t.Errorf("markdown shows %s, which is in no segment:\n%s", m[0], md)
		}
	}
}

func TestGroundStreamAgrees(t *testing.T) {
	t.Parallel()
	segs := volcanoTranscript()
	md := "## Overview\nA talk about volcanoes.\n\n## Highlights\n- [00:05] Magma rises through the crust\n" +
		"- [07:40] The eruption of Vesuvius buried Pompeii\n- [02:00] Aliens landed on the moon\n- [00:55] Thanks for watching"
	g := NewGrounder(segs)
	want, hls, st := g.Markdown(md)
	if st != (recap.Grounding{Checked: 4, Repaired: 1, Dropped: 1}) {
		t.Errorf("counts = %+v", st)
	}
	if len(hls) != 3 || hls[1].Start != 40 || hls[1].Source.Text != segs[8].Text {
		t.Errorf("highlights = %+v", hls)
	}
	if strings.Contains(want, "Aliens") || !strings.Contains(want, "- [00:40] The eruption") || !strings.HasSuffix(want, "- [00:55] Thanks for watching") {
		t.Errorf("grounded markdown:\n%s", want)
	}
	groundedEverywhere(t, segs, want)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var got strings.Builder
		w := g.Writer(func(s string) {
			if s == "" {
				t.Error("empty emit")
			}
			got.WriteString(s)
		})
		rest := md
		for rest != "" {
			n := min(len(rest), 1+rng.IntN(12)) // splits timestamps and lines anywhere
			w.Write(rest[:n])
			rest = rest[n:]
		}
		w.Flush()
		if got.String() != want || w.Stats() != st {
			t.Fatalf("streamed %q (%+v), want %q (%+v)", got.String(), w.Stats(), want, st)
		}
	}
}

// TestGroundLLM runs the LLM summarizer against the fake model made to
// misplace and invent moments, one call and map-reduce, streamed.
func TestGroundLLM(t *testing.T) {
	t.Parallel()
	segs := volcanoTranscript()
	for _, tc := range []struct {
		name   string
		tokens int
	}{{"one call", 0}, {"map-reduce", 150}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := summarizetest.New(t, summarizetest.Options{})
			fake.SetScript(func(r summarizetest.ChatRequest) (string, bool) {
				if strings.Contains(r.Text(), "Transcript of part") {
					return "", false // map calls answer normally
				}
				// The final answer misplaces Vesuvius and invents a moment.
				a := summarizetest.Answer(r)
				return a + "- [09:40] The eruption of Mount Vesuvius buried Pompeii\n- [09:50] Dragons guard the volcano\n", true
			})
			l := New(Config{BaseURL: fake.URL(), Model: "m", ContextTokens: tc.tokens})
			var mu sync.Mutex
			var streamed strings.Builder
			res, err := l.Summarize(context.Background(), Request{Title: "Volcanoes", Segments: segs}, func(s string) {
				mu.Lock()
				defer mu.Unlock()
				streamed.WriteString(s)
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.tokens > 0 && fake.ChatCalls() < 3 {
				t.Fatalf("%d calls: the transcript was not map-reduced", fake.ChatCalls())
			}
			if streamed.String() != res.Markdown {
				t.Errorf("stream and result differ:\n%q\n%q", streamed.String(), res.Markdown)
			}
			groundedEverywhere(t, segs, res.Markdown)
			if strings.Contains(res.Markdown, "Dragons") || !strings.Contains(res.Markdown, "- [00:40] The eruption of Mount Vesuvius") {
				t.Errorf("markdown:\n%s", res.Markdown)
			}
			g := res.Grounding
			if g == nil || g.Repaired != 1 || g.Dropped != 1 || g.Checked < 3 {
				t.Errorf("grounding = %+v of\n%s", g, res.Markdown)
			}
			found := false
			for _, h := range res.Highlights {
				if h.Start == 40 && h.Source.Text == segs[8].Text {
					found = true
				}
			}
			if !found {
				t.Errorf("no Vesuvius highlight sourced from the transcript in %+v", res.Highlights)
			}
		})
	}
}

func TestGroundExtractive(t *testing.T) {
	t.Parallel()
	segs := volcanoTranscript()
	res, err := NewExtractive(ExtractiveConfig{}).Summarize(context.Background(), Request{Segments: segs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Grounding == nil || res.Grounding.Repaired != 0 || res.Grounding.Dropped != 0 || len(res.Highlights) == 0 {
		t.Fatalf("grounding %+v, %d highlights", res.Grounding, len(res.Highlights))
	}
	for _, h := range res.Highlights {
		if h.Source.Text == "" || !strings.Contains(res.Markdown, FormatTimestamp(h.Start)) {
			t.Errorf("highlight %+v", h)
		}
	}
}

func BenchmarkGroundRepair(b *testing.B) {
	var segs []recap.Segment
	for i := range 5000 {
		segs = append(segs, recap.Segment{Start: float64(i * 4), End: float64(i*4 + 4), Text: fmt.Sprintf("segment %d talks about topic%d and theme%d", i, i%97, i%89)})
	}
	g := NewGrounder(segs)
	g.index()
	b.ResetTimer()
	for range b.N {
		g.Line("- [99:59:00] segment talks about topic42 and theme17")
	}
}
