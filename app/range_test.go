package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// lectureVTT subtitles the four-minute lecture: one cue every 10 s
// (10i+1 to 10i+6 s), each naming its topic number.
func lectureVTT() []byte {
	var b strings.Builder
	b.WriteString("WEBVTT\n\n")
	for i := 0; i < 24; i++ {
		fmt.Fprintf(&b, "00:%02d:%02d.000 --> 00:%02d:%02d.000\nThis part is about topic %02d of the lecture.\n\n",
			(10*i+1)/60, (10*i+1)%60, (10*i+6)/60, (10*i+6)%60, i)
	}
	return []byte(b.String())
}

// moments returns the seconds of every [mm:ss] in a summary.
func moments(t *testing.T, content string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range momentRE.FindAllStringSubmatch(content, -1) {
		sec := 0.0
		for _, p := range strings.Split(m[1], ":") {
			v, _ := strconv.Atoi(p)
			sec = sec*60 + float64(v)
		}
		out = append(out, sec)
	}
	return out
}

// checkRangeMoments requires at least min moments in the summary, all within
// [from, to].
func checkRangeMoments(t *testing.T, content string, from, to float64, min int) {
	t.Helper()
	ms := moments(t, content)
	if len(ms) < min {
		t.Errorf("%d moments, want at least %d:\n%s", len(ms), min, content)
	}
	for _, m := range ms {
		if m < from || m > to {
			t.Errorf("moment %v s is outside the range %v–%v s:\n%s", m, from, to, content)
		}
	}
}

