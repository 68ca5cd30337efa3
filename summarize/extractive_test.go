package summarize

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/recap/recap"
)

var topics = []struct {
	name      string
	sentences []string
}{
	{"cooking", []string{
		"Today we start in the kitchen by chopping onions and garlic for the sauce.",
		"Heat the olive oil in a heavy pan before the onions go in.",
		"The sauce needs ripe tomatoes, a pinch of salt and fresh basil.",
		"Let the tomato sauce simmer gently while the pasta water boils.",
		"Salt the pasta water generously, it should taste like the sea.",
		"Cook the pasta until it is al dente, then drain it quickly.",
		"A good recipe balances acidity in the tomatoes with sweetness from the onions.",
		"Grate parmesan cheese over the pasta just before serving.",
		"Season the sauce again and taste it with a clean spoon.",
		"Chefs often finish the pan sauce with a knob of butter.",
		"Fresh herbs like basil and parsley brighten any pasta recipe.",
		"Serve the dish hot, and the kitchen smells wonderful.",
	}},
	{"astronomy", []string{
		"Now let us look up at the night sky and the planets.",
		"Jupiter is the largest planet and its moons orbit like a small solar system.",
		"A telescope with a wide mirror gathers more starlight from distant galaxies.",
		"The Andromeda galaxy is visible on dark nights far from city lights.",
		"Stars are born in nebulae, clouds of gas and dust in space.",
		"Saturn's rings are made of ice and rock orbiting the planet.",
		"Astronomers measure the distance to stars with parallax.",
		"Our galaxy, the Milky Way, holds hundreds of billions of stars.",
		"A lunar eclipse happens when the Earth's shadow falls on the moon.",
		"The telescope must be aligned with the pole star for long exposures.",
		"Comets leave tails of gas and dust as they orbit near the sun.",
		"The universe keeps expanding, and distant galaxies recede from us.",
	}},
	{"football", []string{
		"Switching to sport, the football match last weekend was thrilling.",
		"The striker scored a goal in the first minute with a header.",
		"The goalkeeper saved a penalty and the stadium erupted.",
		"Both teams pressed high, and the midfield battle decided the match.",
		"The coach changed tactics at halftime and brought on a winger.",
		"A red card for the defender left the team with ten players.",
		"The referee checked the video replay before awarding the goal.",
		"Fans sang in the stadium for the whole second half.",
		"The league table is tight, and every match matters now.",
		"The winger crossed the ball and the striker volleyed it into the net.",
		"In stoppage time the goalkeeper came up for a corner kick.",
		"The team celebrated the victory with their supporters after the final whistle.",
	}},
	{"taxes", []string{
		"Finally, a word about taxes and your annual tax return.",
		"Keep every receipt, because deductions lower your taxable income.",
		"The income tax rate depends on your bracket and filing status.",
		"File the tax return before the deadline to avoid penalties.",
		"Self-employed workers pay estimated taxes every quarter.",
		"Charitable donations can be deducted if you itemize.",
		"An accountant can explain which expenses are deductible.",
		"Capital gains from investments are taxed at a different rate.",
		"The tax office may audit returns with unusual deductions.",
		"Pension contributions reduce taxable income this year.",
		"Sales tax and property tax are collected by local governments.",
		"A refund arrives when you paid more tax than you owed.",
	}},
}

// topicTranscript writes each topic for perTopic seconds, one sentence
// every 10 s, cycling through the topic's sentences.
func topicTranscript(perTopic float64) []recap.Segment {
	var segs []recap.Segment
	t := 0.0
	for _, tp := range topics {
		for i := 0; float64(i)*10 < perTopic; i++ {
			segs = append(segs, recap.Segment{Start: t, End: t + 10, Text: tp.sentences[i%len(tp.sentences)]})
			t += 10
		}
	}
	return segs
}

var highlightLine = regexp.MustCompile(`(?m)^- \[([0-9:]+)\] (.*)$`)

func TestExtractiveSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		perTopic float64
		chapters bool
	}{
		{"four topics of two minutes", 120, false},
		{"four topics of fifteen minutes", 900, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			segs := topicTranscript(tt.perTopic)
			bySecond := map[string]recap.Segment{}
			for _, s := range segs {
				bySecond[recap.Clock(s.Start)] = s
			}
			e := NewExtractive(ExtractiveConfig{})
			var deltas []string
			res, err := e.Summarize(context.Background(), Request{Title: "Mixed", Segments: segs}, func(s string) { deltas = append(deltas, s) })
			if err != nil {
				t.Fatal(err)
			}
			if res.Model != ExtractiveModel {
				t.Errorf("model %q", res.Model)
			}
			if len(deltas) < 2 || strings.Join(deltas, "") != res.Markdown {
				t.Errorf("deltas (%d) do not make up the markdown", len(deltas))
			}
			hl, _, _, _ := section(res.Markdown, "highlights")
			matches := highlightLine.FindAllStringSubmatch(hl, -1)
			if len(matches) != 8 {
				t.Errorf("got %d highlights, want 8:\n%s", len(matches), res.Markdown)
			}
			perTopic := make([]int, len(topics))
			for _, m := range matches {
				seg, ok := bySecond[m[1]]
				if !ok || seg.Text != m[2] {
					t.Errorf("highlight %q does not quote the segment at %s (%q)", m[2], m[1], seg.Text)
					continue
				}
				perTopic[int(seg.Start/tt.perTopic)]++
			}
			for i, n := range perTopic {
				if n == 0 {
					t.Errorf("no highlight from topic %s:\n%s", topics[i].name, res.Markdown)
				}
			}
			if !strings.Contains(res.Markdown, "## Overview\n") {
				t.Errorf("no overview")
			}
			if !tt.chapters {
				if len(res.Chapters) != 0 || strings.Contains(res.Markdown, "## Chapters") {
					t.Errorf("short media got chapters")
				}
				return
			}
			dur := 4 * tt.perTopic
			ch := res.Chapters
			if len(ch) < 4 || ch[0].Start != 0 || ch[len(ch)-1].End != dur {
				t.Fatalf("chapters %+v", ch)
			}
			for i := 1; i < len(ch); i++ {
				if ch[i].Start != ch[i-1].End {
					t.Errorf("chapters not contiguous: %+v", ch)
				}
			}
			// Every topic change is a chapter boundary, within half a minute.
			for k := 1; k < len(topics); k++ {
				at := float64(k) * tt.perTopic
				found := false
				for _, c := range ch[1:] {
					found = found || math.Abs(c.Start-at) <= 30
				}
				if !found {
					t.Errorf("no chapter boundary near %s: %+v", recap.Clock(at), ch)
				}
			}
		})
	}
}

func TestExtractiveAnswer(t *testing.T) {
	t.Parallel()
	segs := topicTranscript(120)
	e := NewExtractive(ExtractiveConfig{})
	tests := []struct {
		q    string
		want string
	}{
		{"Who saved the penalty?", "[04:20] “The goalkeeper saved a penalty"},
		{"What is Saturn's ring made of?", "[02:50] “Saturn's rings are made of ice"},
		{"How do I bake sourdough?", "does not seem to mention"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			t.Parallel()
			res, err := e.Answer(context.Background(), Question{Segments: segs, Question: tt.q}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Markdown, tt.want) {
				t.Errorf("answer lacks %q:\n%s", tt.want, res.Markdown)
			}
		})
	}
	if _, err := e.Summarize(context.Background(), Request{Images: []string{"x"}}, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("images only: %v", err)
	}
}
