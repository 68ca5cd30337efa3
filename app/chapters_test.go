package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// submitFileJob uploads media and summarizes it through the jobs API,
// returning the job id.
func submitFileJob(t *testing.T, e *apptest.Env, name string, content []byte) string {
	t.Helper()
	f, err := e.Client.Files.New(context.Background(), openai.FileNewParams{File: openai.File(bytes.NewReader(content), name, "audio/ogg"),
		Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	res, b := post(t, e, "/jobs", e.Key, `{"files":["`+f.ID+`"]}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	var created struct{ Data []struct{ ID string } }
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
		t.Fatalf("%v %s", err, b)
	}
	return created.Data[0].ID
}

func getChapters(t *testing.T, e *apptest.Env, key, id, format string) (*http.Response, []byte) {
	t.Helper()
	return do(t, e, http.MethodGet, "/jobs/"+id+"/chapters?format="+format, key, "", nil)
}

// TestChaptersExport summarizes a four-minute upload with the fake model
// (no Chapters section below 20 minutes: chapters come from the
// highlights) and exports its chapters in every format through the HTTP
// API, on both base URLs.
func TestChaptersExport(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	audio, err := os.ReadFile(mediatest.GenerateLongAudio(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	id := submitFileJob(t, e, "lecture.ogg", audio)
	if v := waitJob(t, e, e.Key, id); v["state"] != "succeeded" {
		t.Fatalf("job: %v", v)
	}

	res, b := getChapters(t, e, e.Key, id, "")
	var out struct {
		Object, JobID, Source string
		Duration              float64
		Chapters              []struct {
			Start, End float64
			Title      string
			Highlights []struct {
				Start float64
				Text  string
			}
		}
	}
	if err := json.Unmarshal(b, &out); err != nil || res.StatusCode != 200 || out.Object != "chapters" {
		t.Fatalf("json: %d %v %s", res.StatusCode, err, b)
	}
	// The model wrote no Chapters section for four minutes (the prompt
	// asks for one from 20 minutes on): the highlights made them. Should
	// the prompt ask for chapters of shorter videos, the model's own count.
	if (out.Source != "highlights" && out.Source != "summary") || len(out.Chapters) < 3 || out.Chapters[0].Start != 0 {
		t.Fatalf("chapters: %s", b)
	}
	for i, c := range out.Chapters {
		// Titled by the fake STT's words, from the transcript.
		if out.Source == "highlights" && (!strings.HasPrefix(c.Title, "spoken words at ") || len(c.Highlights) == 0) {
			t.Errorf("chapter %d: %+v", i, c)
		}
		if i > 0 && c.Start != out.Chapters[i-1].End {
			t.Errorf("chapter %d starts at %v, previous ends at %v", i, c.Start, out.Chapters[i-1].End)
		}
	}
	if last := out.Chapters[len(out.Chapters)-1]; last.End < 239 || out.Duration < 239 {
		t.Errorf("the chapters stop at %v of %v", last.End, out.Duration)
	}

	res, b = getChapters(t, e, e.Key, id, "webvtt")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/vtt") ||
		!strings.HasPrefix(string(b), "WEBVTT\n\n1\n00:00:00.000 --> ") || strings.Count(string(b), " --> ") != len(out.Chapters) {
		t.Fatalf("webvtt: %d %s", res.StatusCode, b)
	}

	res, b = getChapters(t, e, e.Key, id, "youtube")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if res.StatusCode != 200 || len(lines) < 3 || !strings.HasPrefix(lines[0], "00:00 ") {
		t.Fatalf("youtube: %d %s", res.StatusCode, b)
	}

	res, b = getChapters(t, e, e.Key, id, "podcast")
	var pc struct {
		Version  string
		Chapters []struct {
			StartTime *float64
			Title     string
		}
	}
	if err := json.Unmarshal(b, &pc); err != nil || res.StatusCode != 200 || pc.Version != "1.2.0" || len(pc.Chapters) != len(out.Chapters) ||
		pc.Chapters[0].StartTime == nil || *pc.Chapters[0].StartTime != 0 || pc.Chapters[1].Title != out.Chapters[1].Title {
		t.Fatalf("podcast: %d %s", res.StatusCode, b)
	}

	res, b = getChapters(t, e, e.Key, id, "markmap")
	if res.StatusCode != 200 || !strings.Contains(string(b), "\n# lecture.ogg\n") || strings.Count(string(b), "\n## [") != len(out.Chapters) {
		t.Fatalf("markmap: %d %s", res.StatusCode, b)
	}

	// The /v1 base URL serves it too.
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/v1/jobs/"+id+"/chapters?format=opml", nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Head struct {
			Title string `xml:"title"`
		} `xml:"head"`
		Body struct {
			Outlines []struct {
				Text     string `xml:"text,attr"`
				Children []struct {
					Text string `xml:"text,attr"`
				} `xml:"outline"`
			} `xml:"outline"`
		} `xml:"body"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || doc.Head.Title != "lecture.ogg" || len(doc.Body.Outlines) != len(out.Chapters)+1 ||
		doc.Body.Outlines[1].Text != "[00:00] "+out.Chapters[0].Title || len(doc.Body.Outlines[1].Children) == 0 {
		t.Fatalf("opml: %d %v %+v", resp.StatusCode, err, doc)
	}

	// Owner only; bad formats and ids are clear errors.
	_, other := e.NewKey(t, "other", 60)
	for _, tc := range []struct {
		key, id, format string
		status          int
		code            string
	}{
		{other, id, "json", 404, "not_found"},
		{e.Key, id, "mp4", 400, "invalid_format"},
		{e.Key, "00000000-0000-0000-0000-000000000000", "json", 404, "not_found"},
		{e.Key, "not-a-uuid", "webvtt", 404, "not_found"},
	} {
		res, b := getChapters(t, e, tc.key, tc.id, tc.format)
		if ae := decodeAPIError(t, b); res.StatusCode != tc.status || *ae.Error.Code != tc.code {
			t.Errorf("%s %s: %d %s", tc.id, tc.format, res.StatusCode, b)
		}
	}
}

// TestChaptersShortAndPending: a 22-second recording has chapters but too
// few for YouTube (400 too_few_chapters); a job still summarizing is 409
// summary_not_ready, a canceled one 404 no_summary, a transcription job
// 404 no_summary.
func TestChaptersShortAndPending(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	talk := talkWebm(t)
	id := submitFileJob(t, e, "short.webm", talk)
	if v := waitJob(t, e, e.Key, id); v["state"] != "succeeded" {
		t.Fatalf("job: %v", v)
	}
	res, b := getChapters(t, e, e.Key, id, "webvtt")
	if res.StatusCode != 200 || !strings.Contains(string(b), "spoken words at 0") {
		t.Fatalf("webvtt: %d %s", res.StatusCode, b)
	}
	res, b = getChapters(t, e, e.Key, id, "youtube")
	if ae := decodeAPIError(t, b); res.StatusCode != 400 || *ae.Error.Code != "too_few_chapters" {
		t.Fatalf("youtube for 22 s: %d %s", res.StatusCode, b)
	}

	// A job held in its summary stage by a model that does not answer.
	e.Fake.SetHang(true)
	res, b = post(t, e, "/jobs", e.Key, `{"files":["`+mustUpload(t, e, talk)+`"],"prompt":"another prompt, another summary"}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	var created struct{ Data []struct{ ID string } }
	_ = json.Unmarshal(b, &created)
	pending := created.Data[0].ID
	ch, err := sseGet(e, "/jobs/"+pending+"/events", e.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range ch {
		if ev.typ == "state" && strings.Contains(ev.data, `"summarizing"`) {
			break
		}
	}
	go func() {
		for range ch { // the stream ends with the job
		}
	}()
	res, b = getChapters(t, e, e.Key, pending, "json")
	if ae := decodeAPIError(t, b); res.StatusCode != 409 || *ae.Error.Code != "summary_not_ready" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("running job: %d %s", res.StatusCode, b)
	}
	if res, b := do(t, e, http.MethodDelete, "/jobs/"+pending, e.Key, "", nil); res.StatusCode != 200 {
		t.Fatalf("cancel: %d %s", res.StatusCode, b)
	}
	res, b = getChapters(t, e, e.Key, pending, "json")
	if ae := decodeAPIError(t, b); res.StatusCode != 404 || *ae.Error.Code != "no_summary" {
		t.Fatalf("canceled job: %d %s", res.StatusCode, b)
	}
	e.Fake.SetHang(false)

	var resp *http.Response
	_, err = e.Client.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(talk), "talk.webm", "audio/webm"), Model: openai.AudioModel("whisper-1"),
		// A language of its own: the summary job's transcript of the same
		// upload would otherwise answer at once, with no job.
		Language: openai.String("de")}, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	res, b = getChapters(t, e, e.Key, resp.Header.Get("X-Recap-Job-Id"), "json")
	if ae := decodeAPIError(t, b); res.StatusCode != 404 || *ae.Error.Code != "no_summary" {
		t.Fatalf("transcription job: %d %s", res.StatusCode, b)
	}
}

func mustUpload(t *testing.T, e *apptest.Env, content []byte) string {
	t.Helper()
	f, err := e.Client.Files.New(context.Background(), openai.FileNewParams{File: openai.File(bytes.NewReader(content), "a.webm", "audio/webm"),
		Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	return f.ID
}
