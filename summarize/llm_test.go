package summarize

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/summarize/summarizetest"
)

type bundle struct {
	fake *summarizetest.Server
}

func setup(t testing.TB, cfg Config, opts summarizetest.Options) (*LLM, *bundle) {
	t.Helper()
	fake := summarizetest.New(t, opts)
	cfg.BaseURL = fake.URL()
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	return New(cfg), &bundle{fake: fake}
}

// longTranscript has a segment every 5 s for dur seconds; each names its
// minute so a test can tell where a highlight comes from.
func longTranscript(dur float64, words int) []recap.Segment {
	var segs []recap.Segment
	filler := strings.Repeat(" and the speaker keeps talking about it", words/7)
	for s := 0.0; s < dur; s += 5 {
		segs = append(segs, recap.Segment{Start: s, End: min(s+5, dur), Text: fmt.Sprintf("minute %d second %d%s", int(s)/60, int(s)%60, filler)})
	}
	return segs
}

func TestSummarizeShort(t *testing.T) {
	t.Parallel()
	segs := []recap.Segment{
		{Start: 0, End: 4, Text: "Welcome to the show about bread baking."},
		{Start: 65, End: 70, Text: "Now we knead the dough for ten minutes."},
		{Start: 3725, End: 3730, Text: "Finally the loaf comes out of the oven."},
	}
	tests := []struct {
		name   string
		req    Request
		stream bool
		want   []string
	}{
		{"stream", Request{Title: "Bread", Duration: 100, Segments: segs[:2]}, true, []string{"## Overview", "## Highlights", "- [00:00] Welcome to the show", "- [01:05] Now we knead"}},
		{"nil delta", Request{Title: "Bread", Segments: segs[:2]}, false, []string{"- [01:05] Now we knead"}},
		{"hour timestamps", Request{Segments: segs}, true, []string{"- [1:02:05] Finally the loaf", "## Chapters"}},
		{"images with transcript", Request{Segments: segs[:1], Images: []string{"https://img.test/a.png"}}, true, []string{"Images: 1", "https://img.test/a.png", "- [00:00] Welcome"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, b := setup(t, Config{}, summarizetest.Options{})
			var deltas []string
			var onDelta func(string)
			if tt.stream {
				onDelta = func(s string) { deltas = append(deltas, s) }
			}
			res, err := l.Summarize(context.Background(), tt.req, onDelta)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Markdown, w) {
					t.Errorf("markdown lacks %q:\n%s", w, res.Markdown)
				}
			}
			if tt.stream {
				if len(deltas) < 3 {
					t.Errorf("got %d deltas, want several", len(deltas))
				}
				if got := strings.Join(deltas, ""); got != res.Markdown && len(res.Chapters) == 0 {
					t.Errorf("deltas %q != markdown %q", got, res.Markdown)
				}
			}
			if b.fake.ChatCalls() != 1 || res.Usage.Calls != 1 {
				t.Errorf("calls: fake %d, usage %d; want 1", b.fake.ChatCalls(), res.Usage.Calls)
			}
			if res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
				t.Errorf("usage not recorded: %+v", res.Usage)
			}
			if res.Model != "test-model" || res.Truncated {
				t.Errorf("model %q truncated %v", res.Model, res.Truncated)
			}
			if !strings.Contains(b.fake.Requests()[0].Text(), "[01:05] Now we knead") && len(tt.req.Segments) > 1 {
				t.Errorf("transcript line not sent as [mm:ss] text")
			}
		})
	}
}

