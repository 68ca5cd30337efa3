package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/summarize/summarizetest"
)

// transcriptMoments are the moments of the test video's subtitles (cues
// at 1.5–7.0, 8.5–13.4 and 14.9–20.2 s) as summaries write them.
var transcriptMoments = map[string]bool{"00:01": true, "00:08": true, "00:14": true}

var momentRE = regexp.MustCompile(`\[(\d{1,2}:\d{2}(?::\d{2})?)\]`)

// TestGroundedHighlights has the fake model answer with one moment off
// by 46 s and one invented line: the reply, streamed or not, shows the
// first at the transcript's moment and drops the second.
func TestGroundedHighlights(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	e.Fake.SetScript(func(r summarizetest.ChatRequest) (string, bool) {
		return summarizetest.Answer(r) +
			"- [00:54] Subtitles are parsed into segments with timestamps\n" +
			"- [00:40] A dragon sings opera on the moon\n", true
	})
	ctx := context.Background()
	check := func(t *testing.T, content string) {
		t.Helper()
		for _, m := range momentRE.FindAllStringSubmatch(content, -1) {
			if !transcriptMoments[m[1]] {
				t.Errorf("the reply shows %s, which is in no subtitle cue:\n%s", m[0], content)
			}
		}
		if strings.Contains(content, "dragon") {
			t.Errorf("the invented line survived:\n%s", content)
		}
		if !strings.Contains(content, "- [00:08] Subtitles are parsed into segments with timestamps") {
			t.Errorf("the misplaced line was not moved to its cue at [00:08]:\n%s", content)
		}
		checkSummary(t, content)
	}

	t.Run("non-stream", func(t *testing.T) {
		var raw *http.Response
		resp, err := e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()), option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		check(t, resp.Choices[0].Message.Content)

		// The summary row keeps the highlights with their sources.
		j, err := e.Store.Job(ctx, raw.Header.Get("X-Recap-Job-Id"))
		if err != nil || j.SummaryID == nil {
			t.Fatalf("job %v, %v", j, err)
		}
		g, err := e.Store.SummaryGroundingOf(ctx, *j.SummaryID)
		if err != nil {
			t.Fatal(err)
		}
		if g.Counts == nil {
			t.Fatal("the summary stage saved no grounding counts")
		}
		if *g.Counts != (recap.Grounding{Checked: 5, Repaired: 1, Dropped: 1}) {
			t.Errorf("grounding = %+v, want 5 checked (3 cues, 2 invented), 1 repaired, 1 dropped", *g.Counts)
		}
		var found bool
		for _, h := range g.Highlights {
			if h.Start == 8.468 && strings.HasPrefix(h.Source.Text, "First, subtitles are parsed into segments") {
				found = true
			}
		}
		if !found {
			t.Errorf("no highlight at the repaired cue in %+v", g.Highlights)
		}
	})
	t.Run("stream", func(t *testing.T) {
		p := userMessage("Key moments, please " + e.Host.PageURL())
		stream := e.Client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		streamed := acc.Choices[0].Message.Content
		check(t, streamed)
		// The stored summary is what was streamed: asked again, the cache
		// answers with the same text.
		resp, err := e.Client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != streamed {
			t.Errorf("cached reply differs from the stream:\n%q\n%q", got, streamed)
		}
	})
}
