package app_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media/mediatest"
)

// TestHundredRequestsOneVideo: 100 people ask for one uncached video at
// once, half of them streaming. One metadata resolve, one subtitle fetch,
// one LLM call; every one of them gets the summary.
func TestHundredRequestsOneVideo(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.WorkerConcurrency = 20 }})
	ctx := context.Background()
	const n = 100
	clients := make([]openai.Client, n)
	for i := range clients {
		_, secret := e.NewKey(t, fmt.Sprintf("user%d", i), 10)
		clients[i] = e.ClientFor(secret)
	}
	url := e.Host.PageURL()
	var wg sync.WaitGroup
	contents := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := userMessage(url)
			if i%2 == 0 {
				resp, err := clients[i].Chat.Completions.New(ctx, p)
				if err != nil {
					errs[i] = err
					return
				}
				contents[i] = resp.Choices[0].Message.Content
				return
			}
			stream := clients[i].Chat.Completions.NewStreaming(ctx, p)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if errs[i] = stream.Err(); errs[i] == nil {
				contents[i] = acc.Choices[0].Message.Content
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if contents[i] != contents[0] {
			t.Fatalf("request %d got a different summary:\n%s\nvs\n%s", i, contents[i], contents[0])
		}
	}
	checkSummary(t, contents[0])
	if got := e.Fake.ChatCalls(); got != 1 {
		t.Errorf("%d LLM calls, want 1", got)
	}
	if got := e.Host.Hits(mediatest.SubtitlePath); got != 1 {
		t.Errorf("%d subtitle fetches, want 1", got)
	}
	var videos, transcripts, summaries, succeeded, distinct int
	pool := e.Store.Pool()
	for q, dst := range map[string]*int{
		`SELECT count(*) FROM videos`:                         &videos,
		`SELECT count(*) FROM transcripts`:                    &transcripts,
		`SELECT count(*) FROM summaries`:                      &summaries,
		`SELECT count(*) FROM jobs WHERE state = 'succeeded'`: &succeeded,
		`SELECT count(DISTINCT account_id) FROM jobs`:         &distinct,
	} {
		if err := pool.QueryRow(ctx, q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if videos != 1 || transcripts != 1 || summaries != 1 || succeeded != n || distinct != n {
		t.Fatalf("videos %d transcripts %d summaries %d succeeded jobs %d accounts %d", videos, transcripts, summaries, succeeded, distinct)
	}
}

// TestFollowUpQuestion: a question after the summary is answered from the
// stored transcript, without fetching the video again.
func TestFollowUpQuestion(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	url := e.Host.PageURL()
	first, err := e.Client.Chat.Completions.New(ctx, userMessage(url))
	if err != nil {
		t.Fatal(err)
	}
	pageHits, subHits := e.Host.Hits(mediatest.PagePath), e.Host.Hits(mediatest.SubtitlePath)
	p := openai.ChatCompletionNewParams{Model: "bibigpt", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.UserMessage(url),
		openai.AssistantMessage(first.Choices[0].Message.Content),
		openai.UserMessage("What does it say about silences?"),
	}}
	resp, err := e.Client.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if e.Host.Hits(mediatest.PagePath) != pageHits || e.Host.Hits(mediatest.SubtitlePath) != subHits {
		t.Fatal("the follow-up fetched the video again")
	}
	reqs := e.Fake.Requests()
	sent := reqs[len(reqs)-1].Text()
	for _, want := range []string{"What does it say about silences?", "[00:14] Finally, long recordings are split at silences"} {
		if !strings.Contains(sent, want) {
			t.Errorf("the model did not get %q:\n%s", want, sent)
		}
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "[00:14]") {
		t.Errorf("answer lacks the timestamp of the moment: %s", resp.Choices[0].Message.Content)
	}
}

