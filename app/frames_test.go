package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// TestFrames: frames: true gives a JPEG at each grounded highlight's
// moment, served to the job's owner only and linked from the markdown,
// through chat (even when the summary is cached already) and the jobs
// API; without frames a job has none; audio-only media succeeds with no
// frames and a note; a non-boolean frames is a 400 naming it.
func TestFrames(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	e.Host.Serve("/clip.webm", mediatest.FileHandler(mediatest.VideoClip(t), "video/webm"))
	e.Host.Serve("/clip.vtt", mediatest.BytesHandler("clip.vtt", "text/vtt", mediatest.VideoClipVTT(), time.Unix(0, 0)))
	e.Host.Serve("/clip.html", mediatest.PageHandler("Clip", "/clip.webm", "/clip.vtt"))
	clip := e.Host.URL("/clip.html")
	root := strings.TrimSuffix(e.URL, "/api/v1")
	_, other := e.NewKey(t, "other", 60)

	chat := func(t *testing.T, url string, frames any) (string, string) {
		t.Helper()
		var raw *http.Response
		opts := []option.RequestOption{option.WithResponseInto(&raw)}
		if frames != nil {
			opts = append(opts, option.WithJSONSet("frames", frames))
		}
		resp, err := e.Client.Chat.Completions.New(ctx, userMessage(url), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Choices[0].Message.Content, raw.Header.Get("X-Recap-Job-Id")
	}
	getFrame := func(t *testing.T, path, key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, root+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res, b.Bytes()
	}
	view := func(t *testing.T, id string) map[string]any {
		t.Helper()
		res, b := do(t, e, http.MethodGet, "/jobs/"+id, e.Key, "", nil)
		var v map[string]any
		if res.StatusCode != 200 || json.Unmarshal(b, &v) != nil {
			t.Fatalf("job %s: %d %s", id, res.StatusCode, b)
		}
		return v
	}
	// checkFrames requires one JPEG per highlight (at most 20), each
	// linked from markdown and served under both base paths, and nothing
	// past them.
	checkFrames := func(t *testing.T, id, markdown string) {
		t.Helper()
		v := view(t, id)
		hls, _ := v["result"].(map[string]any)["highlights"].([]any)
		n := min(len(hls), 20)
		if n == 0 {
			t.Fatalf("no highlights to take frames at: %v", v)
		}
		if v["frames"] != float64(n) {
			t.Fatalf("frames = %v, want %d (one per highlight): %v", v["frames"], n, v)
		}
		if s := v["result"].(map[string]any)["summary"].(string); s != markdown {
			t.Errorf("the job's summary differs from the reply:\n%s\n---\n%s", s, markdown)
		}
		// Each image line follows its highlight's timestamped line.
		lines := strings.Split(markdown, "\n")
		for k, l := range lines {
			if strings.Contains(l, "![frame") && (k == 0 || !momentRE.MatchString(lines[k-1])) {
				t.Errorf("image line %q does not follow a highlight line:\n%s", l, markdown)
			}
		}
		var first []byte
		for i := 1; i <= n; i++ {
			link := fmt.Sprintf("/api/v1/jobs/%s/frames/%d.jpg", id, i)
			if !strings.Contains(markdown, fmt.Sprintf("![frame %d](%s)", i, link)) {
				t.Errorf("the markdown does not link frame %d:\n%s", i, markdown)
			}
			for _, p := range []string{link, strings.TrimPrefix(link, "/api")} {
				res, b := getFrame(t, p, e.Key)
				if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) {
					t.Fatalf("%s: %d %s % x", p, res.StatusCode, res.Header.Get("Content-Type"), b[:min(8, len(b))])
				}
			}
			if i == 1 {
				_, first = getFrame(t, link, e.Key)
			}
		}
		if n > 1 {
			if _, b := getFrame(t, fmt.Sprintf("/api/v1/jobs/%s/frames/%d.jpg", id, n), e.Key); bytes.Equal(b, first) {
				t.Error("the first and last highlights' frames are the same picture")
			}
		}
		// Owner only; numbers that name no frame are 404 in OpenAI's shape.
		for _, tc := range []struct{ path, key string }{
			{fmt.Sprintf("/api/v1/jobs/%s/frames/1.jpg", id), other},
			{fmt.Sprintf("/api/v1/jobs/%s/frames/%d.jpg", id, n+1), e.Key},
			{fmt.Sprintf("/api/v1/jobs/%s/frames/0.jpg", id), e.Key},
			{fmt.Sprintf("/api/v1/jobs/%s/frames/x.jpg", id), e.Key},
			{"/api/v1/jobs/00000000-0000-0000-0000-000000000000/frames/1.jpg", e.Key},
		} {
			res, b := getFrame(t, tc.path, tc.key)
			if res.StatusCode != 404 {
				t.Errorf("%s: %d, want 404", tc.path, res.StatusCode)
				continue
			}
			decodeAPIError(t, b)
		}
	}

	var plainID string
	t.Run("cached summary", func(t *testing.T) {
		// The summary is made without frames first: asked again with
		// frames, the cached summary still gets them.
		plain, id := chat(t, clip, nil)
		plainID = id
		if strings.Contains(plain, "![frame") {
			t.Fatalf("frames without asking:\n%s", plain)
		}
		calls := len(e.Fake.Requests())
		md, id := chat(t, clip, true)
		if id == plainID {
			t.Fatal("the frames request was answered by the plain request's job")
		}
		if n := len(e.Fake.Requests()); n != calls {
			t.Errorf("%d more model calls for a cached summary", n-calls)
		}
		checkFrames(t, id, md)
		// The Responses API takes the same field.
		r, err := e.Client.Responses.New(ctx, responses.ResponseNewParams{Model: "bibigpt",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(clip)}}, option.WithJSONSet("frames", true))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.OutputText(), "![frame 1](/api/v1/jobs/") {
			t.Errorf("Responses with frames links none:\n%s", r.OutputText())
		}
	})

	t.Run("without frames", func(t *testing.T) {
		md, id := chat(t, clip, false)
		if strings.Contains(md, "![frame") {
			t.Fatalf("frames: false linked frames:\n%s", md)
		}
		if v := view(t, id); v["frames"] != nil {
			t.Errorf("frames = %v for a job that did not ask", v["frames"])
		}
		for _, j := range []string{id, plainID} {
			if res, _ := getFrame(t, "/api/v1/jobs/"+j+"/frames/1.jpg", e.Key); res.StatusCode != 404 {
				t.Errorf("job %s without frames serves frame 1: %d", j, res.StatusCode)
			}
		}
	})

	t.Run("jobs API", func(t *testing.T) {
		res, b := post(t, e, "/jobs", e.Key, `{"urls":["`+clip+`"],"frames":true,"output_language":"fr"}`)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("create: %d %s", res.StatusCode, b)
		}
		var created struct{ Data []struct{ ID string } }
		if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
			t.Fatalf("%s", b)
		}
		v := waitJob(t, e, e.Key, created.Data[0].ID)
		if v["state"] != "succeeded" {
			t.Fatalf("job: %v", v)
		}
		checkFrames(t, created.Data[0].ID, v["result"].(map[string]any)["summary"].(string))

		for _, body := range []string{`{"urls":["` + clip + `"],"frames":"yes"}`, `{"playlist":"` + clip + `","frames":true}`} {
			res, b = post(t, e, "/jobs", e.Key, body)
			if ae := decodeAPIError(t, b); res.StatusCode != 400 || ae.Error.Type != "invalid_request_error" || ae.Error.Param == nil || *ae.Error.Param != "frames" {
				t.Errorf("%s: %d %s", body, res.StatusCode, b)
			}
		}
	})

	t.Run("MCP", func(t *testing.T) {
		cs := mcpSession(t, e, e.Key, nil)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "summarize_video",
			Arguments: map[string]any{"url": clip, "frames": true, "output_language": "de"}})
		if err != nil || res.IsError {
			t.Fatalf("summarize_video: %v %s", err, toolText(res))
		}
		out, _ := json.Marshal(res.StructuredContent)
		var so struct {
			JobID string `json:"job_id"`
		}
		if json.Unmarshal(out, &so); so.JobID == "" {
			t.Fatalf("no job id in %s", out)
		}
		checkFrames(t, so.JobID, toolText(res))
	})

	t.Run("audio only", func(t *testing.T) {
		md, id := chat(t, e.Host.PageURL(), true)
		if strings.Contains(md, "![frame") {
			t.Fatalf("frames of audio-only media:\n%s", md)
		}
		v := view(t, id)
		if v["state"] != "succeeded" || v["frames"] != 0.0 || !strings.Contains(fmt.Sprint(v["frames_note"]), "no video stream") {
			t.Errorf("audio-only job: state %v, frames %v, note %v", v["state"], v["frames"], v["frames_note"])
		}
	})
}
