package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// countingReader counts what the HTTP client has taken from it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// apiErrorBody is an error body of either path (errorShape).
type apiErrorBody = errorShape

func decodeAPIError(t *testing.T, b []byte) apiErrorBody {
	t.Helper()
	var e apiErrorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an error body (%v): %s", err, b)
	}
	return e
}

// TestUploadTooLarge streams 3 GB of zeros as an upload to a server
// capped at 8 MiB, once without a length (chunked) and once declaring it:
// the answer is 413 file_too_large in OpenAI's error shape, the server
// stops reading at the cap (the client hands over far less than 3 GB) and
// the heap stays flat.
func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	const capBytes = 8 << 20
	const total = 3 << 30
	e := apptest.Start(t, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.MaxUploadBytes = capBytes }})
	for _, declared := range []bool{false, true} {
		name := "chunked"
		if declared {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			boundary := "recap-413"
			head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n--" + boundary +
				"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
			tail := "\r\n--" + boundary + "--\r\n"
			var n atomic.Int64
			body := countingReader{r: io.MultiReader(strings.NewReader(head), io.LimitReader(zeroReader{}, total), strings.NewReader(tail)), n: &n}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			// A bound, not a synchronization: a server that read the whole
			// body would take minutes; this fails it instead of hanging.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/files", io.NopCloser(body))
			if declared {
				req.ContentLength = int64(len(head)+len(tail)) + total
			}
			req.Header.Set("Authorization", "Bearer "+e.Key)
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("after %d bytes: %v", n.Load(), err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			ae := decodeAPIError(t, b)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || *ae.Error.Code != "file_too_large" || ae.Error.Type != "invalid_request_error" {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			read := n.Load()
			t.Logf("%s: the client handed over %.1f MiB of a %d MiB body before the 413 (cap %d MiB); heap %+.1f MiB",
				name, float64(read)/(1<<20), int64(total)>>20, capBytes>>20, float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20))
			// The cap plus what sockets and buffers hold on the way.
			if read > capBytes+64<<20 {
				t.Fatalf("the server read on past the cap: %d MiB taken", read>>20)
			}
			if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
				t.Fatalf("heap grew by %d MiB during a streamed upload", grown>>20)
			}
		})
	}
	// Nothing was stored.
	page, err := e.Client.Files.List(context.Background(), openai.FileListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Fatalf("files after refused uploads: %+v %v", page, err)
	}
}