// TestSyncWaitAndAttach: a completion outliving SYNC_WAIT_SECONDS answers
// 504 job_still_running naming the job; the same request again attaches
// to that job and gets its result.
func TestSyncWaitAndAttach(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{LLMDelay: 4 * time.Second, Configure: func(c *app.Config) { c.SyncWait = time.Second }})
	body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + e.Host.PageURL() + `"}]}`
	res, b := post(t, e, "/chat/completions", e.Key, body)
	if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(b), "job_still_running") {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	id := res.Header.Get("X-Recap-Job-Id")
	if id == "" || !strings.Contains(string(b), id) {
		t.Fatalf("the error does not name the job %q: %s", id, b)
	}
	// Retry until done; every attempt attaches to the same job.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, b = post(t, e, "/chat/completions", e.Key, body)
		if res.StatusCode == 200 {
			// Either attached to the job as it finished, or (once it had
			// finished) answered from the summary cache: never a second run.
			break
		}
		if got := res.Header.Get("X-Recap-Job-Id"); got != id {
			t.Fatalf("attempt started job %s instead of attaching to %s", got, id)
		}
		if res.StatusCode != http.StatusGatewayTimeout || time.Now().After(deadline) {
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
	}
	if e.Fake.ChatCalls() != 1 {
		t.Fatalf("%d LLM calls", e.Fake.ChatCalls())
	}
}

func post(t *testing.T, e *apptest.Env, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, e, http.MethodPost, path, key, body, nil)
}

