package media_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
)

// rollingVocabulary is what the generated speaker says.
var rollingVocabulary = strings.Fields(`the a of to and in that is for it with as was on be at by this
have from or one had not but what all were when we there can an your which their said if do will each
about how up out them then she many some so these would other into has more her two like him see time
could no make than first been its who now people my made over did down only way find use may water long
little very after words called just where most know get through back much before go good new write our
used me man too any day same right look think also around another came come work three word must because
does part even place well such here take why things help put years different away again off went old number
video caption speech model summary lecture chapter question answer example result data network server`)

// rollingCue is one cue of a generated rolling track: its text lines,
// plain and as WebVTT with inline word timings.
type rollingCue struct {
	start, end  float64
	plain, tags []string
}

// rollingCues generates the automatic captions of minutes of speech as
// YouTube serves them: each line is first shown being spoken (every word
// after the first with an inline <00:00:01.200><c> timing) below the line
// before it, then in a 10 ms snapshot cue alone, then again on top of the
// next line. It returns the cues and the spoken lines.
func rollingCues(minutes int, seed uint64) ([]rollingCue, []string) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var cues []rollingCue
	var spoken []string
	prev := " " // the first cue's top line holds one space
	for t := 0.0; t < float64(minutes*60); {
		n := 4 + r.IntN(7)
		words := make([]string, n)
		timed := make([]string, n)
		for i := range words {
			words[i] = rollingVocabulary[r.IntN(len(rollingVocabulary))]
			if i == 0 {
				timed[i] = words[i]
			} else {
				timed[i] = fmt.Sprintf("<%s><c> %s</c>", vttTime(t+float64(i)*0.35), words[i])
			}
		}
		line := strings.Join(words, " ")
		dur := float64(n) * 0.35
		cues = append(cues,
			rollingCue{t, t + dur, []string{prev, line}, []string{prev, strings.Join(timed, "")}},
			rollingCue{t + dur, t + dur + 0.01, []string{line, " "}, []string{line, " "}})
		spoken = append(spoken, line)
		prev = line
		t += dur + 0.01
	}
	return cues, spoken
}

