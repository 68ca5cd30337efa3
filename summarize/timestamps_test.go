package summarize

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize/summarizetest"
)

// TestTimestampShapes feeds each shape models write through the grounder:
// every line comes out canonical and, its moment being in the transcript,
// unchanged otherwise; a line that begins with a moment is a highlight.
func TestTimestampShapes(t *testing.T) {
	t.Parallel()
	en := volcanoTranscript() // "Magma rises…" at 00:05–00:10
	long := append(volcanoTranscript(), recap.Segment{Start: 3725, End: 3730, Text: "A bonus clip about geysers in Yellowstone park"})
	const magma = "Magma rises through the crust"
	tests := []struct {
		name, line, want string
		segs             []recap.Segment
		hl               bool // a highlight at hlStart
		hlStart          float64
	}{
		{"bold", "**00:05** " + magma, "[00:05] " + magma, en, true, 5},
		{"parentheses", "(00:05) " + magma, "[00:05] " + magma, en, true, 5},
		{"lenticular brackets", "【00:05】" + magma, "[00:05]" + magma, en, true, 5},
		{"full-width brackets", "［00:05］ " + magma, "[00:05] " + magma, en, true, 5},
		{"full-width parentheses", "（00:05）" + magma, "[00:05]" + magma, en, true, 5},
		{"tortoise shell brackets", "- 〔00:05〕 " + magma, "- [00:05] " + magma, en, true, 5},
		{"code span", "- `00:05` " + magma, "- [00:05] " + magma, en, true, 5},
		{"bare then hyphen", "00:05 - " + magma, "[00:05] - " + magma, en, true, 5},
		{"bare then en dash", "00:05 – " + magma, "[00:05] – " + magma, en, true, 5},
		{"bare then em dash", "00:05 — " + magma, "[00:05] — " + magma, en, true, 5},
		{"bare then colon", "00:05: " + magma, "[00:05]: " + magma, en, true, 5},
		{"numbered bare", "1. 00:05: " + magma, "1. [00:05]: " + magma, en, true, 5},
		{"numbered paren bare", "2) 00:05 " + magma, "2) [00:05] " + magma, en, true, 5},
		{"bullet bare", "- 00:05 " + magma, "- [00:05] " + magma, en, true, 5},
		{"indented bullet bare", "  * 00:05 | " + magma, "  * [00:05] | " + magma, en, true, 5},
		{"one-digit minutes", "- [0:05] " + magma, "- [00:05] " + magma, en, true, 5},
		{"zero hours", "- [00:00:05] " + magma, "- [00:05] " + magma, en, true, 5},
		{"zero hours bare", "00:00:05 " + magma, "[00:05] " + magma, en, true, 5},
		{"fraction", "- [00:05.5] " + magma, "- [00:05] " + magma, en, true, 5},
		{"SRT fraction", "- [00:00:05,500] " + magma, "- [00:05] " + magma, en, true, 5},
		{"spaces inside brackets", "- [ 00:05 ] " + magma, "- [00:05] " + magma, en, true, 5},
		{"bold brackets", "**[00:05]** " + magma, "**[00:05]** " + magma, en, true, 5},
		{"bold brackets in a bullet", "- **[00:05]** " + magma, "- **[00:05]** " + magma, en, true, 5},
		{"markdown link", "- [00:05](https://www.youtube.com/watch?v=x&t=5s) " + magma, "- [00:05] " + magma, en, true, 5},
		{"stopwatch", "⏱ 00:05 " + magma, "[00:05] " + magma, en, true, 5},
		{"stopwatch with variation selector", "- ⏱️ 00:05 – " + magma, "- [00:05] – " + magma, en, true, 5},
		{"clock face", "- 🕒00:05 " + magma, "- [00:05] " + magma, en, true, 5},
		{"label", "Timestamp: 00:05 — " + magma, "[00:05] — " + magma, en, true, 5},
		{"bold label in a bullet", "- **Time:** 00:05 " + magma, "- [00:05] " + magma, en, true, 5},
		{"bold label mid-line", magma + " (**Timestamp**: 00:05)", magma + " ([00:05])", en, false, 0},
		{"Chinese label", "时间：00:05 " + magma, "[00:05] " + magma, en, true, 5},
		{"Chinese clock enclosed", "【00分05秒】" + magma, "[00:05]" + magma, en, true, 5},
		{"Chinese clock leading", "- 00分05秒：" + magma, "- [00:05]：" + magma, en, true, 5},
		{"table cell", "| 00:05 | " + magma + " |", "| [00:05] | " + magma + " |", en, false, 0},
		{"inline parentheses", magma + " (00:05).", magma + " [00:05].", en, false, 0},
		{"inline bold", magma + " at **00:05**.", magma + " at [00:05].", en, false, 0},
		{"at h:mm:ss", "Magma rises at 0:00:05 through the crust", "Magma rises at [00:05] through the crust", en, false, 0},
		{"hours", "- 1:02:05 - Geysers in Yellowstone", "- [1:02:05] - Geysers in Yellowstone", long, true, 3725},
		{"padded hours", "- [01:02:05] Geysers in Yellowstone", "- [1:02:05] Geysers in Yellowstone", long, true, 3725},
		{"minutes past the hour", "- [62:05] Geysers in Yellowstone", "- [1:02:05] Geysers in Yellowstone", long, true, 3725},
		{"around h:mm:ss", "Geysers show up around 1:02:05.", "Geysers show up around [1:02:05].", long, false, 0},
		// Ranges keep both ends: the chapter lines' form.
		{"range with hyphen", "- [00:05 - 00:10] " + magma, "- [00:05 – 00:10] " + magma, en, false, 0},
		{"range in parentheses", "(0:05-0:10) " + magma, "[00:05 – 00:10] " + magma, en, false, 0},
		{"range in bold", "**00:05 - 00:10** " + magma, "[00:05 – 00:10] " + magma, en, false, 0},
		{"range with arrow", "**[00:00:05 → 00:00:10]** " + magma, "**[00:05 – 00:10]** " + magma, en, false, 0},
		{"range with SRT arrow", "[00:05 --> 00:10] " + magma, "[00:05 – 00:10] " + magma, en, false, 0},
		{"range with tilde", "【00:05~00:10】" + magma, "[00:05 – 00:10]" + magma, en, false, 0},
		{"range with to", "00:05 to 00:10: " + magma, "[00:05 – 00:10]: " + magma, en, false, 0},
		{"range bare", "- 00:00 – 00:55 Volcanoes", "- [00:00 – 00:55] Volcanoes", en, false, 0},
		{"range in Chinese", "【00分05秒至00分10秒】" + magma, "[00:05 – 00:10]" + magma, en, false, 0},
		{"canonical range", "- [00:00 – 00:55] Volcanoes", "- [00:00 – 00:55] Volcanoes", en, false, 0},
		// Not timestamps: left as written.
		{"aspect ratio", "The screen uses a 16:9 ratio.", "The screen uses a 16:9 ratio.", en, false, 0},
		{"time of day", "The talk starts at 10:30 am sharp.", "The talk starts at 10:30 am sharp.", en, false, 0},
		{"time of day without am", "Doors open at 10:30 each day.", "Doors open at 10:30 each day.", en, false, 0},
		{"time of day in parentheses", "Lunch (12:30 pm) follows.", "Lunch (12:30 pm) follows.", en, false, 0},
		{"schedule line", "10:30 am – Doors open", "10:30 am – Doors open", en, false, 0},
		{"score", "The score was 3:2 at half time.", "The score was 3:2 at half time.", en, false, 0},
		{"running time", "Total running time: 12:34 of footage.", "Total running time: 12:34 of footage.", en, false, 0},
		{"bible verse", "He quotes John 3:16 twice.", "He quotes John 3:16 twice.", en, false, 0},
		{"emphasis with spaces", "**Note** 00:05 **bold**", "**Note** 00:05 **bold**", en, false, 0},
		{"not a clock", "- [00:75] Magma", "- [00:75] Magma", en, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := CanonicalTimestamps(tc.line); got != tc.want {
				t.Errorf("CanonicalTimestamps(%q) = %q, want %q", tc.line, got, tc.want)
			}
			if again := CanonicalTimestamps(tc.want); again != tc.want {
				t.Errorf("not idempotent: %q → %q", tc.want, again)
			}
			out, keep, hl, st := NewGrounder(tc.segs).Line(tc.line)
			if !keep || out != tc.want {
				t.Fatalf("Line(%q) = %q, keep %v; want %q", tc.line, out, keep, tc.want)
			}
			if st.Repaired != 0 || st.Dropped != 0 || st.Checked != strings.Count(tc.want, "[")-strings.Count(tc.want, "[00:75]") {
				t.Errorf("counts %+v for %q", st, tc.want)
			}
			switch {
			case tc.hl && hl == nil:
				t.Errorf("no highlight for %q", out)
			case tc.hl && (hl.Start != tc.hlStart || strings.ContainsAny(hl.Text, "[]") || hl.Text == ""):
				t.Errorf("highlight %+v, want one at %v with the line's words", hl, tc.hlStart)
			case !tc.hl && hl != nil:
				t.Errorf("highlight %+v for %q, want none", hl, out)
			}
		})
	}
}