func do(t *testing.T, e *apptest.Env, method, path, key, body string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// TestJobsAPI: batch submission, polling, listing, events with resume,
// transcripts in every format, webhooks, isolation between callers.
func TestJobsAPI(t *testing.T) {
	t.Parallel()
	secret := "whsec-test"
	type delivery struct {
		body []byte
		sig  string
	}
	hooks := make(chan delivery, 8)
	var failOnce sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		failed := false
		failOnce.Do(func() { failed = true })
		if failed { // the first delivery fails: it must be retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hooks <- delivery{b, r.Header.Get(jobs.SignatureHeader)}
	}))
	t.Cleanup(hook.Close)
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) {
		c.WebhookSecret = secret
		c.RetryDelay = 50 * time.Millisecond
	}})
	urls := []string{e.Host.PageURL() + "?v=1", e.Host.PageURL() + "?v=2", e.Host.PageURL() + "?v=3"}
	body, _ := json.Marshal(map[string]any{"urls": urls, "prompt": "list the steps", "webhook_url": hook.URL})
	res, b := post(t, e, "/jobs", e.Key, string(body))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	var created struct {
		Data []recap.View `json:"data"`
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 3 {
		t.Fatalf("created %s", b)
	}
	id := created.Data[0].ID

	// Events: read until the end, then resume from the middle.
	var ids []string
	var types []string
	res2, err := sseGet(e, "/jobs/"+id+"/events", e.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range res2 {
		ids, types = append(ids, ev.id), append(types, ev.typ)
	}
	if len(types) < 4 || types[len(types)-1] != recap.EventResult {
		t.Fatalf("events %v", types)
	}
	mid := len(ids) / 2
	resumed, err := sseGet(e, "/jobs/"+id+"/events", e.Key, ids[mid])
	if err != nil {
		t.Fatal(err)
	}
	var rest []string
	for ev := range resumed {
		rest = append(rest, ev.id)
	}
	if strings.Join(rest, ",") != strings.Join(ids[mid+1:], ",") {
		t.Fatalf("resume after %s got %v, want %v", ids[mid], rest, ids[mid+1:])
	}

	// The job object.
	res, b = do(t, e, http.MethodGet, "/jobs/"+id, e.Key, "", nil)
	var v recap.View
	if err := json.Unmarshal(b, &v); err != nil || res.StatusCode != 200 || v.State != "succeeded" || v.Result == nil || v.CostSeconds != 60 {
		t.Fatalf("job %d %s", res.StatusCode, b)
	}
	checkSummary(t, v.Result.Summary)

	// Transcripts in four formats.
	for format, want := range map[string]string{"json": `"segments"`, "srt": "00:00:01,500 --> 00:00:06,968", "vtt": "WEBVTT", "txt": "[00:08] First, subtitles"} {
		res, b = do(t, e, http.MethodGet, "/transcripts/"+id+"?format="+format, e.Key, "", nil)
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("transcript %s: %d %s", format, res.StatusCode, b)
		}
	}

	// Another caller sees none of it.
	_, other := e.NewKey(t, "other", 5)
	for _, path := range []string{"/jobs/" + id, "/jobs/" + id + "/events", "/transcripts/" + id} {
		if res, _ := do(t, e, http.MethodGet, path, other, "", nil); res.StatusCode != 404 {
			t.Errorf("%s for another caller: %d", path, res.StatusCode)
		}
	}
	if res, _ := do(t, e, http.MethodDelete, "/jobs/"+id, other, "", nil); res.StatusCode != 404 {
		t.Errorf("delete by another caller: %d", res.StatusCode)
	}

	// Listing, newest first, two pages.
	res, b = do(t, e, http.MethodGet, "/jobs?limit=2", e.Key, "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("list: %d %s", res.StatusCode, b)
	}
	var page struct {
		Data       []recap.View `json:"data"`
		HasMore    bool         `json:"has_more"`
		NextCursor string       `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &page); err != nil || len(page.Data) != 2 || !page.HasMore {
		t.Fatalf("page 1: %s", b)
	}
	_, b = do(t, e, http.MethodGet, "/jobs?limit=2&cursor="+page.NextCursor, e.Key, "", nil)
	var page2 struct {
		Data    []recap.View `json:"data"`
		HasMore bool         `json:"has_more"`
	}
	if err := json.Unmarshal(b, &page2); err != nil || len(page2.Data) != 1 || page2.HasMore {
		t.Fatalf("page 2: %s", b)
	}

	// Webhooks: one signed delivery per job, after a failed first attempt.
	got := map[string]bool{}
	timeout := time.After(90 * time.Second)
	for len(got) < 3 {
		select {
		case d := <-hooks:
			if !hmac.Equal([]byte(d.sig), []byte(jobs.Sign([]byte(secret), d.body))) {
				t.Fatalf("bad signature %q", d.sig)
			}
			var hv recap.View
			if err := json.Unmarshal(d.body, &hv); err != nil || hv.State != "succeeded" {
				t.Fatalf("webhook body %s", d.body)
			}
			got[hv.ID] = true
		case <-timeout:
			t.Fatalf("webhooks delivered for %d of 3 jobs", len(got))
		}
	}
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{LLMDelay: time.Minute})
	body, _ := json.Marshal(map[string]any{"urls": []string{e.Host.PageURL()}})
	_, b := post(t, e, "/jobs", e.Key, string(body))
	var created struct {
		Data []recap.View `json:"data"`
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Data) != 1 {
		t.Fatalf("%s", b)
	}
	id := created.Data[0].ID
	// Wait until the LLM call is under way, then cancel.
	evs, err := sseGet(e, "/jobs/"+id+"/events", e.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range evs {
		if ev.typ == recap.EventState && strings.Contains(ev.data, "summarizing") {
			break
		}
	}
	res, b := do(t, e, http.MethodDelete, "/jobs/"+id, e.Key, "", nil)
	var v recap.View
	if err := json.Unmarshal(b, &v); err != nil || res.StatusCode != 200 || v.State != "canceled" {
		t.Fatalf("cancel: %d %s", res.StatusCode, b)
	}
	bal, err := e.Store.Balance(context.Background(), e.KeyRow.AccountID)
	if err != nil || bal.Held != 0 || bal.Available != 600*60 {
		t.Fatalf("credits after cancel: %+v %v", bal, err)
	}
}

type sseEvent struct{ id, typ, data string }

// sseGet follows an SSE endpoint until the server closes it.
func sseGet(e *apptest.Env, path, key, lastID string) (<-chan sseEvent, error) {
	req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		res.Body.Close()
		return nil, fmt.Errorf("status %d", res.StatusCode)
	}
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.id != "" || cur.data != "" {
					out <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return out, nil
}