func vttTime(s float64) string {
	ms := int64(s*1000 + 0.5)
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// rollingTrack is rollingCues as a WebVTT file.
func rollingTrack(minutes int, seed uint64) (string, []string) {
	cues, spoken := rollingCues(minutes, seed)
	var b strings.Builder
	b.WriteString("WEBVTT\nKind: captions\nLanguage: en\n\n")
	for _, c := range cues {
		fmt.Fprintf(&b, "%s --> %s align:start position:0%%\n%s\n\n", vttTime(c.start), vttTime(c.end), strings.Join(c.tags, "\n"))
	}
	return b.String(), spoken
}

// rollingSRT is rollingCues as SubRip, as a converted track would be: no
// inline timings, blank lines dropped.
func rollingSRT(minutes int, seed uint64) (string, []string) {
	cues, spoken := rollingCues(minutes, seed)
	var b strings.Builder
	for i, c := range cues {
		var lines []string
		for _, l := range c.plain {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, strings.Replace(vttTime(c.start), ".", ",", 1),
			strings.Replace(vttTime(c.end), ".", ",", 1), strings.Join(lines, "\n"))
	}
	return b.String(), spoken
}

// modelChars is how many characters segments take in the prompt: one
// line each, "[mm:ss] text" (summarize's transcript lines).
func modelChars(segs []recap.Segment) int {
	n := 0
	for _, s := range segs {
		n += len("[00:00] ") + len(s.Text) + 1
		if s.Start >= 3600 {
			n += 2
		}
	}
	return n
}

func textChars(segs []recap.Segment) int {
	n := 0
	for _, s := range segs {
		n += len(s.Text) + 1
	}
	return n
}

// checkSpokenOnce checks that the words of segs are exactly the spoken
// lines' words, in order: every phrase kept, none twice.
func checkSpokenOnce(t testing.TB, segs []recap.Segment, spoken []string) {
	t.Helper()
	var got, want []string
	for _, s := range segs {
		got = append(got, strings.Fields(s.Text)...)
	}
	for _, l := range spoken {
		want = append(want, strings.Fields(l)...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d words reach the model, %d were spoken", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("word %d is %q, spoken %q", i, got[i], want[i])
		}
	}
}

func spokenChars(spoken []string) int { return len(strings.Join(spoken, " ")) }

// A 30-minute rolling track, parsed by its shape alone, reaches the model
// at no more than 1.3 times the characters of the speech, every phrase
// once, each at the time it was spoken.
func TestRollingTrack30Minutes(t *testing.T) {
	t.Parallel()
	vtt, spoken := rollingTrack(30, 1)
	raw, err := media.ParseVTT([]byte(vtt))
	if err != nil {
		t.Fatal(err)
	}
	segs, rolling, err := media.ParseSubtitles("vtt", []byte(vtt))
	if err != nil {
		t.Fatal(err)
	}
	if !rolling {
		t.Fatal("a YouTube-style rolling track was not recognised")
	}
	checkSpokenOnce(t, segs, spoken)
	checkSegmentsSane(t, segs)
	before := float64(modelChars(raw)) / float64(spokenChars(spoken))
	after := float64(modelChars(segs)) / float64(spokenChars(spoken))
	t.Logf("30 min rolling track: %d cues -> %d segments; model characters %.2fx the speech before, %.2fx after (text alone %.2fx)",
		len(raw), len(segs), before, after, float64(textChars(segs))/float64(spokenChars(spoken)))
	if after > 1.3 {
		t.Fatalf("the track reaches the model at %.2fx the speech, want <= 1.3x", after)
	}
	if before < 2.5 {
		t.Fatalf("the generated track is not rolling enough to test anything (%.2fx undeduplicated)", before)
	}
	// Each line is kept at the cue that first showed it.
	for i, s := range segs[:min(len(segs), 50)] {
		if i > 0 && s.Start <= segs[i-1].Start {
			t.Fatalf("segment %d starts at %.3f, not after %.3f", i, s.Start, segs[i-1].Start)
		}
	}

	// The same speech as SubRip (a converted track has no inline timings):
	// still recognised by its repeated lines.
	srt, spoken := rollingSRT(30, 1)
	segs, rolling, err = media.ParseSubtitles("srt", []byte(srt))
	if err != nil || !rolling {
		t.Fatalf("SubRip rolling track: rolling=%v err=%v", rolling, err)
	}
	checkSpokenOnce(t, segs, spoken)
}

// Subtitles written by people are left as they are, even when a word
// repeats across cues ("no, no").
func TestManualSubtitlesNotRolling(t *testing.T) {
	t.Parallel()
	vtt := "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nNo,\n\n00:00:02.000 --> 00:00:03.000\nno, no.\n\n" +
		"00:00:03.000 --> 00:00:05.000\nWe said no.\n\n00:00:05.000 --> 00:00:07.000\nAnd then\nwe left.\n\n" +
		"00:00:07.000 --> 00:00:09.000\nwe left.\nFor good.\n\n00:00:09.000 --> 00:00:10.000\nThe end.\n"
	segs, rolling, err := media.ParseSubtitles("vtt", []byte(vtt))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := media.ParseVTT([]byte(vtt))
	if rolling {
		t.Fatal("manual subtitles taken for rolling captions")
	}
	assertSegments(t, segs, want)
}

// A rolling track a page offers as plain subtitles (kind="subtitles", not
// automatic captions) is deduplicated all the same, through yt-dlp.
func TestRollingTrackLabelledSubtitles(t *testing.T) {
	t.Parallel()
	c, b := setup(t, media.Config{})
	vtt, spoken := rollingTrack(5, 2)
	b.host.Serve("/rolling.html", mediatest.PageHandler("Rolling", "talk.webm", "rolling.en.vtt"))
	b.host.Serve("/rolling.en.vtt", mediatest.BytesHandler("rolling.en.vtt", "text/vtt", []byte(vtt), time.Time{}))
	segs, track, err := c.Subtitles(context.Background(), b.host.URL("/rolling.html"), nil, "en")
	if err != nil {
		t.Fatal(err)
	}
	if track.Auto {
		t.Fatalf("the page's track came back as automatic captions: %+v", track)
	}
	checkSpokenOnce(t, segs, spoken)
	if r := float64(modelChars(segs)) / float64(spokenChars(spoken)); r > 1.3 {
		t.Fatalf("%.2fx the speech reaches the model", r)
	}
}

// BenchmarkRollingCaptions parses a generated 30-minute rolling track and
// reports how many characters reach the model per character spoken:
// go test -run XXX -bench RollingCaptions ./media/
func BenchmarkRollingCaptions(b *testing.B) {
	vtt, spoken := rollingTrack(30, 1)
	data := []byte(vtt)
	var segs []recap.Segment
	for b.Loop() {
		var err error
		if segs, _, err = media.ParseSubtitles("vtt", data); err != nil {
			b.Fatal(err)
		}
	}
	raw, _ := media.ParseVTT(data)
	ratio := float64(modelChars(segs)) / float64(spokenChars(spoken))
	b.ReportMetric(ratio, "model_chars/spoken_char")
	b.ReportMetric(float64(modelChars(raw))/float64(spokenChars(spoken)), "undeduplicated_chars/spoken_char")
	b.Logf("30 min rolling track (%d bytes, %d cues): %.2fx the spoken characters reach the model (%.2fx without deduplication)",
		len(data), len(raw), ratio, float64(modelChars(raw))/float64(spokenChars(spoken)))
	checkSpokenOnce(b, segs, spoken)
}

// Captions that grow word by word, or slide, keep each word once; the
// older YouTube sample (two-line cues with snapshots) too.
func TestRollingShapes(t *testing.T) {
	t.Parallel()
	growing := "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nso\n\n00:00:01.000 --> 00:00:02.000\nso today\n\n" +
		"00:00:02.000 --> 00:00:03.000\nso today we talk\n\n00:00:03.000 --> 00:00:04.000\nso today we talk about\n\n" +
		"00:00:04.000 --> 00:00:05.000\nabout captions\n\n00:00:05.000 --> 00:00:06.000\nabout captions that roll\n"
	segs, rolling, err := media.ParseSubtitles("vtt", []byte(growing))
	if err != nil {
		t.Fatal(err)
	}
	if !rolling {
		t.Fatal("growing captions not recognised")
	}
	var words []string
	for _, s := range segs {
		words = append(words, s.Text)
	}
	if got := strings.Join(words, " "); got != "so today we talk about captions that roll" {
		t.Errorf("growing captions became %q", got)
	}

	segs, rolling, err = media.ParseSubtitles("vtt", []byte(youtubeAuto))
	if err != nil || !rolling {
		t.Fatalf("YouTube sample: rolling=%v err=%v", rolling, err)
	}
	assertSegments(t, segs, []recap.Segment{
		{Start: 0, End: 2.35, Text: "hello everyone and welcome"},
		{Start: 2.36, End: 5, Text: "to the show"},
		{Start: 5.01, End: 7, Text: "today we talk"},
	})
}
