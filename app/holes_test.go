package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
)

// TestOnlyServedModels: a model outside LLM_MODEL, LLM_MODELS and the
// offline summarizer is refused before any job or provider call.
func TestOnlyServedModels(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	for _, model := range []string{"bibigpt/o1-pro-anything", "bibigpt/gpt-4o", "bibigpt/"} {
		b, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]any{{"role": "user", "content": e.Host.PageURL()}}})
		res, body := call(t, "POST", e.URL+"/chat/completions", e.Key, string(b))
		if res.StatusCode != http.StatusBadRequest || errorCode(body) != "model_not_found" {
			t.Errorf("%s: %d %s", model, res.StatusCode, body)
		}
		b, _ = json.Marshal(map[string]any{"model": model, "urls": []string{e.Host.PageURL()}})
		if res, body := call(t, "POST", e.URL+"/jobs", e.Key, string(b)); res.StatusCode != http.StatusBadRequest || errorCode(body) != "model_not_found" {
			t.Errorf("batch %s: %d %s", model, res.StatusCode, body)
		}
	}
	if n := countRows(t, e, `SELECT count(*) FROM jobs WHERE account_id = $1`, e.KeyRow.AccountID); n != 0 {
		t.Fatalf("%d jobs recorded for refused models", n)
	}
	if n := len(e.Fake.Requests()); n != 0 {
		t.Fatalf("the provider was called %d times", n)
	}
}

// TestNoCreditNoModelCall: a key with no balance gets insufficient_quota
// for follow-ups and image questions too, before any model call.
func TestNoCreditNoModelCall(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	_, broke := e.NewKey(t, "broke", 0)
	page := e.Host.PageURL()
	bodies := map[string]any{
		"follow-up": map[string]any{"messages": []map[string]any{
			{"role": "user", "content": page}, {"role": "assistant", "content": "A summary."},
			{"role": "user", "content": "Now write me an essay about it."}}},
		"image": map[string]any{"messages": []map[string]any{{"role": "user", "content": []map[string]any{
			{"type": "text", "text": "What is in this picture?"},
			{"type": "image_url", "image_url": map[string]string{"url": "data:image/png;base64,iVBORw0KGgo="}}}}}},
	}
	for name, v := range bodies {
		b, _ := json.Marshal(v)
		res, body := call(t, "POST", e.URL+"/chat/completions", broke, string(b))
		if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "insufficient_quota" {
			t.Errorf("%s: %d %s", name, res.StatusCode, body)
		}
	}
	if n := len(e.Fake.Requests()); n != 0 {
		t.Fatalf("the provider was called %d times for a key without credit", n)
	}
}

// TestBatchBeyondBalance: a batch of 50 new videos with one minute of
// credit starts one job; the other 49 are refused at once, with no
// download.
func TestBatchBeyondBalance(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 1, NoLLM: true})
	urls := make([]string, 50)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s?v=%d", e.Host.PageURL(), i)
	}
	b, _ := json.Marshal(map[string]any{"urls": urls})
	res, body := call(t, "POST", e.URL+"/jobs", e.Key, string(b))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var reply struct {
		Data []struct {
			ID    string
			State string
			Error *struct{ Code string }
		}
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, j := range reply.Data {
		if j.State == "failed" && j.Error != nil && j.Error.Code == "insufficient_quota" {
			refused++
		}
	}
	if len(reply.Data) != 50 || refused != 49 {
		t.Fatalf("%d jobs, %d refused at once; want 50 and 49", len(reply.Data), refused)
	}
	// The one started job ends; the refused ones never reached the site.
	awaitJob(t, e, reply.Data[0].ID)
	if hits := e.Host.Hits(mediatest.PagePath); hits > 3 {
		t.Fatalf("the video page was fetched %d times for one admitted job", hits)
	}
}

// TestUnpricedJobsHoldTheSmallestPrice: while a job is queued and not
// priced yet, the minute it will cost at least is not offered to another
// new video.
func TestUnpricedJobsHoldTheSmallestPrice(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Minutes: 1, NoWorker: true})
	b, _ := json.Marshal(map[string]any{"urls": []string{e.Host.PageURL() + "?v=1"}})
	if res, body := call(t, "POST", e.URL+"/jobs", e.Key, string(b)); res.StatusCode != http.StatusAccepted {
		t.Fatalf("first job: %d %s", res.StatusCode, body)
	}
	b, _ = json.Marshal(map[string]any{"urls": []string{e.Host.PageURL() + "?v=2"}})
	if res, body := call(t, "POST", e.URL+"/jobs", e.Key, string(b)); res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "insufficient_quota" {
		t.Fatalf("second batch: %d %s", res.StatusCode, body)
	}
	res, body := call(t, "POST", e.URL+"/chat/completions", e.Key, chatBody(e.Host.PageURL()+"?v=3", "Summarize"))
	if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "insufficient_quota" {
		t.Fatalf("chat: %d %s", res.StatusCode, body)
	}
	if hits := e.Host.Hits(mediatest.PagePath); hits != 0 {
		t.Fatalf("the video page was fetched %d times", hits)
	}
}

// TestNULBytesAre400: a NUL character anywhere that would reach Postgres
// is a 400 naming the field, never a 500.
func TestNULBytesAre400(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{NoWorker: true})
	page := e.Host.PageURL()
	cases := []struct{ name, path, body, param string }{
		{"message", "/chat/completions", `{"messages":[{"role":"user","content":"sum\u0000up ` + page + `"}]}`, "messages"},
		{"history", "/chat/completions", `{"messages":[{"role":"user","content":"` + page + `"},{"role":"assistant","content":"a\u0000b"},{"role":"user","content":"why?"}]}`, "messages[1].content"},
		{"data url", "/chat/completions", `{"messages":[{"role":"user","content":[{"type":"text","text":"what"},{"type":"image_url","image_url":"data:image/png;base64,AA\u0000"}]}]}`, "messages[0].content[1].image_url"},
		{"batch prompt", "/jobs", `{"urls":["` + page + `"],"prompt":"a\u0000b"}`, "prompt"},
		{"responses", "/responses", `{"input":"` + page + ` \u0000"}`, "input"},
	}
	for _, tc := range cases {
		res, body := call(t, "POST", e.URL+tc.path, e.Key, tc.body)
		var shape struct {
			Error struct {
				Type, Code string
				Param      *string
			}
		}
		_ = json.Unmarshal(openAIShaped(body), &shape)
		if res.StatusCode != http.StatusBadRequest || shape.Error.Type != "invalid_request_error" || shape.Error.Param == nil || *shape.Error.Param != tc.param {
			t.Errorf("%s: %d %s", tc.name, res.StatusCode, body)
		}
	}
}