// waitJob follows a job's events to its end and returns its view.
func waitJob(t *testing.T, e *apptest.Env, key, id string) map[string]any {
	t.Helper()
	ch, err := sseGet(e, "/jobs/"+id+"/events", key, "")
	if err != nil {
		t.Fatal(err)
	}
	for range ch { // the server closes the stream after the final event
	}
	res, b := do(t, e, http.MethodGet, "/jobs/"+id, key, "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("get job: %d %s", res.StatusCode, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJobsAPIFiles: the jobs API summarizes uploads given by id or as a
// file part; another key's file is 404, bad references 400.
func TestJobsAPIFiles(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	f, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talkWebm(t)), "standup.webm", "audio/webm"),
		Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	res, b := post(t, e, "/jobs", e.Key, `{"files":[{"type":"file","file":{"file_id":"`+f.ID+`"}}],"prompt":"Summarize the standup"}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	var created struct {
		Data []struct {
			ID, URL, Title, State string
		}
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
		t.Fatalf("%v %s", err, b)
	}
	j := created.Data[0]
	v := waitJob(t, e, e.Key, j.ID)
	if v["state"] != "succeeded" {
		t.Fatalf("job: %v", v)
	}
	summary, _ := v["result"].(map[string]any)["summary"].(string)
	if !strings.Contains(summary, "[00:05]") || !strings.Contains(summary, "spoken words at 5") {
		t.Fatalf("summary lacks the file's speech and timestamps:\n%s", summary)
	}
	if v["title"] != "standup.webm" {
		t.Errorf("title %v", v["title"])
	}
	// Its transcript, as for any job.
	res, b = do(t, e, http.MethodGet, "/transcripts/"+j.ID+"?format=srt", e.Key, "", nil)
	if res.StatusCode != 200 || !strings.Contains(string(b), "00:00:05,000 --> ") {
		t.Fatalf("transcript: %d %s", res.StatusCode, b)
	}
	// A file id among the urls, and a bare id in files, are the same
	// upload: the summary is answered from the cache.
	res, b = post(t, e, "/jobs", e.Key, `{"urls":["`+f.ID+`"],"prompt":"Summarize the standup"}`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("file id in urls: %d %s", res.StatusCode, b)
	}

	_, other := e.NewKey(t, "other", 60)
	tests := []struct {
		name, key, body string
		status          int
		code, param     string
	}{
		{"another key's file", other, `{"files":["` + f.ID + `"]}`, 404, "file_not_found", "files[0]"},
		{"no such file", e.Key, `{"urls":["https://example.com/v.mp4"],"files":["file-0123456789abcdef01234567"]}`, 404, "file_not_found", "files[0]"},
		{"not a file id", e.Key, `{"files":["../../etc/passwd"]}`, 400, "invalid_file_id", "files[0]"},
		{"bad file part", e.Key, `{"files":[{"type":"image_url"}]}`, 400, "invalid_file", "files[0].type"},
		{"bad inline data", e.Key, `{"files":[{"file_data":"data:audio/webm;base64,!!!"}]}`, 400, "invalid_file_data", "files[0]"},
		{"text as inline data", e.Key, `{"files":[{"file_data":"data:audio/mpeg;base64,aGVsbG8gd29ybGQ="}]}`, 400, "unsupported_file", "files[0]"},
		{"nothing", e.Key, `{"files":[]}`, 400, "invalid_urls", "urls"},
	}
	for _, tt := range tests {
		res, b := post(t, e, "/jobs", tt.key, tt.body)
		ae := decodeAPIError(t, b)
		if res.StatusCode != tt.status || *ae.Error.Code != tt.code || ae.Error.Param == nil || *ae.Error.Param != tt.param {
			t.Errorf("%s: %d %s", tt.name, res.StatusCode, b)
		}
	}
}

// TestMCPFiles: summarize_video, ask_video and get_transcript take an
// upload's file_id.
func TestMCPFiles(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	ctx := context.Background()
	f, err := e.Client.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(talkWebm(t)), "call.webm", "audio/webm"),
		Purpose: openai.FilePurposeUserData})
	if err != nil {
		t.Fatal(err)
	}
	cs := mcpSession(t, e, e.Key, nil)
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := call("summarize_video", map[string]any{"file_id": f.ID})
	if r.IsError || !strings.Contains(toolText(r), "[00:05]") {
		t.Fatalf("summarize_video: %s", toolText(r))
	}
	r = call("get_transcript", map[string]any{"file_id": f.ID, "format": "vtt"})
	if r.IsError || !strings.HasPrefix(toolText(r), "WEBVTT") || !strings.Contains(toolText(r), "spoken words at 20") {
		t.Fatalf("get_transcript: %s", toolText(r))
	}
	r = call("ask_video", map[string]any{"file_id": f.ID, "question": "What is said at 00:10?"})
	if r.IsError {
		t.Fatalf("ask_video: %s", toolText(r))
	}
	other := mcpSession(t, e, func() string { _, s := e.NewKey(t, "other", 60); return s }(), nil)
	for _, tc := range []struct {
		name string
		args map[string]any
		code string
	}{
		{"summarize_video", map[string]any{"file_id": f.ID, "url": "https://example.com/a.mp4"}, "invalid_request"},
		{"summarize_video", map[string]any{"file_id": "not-a-file"}, "invalid_file_id"},
		{"summarize_video", map[string]any{"url": f.ID}, "invalid_url"},
		{"get_transcript", map[string]any{"file_id": "file-0123456789abcdef01234567"}, "file_not_found"},
	} {
		r := call(tc.name, tc.args)
		if !r.IsError || !strings.HasPrefix(toolText(r), tc.code+":") {
			t.Errorf("%s %v: %s", tc.name, tc.args, toolText(r))
		}
	}
	for _, name := range []string{"summarize_video", "get_transcript"} {
		r, err := other.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"file_id": f.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if !r.IsError || !strings.HasPrefix(toolText(r), "file_not_found:") {
			t.Errorf("another key's %s: %s", name, toolText(r))
		}
	}
}

// TestTranscriptionSyncWait: past SYNC_WAIT_SECONDS the transcription is
// 504 job_still_running naming its job; asking again attaches to that
// job until it answers. The prompt is kept with the job, and the file is
// billed by the minute, once.
func TestTranscriptionSyncWait(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true, LLMDelay: 3 * time.Second, Configure: func(c *app.Config) { c.SyncWait = time.Second }})
	ctx := context.Background()
	talk := talkWebm(t)
	params := openai.AudioTranscriptionNewParams{File: openai.File(bytes.NewReader(talk), "talk.webm", "audio/webm"),
		Model: openai.AudioModel("whisper-1"), Prompt: openai.String("Recap, Postgres, asynq")}
	var hdr *http.Response
	_, err := e.Client.Audio.Transcriptions.New(ctx, params, option.WithResponseInto(&hdr))
	var apiErr *openai.Error
	if !errorAs(err, &apiErr) || apiErr.StatusCode != http.StatusGatewayTimeout || apiErr.Code != "job_still_running" {
		t.Fatalf("first call: %v", err)
	}
	jobID := hdr.Header.Get("X-Recap-Job-Id")
	if jobID == "" || !strings.Contains(apiErr.Message, jobID) {
		t.Fatalf("the 504 does not name its job %q: %s", jobID, apiErr.Message)
	}
	for attempt := 0; ; attempt++ {
		params.File = openai.File(bytes.NewReader(talk), "talk.webm", "audio/webm")
		var resp *http.Response
		r, err := e.Client.Audio.Transcriptions.New(ctx, params, option.WithResponseInto(&resp))
		if err == nil {
			// Attached to the job as it ended, or (once it had ended)
			// answered from its transcript: never a second job.
			if got := resp.Header.Get("X-Recap-Job-Id"); got != jobID && got != "" {
				t.Fatalf("answered by job %s, the 504 named %s", got, jobID)
			}
			if !strings.Contains(r.Text, "spoken words at 20") {
				t.Fatalf("text %q", r.Text)
			}
			break
		}
		if !errorAs(err, &apiErr) || apiErr.StatusCode != http.StatusGatewayTimeout || !strings.Contains(apiErr.Message, jobID) || attempt > 60 {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	res, b := do(t, e, http.MethodGet, "/jobs/"+jobID, e.Key, "", nil)
	var v struct {
		Prompt, State string
	}
	if err := json.Unmarshal(b, &v); err != nil || res.StatusCode != 200 || v.Prompt != "Recap, Postgres, asynq" || v.State != "succeeded" {
		t.Fatalf("job: %d %s", res.StatusCode, b)
	}
	bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if bal.UsedThisMonth != 60 || bal.Held != 0 {
		t.Fatalf("a 21.7 s file used %d s (held %d); want one minute", bal.UsedThisMonth, bal.Held)
	}
	if n := e.Fake.TranscriptionCalls(); n != 1 {
		t.Fatalf("%d speech-to-text calls for one file", n)
	}
}

// TestTranscriptionURL: the `url` form field (Recap's extension) instead
// of a file, answered as srt; a url and a file together, and a url the
// network policy refuses, are clear 400s.
func TestTranscriptionURL(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{STT: true})
	form := func(fields map[string]string, file []byte) (*http.Response, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		if file != nil {
			fw, _ := mw.CreateFormFile("file", "talk.webm")
			_, _ = fw.Write(file)
		}
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/audio/transcriptions", &buf)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	res, b := form(map[string]string{"url": e.Host.MediaURL(), "model": "whisper-1", "response_format": "srt"}, nil)
	if res.StatusCode != 200 || !strings.HasPrefix(string(b), "1\n00:00:00,000 --> 00:00:05,000\nspoken words at 0 ") ||
		res.Header.Get("X-Recap-Job-Id") == "" {
		t.Fatalf("url transcription: %d %s", res.StatusCode, b)
	}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		file   []byte
		code   string
	}{
		{"url and file", map[string]string{"url": e.Host.MediaURL(), "model": "whisper-1"}, talkWebm(t), "invalid_request"},
		{"neither", map[string]string{"model": "whisper-1"}, nil, "missing_file"},
		{"not http", map[string]string{"url": "file:///etc/passwd", "model": "whisper-1"}, nil, "invalid_url"},
		{"word timestamps", map[string]string{"url": e.Host.MediaURL(), "model": "whisper-1", "response_format": "verbose_json",
			"timestamp_granularities[]": "word"}, nil, "invalid_timestamp_granularities"},
	} {
		res, b := form(tc.fields, tc.file)
		if ae := decodeAPIError(t, b); res.StatusCode != 400 || *ae.Error.Code != tc.code {
			t.Errorf("%s: %d %s", tc.name, res.StatusCode, b)
		}
	}
	// The refused request's upload was not kept.
	if page, err := e.Client.Files.List(context.Background(), openai.FileListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("files left by refused transcriptions: %+v %v", page, err)
	}
}

// TestInlineFileTooLarge: a file sent inline (file_data) that makes the
// JSON body larger than its 1 MiB limit is a 413 in OpenAI's error shape
// naming the Files API, on each door that takes file parts: at once,
// request_too_large, when the body's Content-Length says so; once read,
// file_too_large, when it comes without one (chunked). An oversized body
// without a file part is request_too_large either way.
func TestInlineFileTooLarge(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	data := "data:audio/webm;base64," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x1a, 0x45, 0xdf}, 600<<10))
	check := func(name string, status int, ae apiErrorBody, code string) {
		t.Helper()
		if status != http.StatusRequestEntityTooLarge || *ae.Error.Code != code || ae.Error.Type != "invalid_request_error" ||
			!strings.Contains(ae.Error.Message, "/v1/files") {
			t.Errorf("%s: %d %+v", name, status, ae.Error)
		}
	}
	chunked := func(path, body string) (int, apiErrorBody) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.URL+path, io.NopCloser(strings.NewReader(body)))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, decodeAPIError(t, b)
	}

	_, err := e.Client.Chat.Completions.New(context.Background(), fileMessage(openai.ChatCompletionContentPartFileFileParam{
		FileData: openai.String(data), Filename: openai.String("big.webm")}, "Summarize"))
	var apiErr *openai.Error
	if !errorAs(err, &apiErr) {
		t.Fatalf("chat: %v", err)
	}
	check("chat completion (openai-go)", apiErr.StatusCode, decodeAPIError(t, []byte(`{"error":`+apiErr.RawJSON()+`}`)), "request_too_large")

	bodies := map[string]string{
		"/chat/completions": `{"model":"bibigpt","messages":[{"role":"user","content":[{"type":"text","text":"Summarize"},` +
			`{"type":"file","file":{"filename":"big.webm","file_data":"` + data + `"}}]}]}`,
		"/responses": `{"model":"bibigpt","input":[{"role":"user","content":[{"type":"input_text","text":"Summarize"},` +
			`{"type":"input_file","filename":"big.webm","file_data":"` + data + `"}]}]}`,
		"/jobs": `{"files":[{"file_data":"` + data + `","filename":"big.webm"}]}`,
	}
	for path, body := range bodies {
		res, b := post(t, e, path, e.Key, body)
		check(path+" with a length", res.StatusCode, decodeAPIError(t, b), "request_too_large")
		status, ae := chunked(path, body)
		check(path+" chunked", status, ae, "file_too_large")
	}

	// Large for another reason: the generic limit.
	prompt := `{"urls":["https://example.com/v.mp4"],"prompt":"` + strings.Repeat("x", 1<<20) + `"}`
	res, b := post(t, e, "/jobs", e.Key, prompt)
	if ae := decodeAPIError(t, b); res.StatusCode != http.StatusRequestEntityTooLarge || *ae.Error.Code != "request_too_large" {
		t.Errorf("oversized prompt: %d %s", res.StatusCode, b)
	}
	if status, ae := chunked("/jobs", prompt); status != http.StatusRequestEntityTooLarge || *ae.Error.Code != "request_too_large" {
		t.Errorf("oversized prompt, chunked: %d %+v", status, ae.Error)
	}
}