// TestGroundKeepsProse: a timestamp nothing supports goes from prose with
// its words kept, and takes a highlight line (one it begins) with it.
func TestGroundKeepsProse(t *testing.T) {
	t.Parallel()
	en := volcanoTranscript()
	tests := []struct {
		name, line, want string
		keep             bool
		st               recap.Grounding
	}{
		{"prose keeps its words", "The host thanks the sponsors and the film crew [12:00].", "The host thanks the sponsors and the film crew.", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"prose, any shape", "An overview of the sponsors (99:00), the crew and the budget.", "An overview of the sponsors, the crew and the budget.", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"prose, bold", "The film crew **12:00** thanks the sponsors.", "The film crew thanks the sponsors.", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"prose, its at goes too", "The film crew arrives at 1:12:00 with the sponsors.", "The film crew arrives with the sponsors.", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"a bullet that ends with one", "- The film crew thanks the sponsors (12:00)", "- The film crew thanks the sponsors", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"a supported one stays beside it", "Magma rises [00:05]; the film crew and the sponsors left the studio early [12:00].",
			"Magma rises [00:05]; the film crew and the sponsors left the studio early.", true, recap.Grounding{Checked: 2, Dropped: 1}},
		{"a heading", "### [12:00] Sponsors and crew", "### Sponsors and crew", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"a range past the end in prose", "The sponsors [05:00 – 06:00] thank the crew.", "The sponsors thank the crew.", true, recap.Grounding{Checked: 1, Dropped: 1}},
		{"highlight dropped", "- 02:00 – Aliens landed on the moon yesterday", "", false, recap.Grounding{Checked: 1, Dropped: 1}},
		{"bold highlight dropped", "- **[99:00]** Aliens landed on the moon", "", false, recap.Grounding{Checked: 1, Dropped: 1}},
		{"numbered highlight dropped", "3. (12:00) Aliens landed on the moon", "", false, recap.Grounding{Checked: 1, Dropped: 1}},
		{"range past the end dropped", "- [05:00 – 06:00] Outro", "", false, recap.Grounding{Checked: 1, Dropped: 1}},
		{"range within the transcript", "- [00:00 – 09:00] Volcanoes", "- [00:00 – 09:00] Volcanoes", true, recap.Grounding{Checked: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, keep, _, st := NewGrounder(en).Line(tc.line)
			if keep != tc.keep || out != tc.want {
				t.Fatalf("Line(%q) = %q, keep %v; want %q, keep %v", tc.line, out, keep, tc.want, tc.keep)
			}
			if st != tc.st {
				t.Errorf("counts %+v, want %+v", st, tc.st)
			}
		})
	}

	md := "## Overview\nThe host thanks the film crew [12:00] and the sponsors.\n\n## Highlights\n- [02:00] Aliens landed on the moon\n- (03:00) Dragons guard the volcano\n"
	out, hls, st := NewGrounder(en).Markdown(md)
	want := "## Overview\nThe host thanks the film crew and the sponsors.\n\n## Highlights\n"
	if out != want || len(hls) != 0 || st != (recap.Grounding{Checked: 3, Dropped: 3}) {
		t.Errorf("Markdown = %q, %d highlights, %+v; want %q, none, 3 checked and dropped", out, len(hls), st, want)
	}
	if !substantive(out) {
		t.Error("the overview is substance")
	}
}

