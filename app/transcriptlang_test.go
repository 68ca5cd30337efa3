package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
)

const zhVTT = `WEBVTT

00:00:01.400 --> 00:00:04.000
欢迎来到 Recap 测试视频。

00:00:04.000 --> 00:00:07.000
今天我们谈谈简洁的摘要。

00:00:08.500 --> 00:00:13.300
首先，字幕被解析成带有精确时间戳的片段。

00:00:14.900 --> 00:00:20.200
最后，长录音在静音处切分并并行转写。
`

// TestTranscriptLanguages: a page offering English and Chinese subtitle
// tracks. ?lang=zh fetches the Chinese track through a transcript job
// (once: asked again, it comes from the store), a language the video
// lacks is 404 language_not_available naming en and zh, and
// ?lang=en,zh gives both lines per English cue in srt, vtt, txt and json.
// A read-only key cannot start the (billed) fetch.
func TestTranscriptLanguages(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Host.Serve("/talk.zh.vtt", mediatest.BytesHandler("talk.zh.vtt", "text/vtt", []byte(zhVTT), mod))
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Bilingual talk</title></head><body>
<video controls src="talk.webm"><track kind="subtitles" src="talk.en.vtt" srclang="en" label="English">
<track kind="subtitles" src="talk.zh.vtt" srclang="zh" label="中文"></video></body></html>`
	e.Host.Serve("/bilingual.html", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	id := createJob(t, e, e.Host.URL("/bilingual.html"))
	if v := waitJob(t, e, e.Key, id); v["state"] != "succeeded" {
		t.Fatalf("job: %v", v)
	}
	get := func(query string) (*http.Response, []byte) {
		t.Helper()
		return do(t, e, http.MethodGet, "/transcripts/"+id+query, e.Key, "", nil)
	}

	// Fetching a language is billed: a read-only key of the same account
	// may read stored transcripts but not start one.
	ctx := context.Background()
	rk, rsecret, err := e.Store.CreateKey(ctx, store.NewKey{Name: "reader", Seconds: 60, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Pool().Exec(ctx, `UPDATE api_keys SET account_id = (SELECT account_id FROM jobs WHERE id = $1) WHERE id = $2`, id, rk.ID); err != nil {
		t.Fatal(err)
	}
	res, b := do(t, e, http.MethodGet, "/transcripts/"+id+"?lang=zh", rsecret, "", nil)
	if ae := decodeAPIError(t, b); res.StatusCode != http.StatusForbidden || *ae.Error.Code != "insufficient_scope" {
		t.Fatalf("read-only key fetching a language: %d %s", res.StatusCode, b)
	}

	res, b = get("?lang=zh")
	var one struct {
		Object, Language, Source string
		Segments                 []struct{ Text string }
	}
	if err := json.Unmarshal(b, &one); err != nil || res.StatusCode != 200 || one.Language != "zh" || one.Source != "subtitles" ||
		len(one.Segments) != 4 || !strings.Contains(one.Segments[0].Text, "欢迎") {
		t.Fatalf("?lang=zh: %d %s", res.StatusCode, b)
	}
	hits := e.Host.Hits("/talk.zh.vtt")
	if res, b := get("?lang=zh&format=txt"); res.StatusCode != 200 || !strings.Contains(string(b), "[00:01] 欢迎") {
		t.Fatalf("?lang=zh again: %d %s", res.StatusCode, b)
	}
	if n := e.Host.Hits("/talk.zh.vtt"); n != hits {
		t.Fatalf("the stored Chinese transcript was fetched again (%d more hits)", n-hits)
	}

	res, b = get("?lang=fr")
	ae := decodeAPIError(t, b)
	if res.StatusCode != 404 || *ae.Error.Code != "language_not_available" || !strings.Contains(ae.Error.Message, "en, zh") {
		t.Fatalf("?lang=fr: %d %s", res.StatusCode, b)
	}
	for _, q := range []string{"?lang=", "?lang=en,zh,fr", "?lang=zh,zh", "?lang=en,zh&format=pdf"} {
		if res, b := get(q); res.StatusCode != 400 {
			t.Errorf("%s: %d %s", q, res.StatusCode, b)
		}
	}

	res, b = get("?lang=en,zh&format=srt")
	want := "1\n00:00:01,500 --> 00:00:06,968\nWelcome to the Recap test video. Today we talk about compact summaries.\n欢迎来到 Recap 测试视频。 今天我们谈谈简洁的摘要。\n\n" +
		"2\n00:00:08,468 --> 00:00:13,379\nFirst, subtitles are parsed into segments with precise timestamps.\n首先，字幕被解析成带有精确时间戳的片段。\n\n"
	if res.StatusCode != 200 || !strings.HasPrefix(string(b), want) || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/x-subrip") {
		t.Fatalf("bilingual srt: %d %s", res.StatusCode, b)
	}
	if res, b := get("?lang=en,zh&format=vtt"); res.StatusCode != 200 || !strings.Contains(string(b), "timestamps.\n首先") {
		t.Fatalf("bilingual vtt: %d %s", res.StatusCode, b)
	}
	if res, b := get("?lang=en,zh&format=txt"); res.StatusCode != 200 || !strings.Contains(string(b), "[00:14] Finally, long recordings are split at silences and transcribed in parallel. / 最后") {
		t.Fatalf("bilingual txt: %d %s", res.StatusCode, b)
	}
	res, b = get("?lang=en,zh")
	var bi struct {
		Object    string
		Languages []string
		Segments  []struct {
			Start, End float64
			Texts      []string
		}
	}
	if err := json.Unmarshal(b, &bi); err != nil || res.StatusCode != 200 || bi.Object != "transcript.bilingual" ||
		strings.Join(bi.Languages, ",") != "en,zh" || len(bi.Segments) != 3 || len(bi.Segments[2].Texts) != 2 ||
		!strings.HasPrefix(bi.Segments[2].Texts[1], "最后") {
		t.Fatalf("bilingual json: %d %s", res.StatusCode, b)
	}

	// MCP's get_transcript takes the same languages.
	cs := mcpSession(t, e, e.Key, nil)
	call := func(args map[string]any) (string, bool) {
		t.Helper()
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_transcript", Arguments: args})
		if err != nil {
			t.Fatal(err)
		}
		return toolText(r), r.IsError
	}
	if text, isErr := call(map[string]any{"job_id": id, "language": "zh", "format": "txt"}); isErr || !strings.Contains(text, "[00:01] 欢迎") {
		t.Fatalf("get_transcript zh: %v %s", isErr, text)
	}
	if text, isErr := call(map[string]any{"job_id": id, "language": "en,zh", "format": "srt"}); isErr || !strings.HasPrefix(text, want) {
		t.Fatalf("get_transcript en,zh: %v %s", isErr, text)
	}
	if text, isErr := call(map[string]any{"job_id": id, "language": "fr"}); !isErr || !strings.Contains(text, "language_not_available") {
		t.Fatalf("get_transcript fr: %v %s", isErr, text)
	}
}