func TestSummarizeLong(t *testing.T) {
	t.Parallel()
	const dur = 3 * 3600
	l, b := setup(t, Config{ContextTokens: 3000, Concurrency: 8}, summarizetest.Options{})
	segs := longTranscript(dur, 14)
	ws, _ := splitWindows(segs, 3000)
	if len(ws) < 4 {
		t.Fatalf("only %d windows; the test needs map-reduce", len(ws))
	}
	var deltas strings.Builder
	res, err := l.Summarize(context.Background(), Request{Title: "Lecture", Duration: dur, Segments: segs}, func(s string) { deltas.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	// Every window once, plus at least one reduce call; no other calls.
	var maps, reduces int
	for _, r := range b.fake.Requests() {
		switch sys := r.Messages[0].Text; {
		case strings.Contains(sys, "You summarize part"):
			maps++
		case strings.Contains(sys, "merge"), strings.Contains(sys, "Merge"):
			reduces++
		default:
			t.Errorf("unexpected request: %.200s", sys)
		}
	}
	if maps != len(ws) || reduces < 1 || b.fake.ChatCalls() != maps+reduces || res.Usage.Calls != b.fake.ChatCalls() {
		t.Errorf("calls: windows %d, maps %d, reduces %d, fake %d, usage %d", len(ws), maps, reduces, b.fake.ChatCalls(), res.Usage.Calls)
	}
	// Chapters cover 0..3h contiguously.
	if len(res.Chapters) < 2 {
		t.Fatalf("chapters: %+v\n%s", res.Chapters, res.Markdown)
	}
	if res.Chapters[0].Start != 0 || res.Chapters[len(res.Chapters)-1].End != dur {
		t.Errorf("chapters do not span 0..%d: %+v", dur, res.Chapters)
	}
	for i := 1; i < len(res.Chapters); i++ {
		if res.Chapters[i].Start != res.Chapters[i-1].End {
			t.Errorf("gap between chapters %d and %d: %+v", i-1, i, res.Chapters)
		}
	}
	if !strings.Contains(res.Markdown, "- [00:00 – 3:00:00] ") && !strings.Contains(res.Markdown, "– 3:00:00] ") {
		t.Errorf("markdown chapters not repaired to the end:\n%s", res.Markdown)
	}
	// Highlights reach into the last hour.
	hl, _, _, _ := section(res.Markdown, "highlights")
	if !strings.Contains(hl, "[2:") {
		t.Errorf("no highlight from the last hour:\n%s", hl)
	}
	if !strings.Contains(deltas.String(), "## Highlights") {
		t.Errorf("final summary was not streamed")
	}
	if res.Truncated {
		t.Errorf("nothing should have been cut")
	}
}

func TestSummarizeTruncated(t *testing.T) {
	t.Parallel()
	l, _ := setup(t, Config{ContextTokens: 100}, summarizetest.Options{})
	huge := strings.Repeat("word ", 400)
	var deltas strings.Builder
	res, err := l.Summarize(context.Background(), Request{Segments: []recap.Segment{{Start: 0, End: 60, Text: huge}}}, func(s string) { deltas.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || !strings.Contains(res.Markdown, "Note:") {
		t.Errorf("truncated %v, markdown:\n%s", res.Truncated, res.Markdown)
	}
	if !strings.HasSuffix(deltas.String(), truncationNote) {
		t.Errorf("note not streamed")
	}
}

func TestSummarizeImagesOnly(t *testing.T) {
	t.Parallel()
	l, b := setup(t, Config{}, summarizetest.Options{})
	imgs := []string{"https://img.test/1.png", "https://img.test/2.jpg"}
	res, err := l.Summarize(context.Background(), Request{Images: imgs, Prompt: "What is shown?"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range append([]string{"Images: 2"}, imgs...) {
		if !strings.Contains(res.Markdown, w) {
			t.Errorf("markdown lacks %q:\n%s", w, res.Markdown)
		}
	}
	reqs := b.fake.Requests()
	if len(reqs) != 1 || len(reqs[0].Messages[1].Images) != 2 {
		t.Errorf("images not sent as image_url parts: %+v", reqs)
	}
}

func TestAnswer(t *testing.T) {
	t.Parallel()
	long := longTranscript(3*3600, 14)
	long[1500].Text = "the telescope mirror is ground by hand"
	tests := []struct {
		name   string
		q      Question
		budget int
		want   []string
		prompt []string
	}{
		{
			name: "short",
			q: Question{Title: "Bread", Segments: []recap.Segment{{Start: 0, End: 5, Text: "Hello bakers"}, {Start: 125, End: 130, Text: "Use rye flour for flavour"}},
				History:  []recap.Message{{Role: "user", Content: "summarize"}, {Role: "assistant", Content: "## Overview\nBread."}},
				Question: "Which flour?"},
			budget: 12000,
			want:   []string{"- [02:05] Use rye flour"},
			prompt: []string{"Question: Which flour?", "## Overview\nBread."},
		},
		{
			name:   "long selects relevant windows",
			q:      Question{Segments: long, Question: "How is the telescope mirror made?"},
			budget: 2000,
			want:   []string{"[2:05:00] the telescope mirror"},
			prompt: []string{"only the passages most relevant"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, b := setup(t, Config{ContextTokens: tt.budget}, summarizetest.Options{})
			res, err := l.Answer(context.Background(), tt.q, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Markdown, w) {
					t.Errorf("answer lacks %q:\n%s", w, res.Markdown)
				}
			}
			sent := b.fake.Requests()[0].Text()
			for _, w := range tt.prompt {
				if !strings.Contains(sent, w) {
					t.Errorf("prompt lacks %q", w)
				}
			}
			if EstimateTokens(sent) > tt.budget*2 {
				t.Errorf("prompt of %d tokens exceeds budget %d", EstimateTokens(sent), tt.budget)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	segs := []recap.Segment{{Start: 0, End: 5, Text: "hello"}}
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusNotFound, true},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			l, b := setup(t, Config{MaxRetries: -1}, summarizetest.Options{})
			b.fake.SetChatError(tt.status)
			_, err := l.Summarize(context.Background(), Request{Segments: segs}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrPermanent) != tt.permanent {
				t.Errorf("errors.Is(%v, ErrPermanent) = %v", err, !tt.permanent)
			}
			if !strings.HasPrefix(err.Error(), "summarize: llm: ") {
				t.Errorf("error prefix: %v", err)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		l, _ := setup(t, Config{}, summarizetest.Options{})
		if _, err := l.Summarize(context.Background(), Request{}, nil); !errors.Is(err, ErrEmpty) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("hang times out", func(t *testing.T) {
		t.Parallel()
		l, b := setup(t, Config{Timeout: 200 * time.Millisecond, MaxRetries: -1}, summarizetest.Options{})
		b.fake.SetHang(true)
		_, err := l.Summarize(context.Background(), Request{Segments: segs}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestChaptersRepair(t *testing.T) {
	t.Parallel()
	md := "## Overview\nx\n\n## Chapters\n- [00:30 – 10:00] Intro\n- [12:00 – 50:00] Middle\n1. [50:00 - 58:00]: End\n\n## Highlights\n- [01:00] a\n"
	ch, changed := repairChapters(parseChapters(md), 0, 3600)
	want := []recap.Chapter{{Start: 0, End: 720, Title: "Intro"}, {Start: 720, End: 3000, Title: "Middle"}, {Start: 3000, End: 3600, Title: "End"}}
	if !changed || fmt.Sprint(ch) != fmt.Sprint(want) {
		t.Fatalf("got %+v", ch)
	}
	out := replaceChapters(md, ch)
	if !strings.Contains(out, "- [50:00 – 1:00:00] End\n\n## Highlights") {
		t.Errorf("replaced:\n%s", out)
	}
	// A summary of 10:00–55:00 begins its chapters at 10:00.
	ch, _ = repairChapters(parseChapters(md), 600, 3300)
	want = []recap.Chapter{{Start: 600, End: 720, Title: "Intro"}, {Start: 720, End: 3000, Title: "Middle"}, {Start: 3000, End: 3300, Title: "End"}}
	if fmt.Sprint(ch) != fmt.Sprint(want) {
		t.Fatalf("part: got %+v", ch)
	}
	if h := header("Talk", 600, 3300); !strings.Contains(h, "Part: 10:00 – 55:00 of the video") || strings.Contains(h, "Duration") {
		t.Errorf("header of a part: %q", h)
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sec  float64
		want string
	}{{0, "[00:00]"}, {65.9, "[01:05]"}, {3599, "[59:59]"}, {3600, "[1:00:00]"}, {10800, "[3:00:00]"}} {
		if got := FormatTimestamp(tt.sec); got != tt.want {
			t.Errorf("FormatTimestamp(%v) = %q, want %q", tt.sec, got, tt.want)
		}
	}
	for _, tt := range []struct {
		s        string
		min, max int
	}{{"", 0, 0}, {"hello world, this is a test", 6, 12}, {"你好世界", 4, 4}, {"Привет мир", 4, 6}} {
		if got := EstimateTokens(tt.s); got < tt.min || got > tt.max {
			t.Errorf("EstimateTokens(%q) = %d, want %d..%d", tt.s, got, tt.min, tt.max)
		}
	}
	for _, tt := range []struct{ out, prompt, transcript, want string }{
		{"French", "", "hello", "in French"},
		{"", "请总结", "hello", "Chinese"},
		{"", "", "これは日本語の文章です", "Japanese"},
		{"", "", "안녕하세요", "Korean"},
		{"", "", "Привет всем", "Cyrillic"},
		{"", "", "Hola a todos", "language of the transcript"},
	} {
		if got := languageInstruction(tt.out, tt.prompt, tt.transcript); !strings.Contains(got, tt.want) {
			t.Errorf("languageInstruction(%q,%q,%q) = %q", tt.out, tt.prompt, tt.transcript, got)
		}
	}
}
