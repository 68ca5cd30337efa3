package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/media/mediatest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

// seed stores a video and its transcript as the resolve and transcript
// stages would, so jobs for it run without yt-dlp (whose start-up costs
// seconds a call here). videoDuration 0 is an extractor that reports no
// duration: the job is then priced from the transcript.
func seed(t *testing.T, e *apptest.Env, url string, videoDuration float64) {
	t.Helper()
	ctx := context.Background()
	key, err := jobs.VideoKey(url)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(media.Info{ID: "talk", Extractor: "generic", Title: mediatest.Title, WebpageURL: url, Duration: videoDuration,
		Subtitles: []media.SubtitleTrack{{Lang: "en", Ext: "vtt", URL: e.Host.URL(mediatest.SubtitlePath)}}})
	if err := e.Store.SaveVideo(ctx, &store.Video{Key: key, URL: url, Title: mediatest.Title, Duration: videoDuration, Info: info}); err != nil {
		t.Fatal(err)
	}
	segs := []store.Segment{
		{Start: 1, End: 6, Text: "Welcome to the Recap test video"},
		{Start: 8, End: 13, Text: "First, subtitles are parsed into segments"},
		{Start: 14, End: 19.5, Text: "Finally, long recordings are split at silences"},
	}
	if err := e.Store.SaveTranscript(ctx, &store.Transcript{VideoKey: key, Source: "subtitles", Segments: segs, Duration: 19.5}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSpend races one-minute jobs on distinct videos against a
// smaller balance: the ledger admits exactly as many as it covers, the
// rest get insufficient_quota, and the books balance.
func TestConcurrentSpend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		minutes int64
		jobs    int
		// videoDuration 0: the metadata has no duration (yt-dlp's generic
		// extractor) and the hold waits for the transcript.
		videoDuration float64
	}{
		{"priced at resolve", 10, 50, 20},
		{"priced from the transcript", 10, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := apptest.Start(t, apptest.Options{Minutes: tt.minutes, NoLLM: true})
			ctx := context.Background()
			urls := make([]string, tt.jobs)
			for i := range urls {
				urls[i] = fmt.Sprintf("%s?v=%d", e.Host.PageURL(), i)
				seed(t, e, urls[i], tt.videoDuration)
			}
			var wg sync.WaitGroup
			errs := make([]error, tt.jobs)
			for i := range urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.Client.Chat.Completions.New(ctx, userMessage(urls[i]))
				}()
			}
			wg.Wait()
			ok, quota := 0, 0
			for i, err := range errs {
				var apiErr *openai.Error
				switch {
				case err == nil:
					ok++
				case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests && apiErr.Code == "insufficient_quota" &&
					apiErr.Type == "insufficient_quota" && apiErr.Response.Header.Get("X-Should-Retry") == "false":
					quota++
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if want := int(tt.minutes); ok != want || quota != tt.jobs-want {
				t.Fatalf("%d succeeded and %d got insufficient_quota; want %d and %d", ok, quota, want, tt.jobs-want)
			}
			bal, err := e.Store.Balance(ctx, e.KeyRow.AccountID)
			if err != nil {
				t.Fatal(err)
			}
			if bal.Available != 0 || bal.Held != 0 || bal.UsedThisMonth != tt.minutes*60 {
				t.Fatalf("balance %+v; want 0 available, 0 held, %d s used", bal, tt.minutes*60)
			}
			storetest.CheckLedger(t, e.Store)
		})
	}
}