func TestSubstantive(t *testing.T) {
	t.Parallel()
	for md, want := range map[string]bool{
		"":                                 false,
		"  \n\n":                           false,
		"## Overview\n\n## Highlights\n":   false,
		"## Highlights\n- [00:05]\n- **\n": false,
		"|---|---|\n":                      false,
		"Volcanoes.":                       true,
		"## Highlights\n- [00:05] Magma":   true,
		"火山":                               true,
	} {
		if got := substantive(md); got != want {
			t.Errorf("substantive(%q) = %v, want %v", md, got, want)
		}
	}
}

// TestEmptyAnswer: an empty reply, or one grounding empties, is an error
// (ErrEmptyAnswer), never an empty summary; shapes reach the result
// canonical.
func TestEmptyAnswer(t *testing.T) {
	t.Parallel()
	segs := volcanoTranscript()
	for _, tc := range []struct {
		name, reply string
		err         bool
		want        string
	}{
		{"empty reply", "", true, ""},
		{"blank reply", "\n \n", true, ""},
		{"all unsupported", "## Highlights\n- [05:00] Aliens landed on the moon\n- **08:00** Dragons guard the volcano\n", true, ""},
		{"shapes made canonical", "## Overview\nVolcanoes explained (00:05).\n\n## Highlights\n- **00:05** – Magma rises through the crust\n- 【00:40】The eruption of Vesuvius buried Pompeii\n",
			false, "## Overview\nVolcanoes explained [00:05].\n\n## Highlights\n- [00:05] – Magma rises through the crust\n- [00:40]The eruption of Vesuvius buried Pompeii\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := summarizetest.New(t, summarizetest.Options{})
			fake.SetScript(func(summarizetest.ChatRequest) (string, bool) { return tc.reply, true })
			l := New(Config{BaseURL: fake.URL(), Model: "m"})
			res, err := l.Summarize(context.Background(), Request{Title: "Volcanoes", Segments: segs}, nil)
			if tc.err {
				if !errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("Summarize = %+v, %v; want ErrEmptyAnswer", res, err)
				}
				_, err = l.Answer(context.Background(), Question{Segments: segs, Question: "What erupted?"}, nil)
				if !errors.Is(err, ErrEmptyAnswer) {
					t.Fatalf("Answer: %v; want ErrEmptyAnswer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Markdown != tc.want || len(res.Highlights) != 2 {
				t.Errorf("markdown %q with %d highlights; want %q with 2", res.Markdown, len(res.Highlights), tc.want)
			}
		})
	}
}