// TestRangedSummaries: start/end summarize part of a video through every
// door. Subtitles are cut to the range; without subtitles only the range's
// audio reaches speech-to-text, its timestamps at the video's own times;
// the job is priced by the range; the cache tells ranges from the whole
// video; bad ranges are 400 naming the field.
func TestRangedSummaries(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	e.Host.Serve("/lecture.ogg", mediatest.FileHandler(mediatest.GenerateLongAudio(t, 4), "audio/ogg"))
	e.Host.Serve("/lecture.vtt", mediatest.BytesHandler("lecture.vtt", "text/vtt", lectureVTT(), time.Unix(0, 0)))
	e.Host.Serve("/lecture.html", mediatest.PageHandler("Lecture", "/lecture.ogg", "/lecture.vtt"))
	e.Host.Serve("/spoken.html", mediatest.PageHandler("Spoken lecture", "/lecture.ogg", ""))
	subs, spoken := e.Host.URL("/lecture.html"), e.Host.URL("/spoken.html")

	chat := func(t *testing.T, url string, start, end any) (string, *recap.Job) {
		t.Helper()
		var raw *http.Response
		opts := []option.RequestOption{option.WithResponseInto(&raw)}
		if start != nil {
			opts = append(opts, option.WithJSONSet("start", start))
		}
		if end != nil {
			opts = append(opts, option.WithJSONSet("end", end))
		}
		resp, err := e.Client.Chat.Completions.New(ctx, userMessage(url), opts...)
		if err != nil {
			t.Fatal(err)
		}
		j, err := e.Store.Job(ctx, raw.Header.Get("X-Recap-Job-Id"))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Choices[0].Message.Content, j
	}
	lastPrompt := func() string {
		reqs := e.Fake.Requests()
		return reqs[len(reqs)-1].Text()
	}

	var first *recap.Job
	t.Run("subtitles", func(t *testing.T) {
		content, j := chat(t, subs, 60, "1:55")
		first = j
		checkRangeMoments(t, content, 60, 115, 5)
		// Only the cues overlapping 1:00–1:55 reached the model.
		p := lastPrompt()
		for i := 0; i < 24; i++ {
			in := strings.Contains(p, fmt.Sprintf("topic %02d ", i))
			if want := i >= 6 && i <= 11; in != want {
				t.Errorf("topic %02d in the model's prompt: %v, want %v", i, in, want)
			}
		}
		if j.CostSeconds != 60 {
			t.Errorf("charged %d s for 55 s of a 4-minute video, want 60", j.CostSeconds)
		}
		if n := e.Fake.TranscriptionCalls(); n != 0 {
			t.Errorf("%d speech-to-text calls for a video with subtitles", n)
		}
		// The whole video's subtitles are kept as its transcript; the
		// ranged one apart.
		whole, err := e.Store.LatestTranscript(ctx, j.VideoKey, "")
		if err != nil || len(whole.Segments) != 24 {
			t.Fatalf("whole transcript: %v %v", whole, err)
		}
		if *j.TranscriptID == whole.ID {
			t.Fatal("the ranged job used the whole transcript")
		}
		// The model is told it sees a part, and the part's chapters begin
		// and end with it.
		if !strings.Contains(p, "Part: 01:00 – 01:5") {
			t.Errorf("the model's prompt does not name the part:\n%s", p[max(0, len(p)-1500):])
		}

		res, b := do(t, e, http.MethodGet, "/jobs/"+j.ID+"/chapters?format=json", e.Key, "", nil)
		var o struct {
			Start    float64
			Duration float64
			Chapters []struct{ Start, End float64 }
		}
		if err := json.Unmarshal(b, &o); err != nil || res.StatusCode != 200 || o.Start != 60 || len(o.Chapters) == 0 ||
			o.Chapters[0].Start != 60 || o.Chapters[len(o.Chapters)-1].End != 115 {
			t.Errorf("chapters of the part: %d %s", res.StatusCode, b)
		}
		if res, b := do(t, e, http.MethodGet, "/jobs/"+j.ID+"/chapters?format=youtube", e.Key, "", nil); res.StatusCode != 400 ||
			!strings.Contains(string(b), "range_not_supported") {
			t.Errorf("youtube chapters of a part: %d %s", res.StatusCode, b)
		}
	})

	t.Run("cache", func(t *testing.T) {
		// The whole video is not answered with the range's summary.
		content, whole := chat(t, subs, nil, nil)
		checkRangeMoments(t, content, 0, 240, 20)
		if whole.SummaryID == nil || first.SummaryID == nil || *whole.SummaryID == *first.SummaryID || *whole.TranscriptID == *first.TranscriptID {
			t.Fatalf("the whole video shares the range's summary or transcript: %v %v", whole, first)
		}
		// The same range, written otherwise, is a cache hit.
		again, j := chat(t, subs, "1:00", 115)
		if j.SummaryID == nil || *j.SummaryID != *first.SummaryID || j.CostSeconds != 0 {
			t.Fatalf("the same range again: summary %v (first %v), cost %d", j.SummaryID, *first.SummaryID, j.CostSeconds)
		}
		checkRangeMoments(t, again, 60, 115, 5)
		// The Responses API takes the same fields.
		r, err := e.Client.Responses.New(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(subs)}},
			option.WithJSONSet("start", 60), option.WithJSONSet("end", "01:55"))
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputText() != again {
			t.Errorf("Responses with the same range:\n%s\nwant the cached\n%s", r.OutputText(), again)
		}
	})

	t.Run("jobs API", func(t *testing.T) {
		// Another range of the same video is cut from its stored
		// transcript: no speech-to-text.
		res, b := post(t, e, "/jobs", e.Key, `{"urls":["`+subs+`"],"start":30,"end":"0:50"}`)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("create: %d %s", res.StatusCode, b)
		}
		var created struct{ Data []struct{ ID string } }
		if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
			t.Fatalf("%s", b)
		}
		v := waitJob(t, e, e.Key, created.Data[0].ID)
		if v["state"] != "succeeded" || v["start"] != 30.0 || v["end"] != 50.0 || v["audio_language"] != nil || v["cost_seconds"] != 60.0 {
			t.Fatalf("job: %v", v)
		}
		checkRangeMoments(t, v["result"].(map[string]any)["summary"].(string), 30, 50, 2)
		// Its transcript is the cues overlapping 0:30–0:50, the range shown
		// apart from the language.
		res, b = do(t, e, http.MethodGet, "/transcripts/"+created.Data[0].ID, e.Key, "", nil)
		var tr struct {
			Language   string
			Start, End float64
			Segments   []recap.Segment
		}
		if err := json.Unmarshal(b, &tr); err != nil || res.StatusCode != 200 || tr.Language != "" || tr.Start != 30 || tr.End != 50 || len(tr.Segments) != 2 {
			t.Fatalf("transcript: %d %s", res.StatusCode, b)
		}
		for _, sg := range tr.Segments {
			if sg.End <= 30 || sg.Start >= 50 {
				t.Errorf("segment %+v outside 0:30–0:50", sg)
			}
		}
		if n := e.Fake.TranscriptionCalls(); n != 0 {
			t.Errorf("%d speech-to-text calls", n)
		}
	})

	t.Run("speech to text", func(t *testing.T) {
		content, j := chat(t, spoken, "1:00", "1:55")
		if n := e.Fake.TranscriptionCalls(); n != 1 {
			t.Errorf("%d speech-to-text calls for 55 s", n)
		}
		if got := e.Fake.TranscribedSeconds(); math.Abs(got-55) > 1 {
			t.Errorf("speech-to-text got %.2f s of audio, want the range's 55", got)
		}
		for _, l := range e.Fake.TranscriptionLanguages() {
			if strings.Contains(l, "#") {
				t.Errorf("speech-to-text was told language %q", l)
			}
		}
		// The fake service writes a segment every 5 s from the start of
		// the audio it got: they come back at 1:00, 1:05, … 1:50.
		checkRangeMoments(t, content, 60, 115, 10)
		if !strings.Contains(content, "[01:00]") || !strings.Contains(content, "[01:50]") {
			t.Errorf("the range's first and last segments are not at 01:00 and 01:50:\n%s", content)
		}
		if j.CostSeconds != 60 || math.Abs(j.Duration-240) > 1 {
			t.Errorf("charged %d s (duration %.1f) for 55 s, want 60", j.CostSeconds, j.Duration)
		}
	})

	t.Run("bad ranges", func(t *testing.T) {
		msg := `"messages":[{"role":"user","content":"` + subs + `"}]`
		for _, tc := range []struct{ path, body, param, code string }{
			{"/chat/completions", `{` + msg + `,"start":"1:60"}`, "start", "invalid_time"},
			{"/chat/completions", `{` + msg + `,"start":-5}`, "start", "invalid_time"},
			{"/chat/completions", `{` + msg + `,"start":90,"end":"1:30"}`, "end", "invalid_range"},
			{"/chat/completions", `{` + msg + `,"end":true}`, "end", "invalid_time"},
			// The video's duration is known: a range past its end is
			// refused before a job is made.
			{"/chat/completions", `{` + msg + `,"start":"4:10"}`, "start", "invalid_range"},
			{"/chat/completions", `{` + msg + `,"start":60,"end":"5:00"}`, "end", "invalid_range"},
			{"/responses", `{"input":"` + subs + `","start":"x"}`, "start", "invalid_time"},
			{"/jobs", `{"urls":["` + subs + `"],"end":"1:2:3:4"}`, "end", "invalid_time"},
		} {
			res, b := post(t, e, tc.path, e.Key, tc.body)
			var out struct {
				Error struct{ Type, Param, Code string }
			}
			_ = json.Unmarshal(openAIShaped(b), &out)
			if res.StatusCode != 400 || out.Error.Param != tc.param || out.Error.Code != tc.code || out.Error.Type != "invalid_request_error" {
				t.Errorf("%s %s: %d %s; want 400 %s naming %s", tc.path, tc.body, res.StatusCode, b, tc.code, tc.param)
			}
		}
		// A range between two cues has nothing to summarize.
		_, err := e.Client.Chat.Completions.New(ctx, userMessage(subs), option.WithJSONSet("start", 7), option.WithJSONSet("end", "0:10"))
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != "no_transcript" {
			t.Fatalf("a range without speech: %v", err)
		}
		// A video not resolved before: the range is checked once its
		// duration is known, and the job fails as the caller's doing.
		_, err = e.Client.Chat.Completions.New(ctx, userMessage(e.Host.PageURL()), option.WithJSONSet("start", 100))
		if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != "invalid_range" {
			t.Fatalf("a range past the end of a 20 s video: %v", err)
		}
	})

	t.Run("MCP", func(t *testing.T) {
		cs := mcpSession(t, e, e.Key, nil)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video",
			Arguments: map[string]any{"url": subs, "start": "2:00", "end": "150"}})
		if err != nil || res.IsError {
			t.Fatalf("summarize_video: %v %s", err, toolText(res))
		}
		checkRangeMoments(t, toolText(res), 120, 150, 2)
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video",
			Arguments: map[string]any{"url": subs, "start": "later"}})
		if err != nil || !res.IsError || !strings.HasPrefix(toolText(res), "invalid_time") {
			t.Fatalf("a bad start: %v %s", err, toolText(res))
		}
	})
}
