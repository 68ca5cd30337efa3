package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/summarize"
)

// timedMedia sums the time spent in yt-dlp and ffmpeg runs.
type timedMedia struct {
	jobs.Media
	ns *atomic.Int64
}

func (m timedMedia) since(t time.Time) { m.ns.Add(int64(time.Since(t))) }

func (m timedMedia) Resolve(ctx context.Context, url string) (*media.Info, error) {
	defer m.since(time.Now())
	return m.Media.Resolve(ctx, url)
}

func (m timedMedia) Subtitles(ctx context.Context, url string, info *media.Info, lang string) ([]recap.Segment, media.SubtitleTrack, error) {
	defer m.since(time.Now())
	return m.Media.Subtitles(ctx, url, info, lang)
}

func (m timedMedia) DownloadAudio(ctx context.Context, url string, info *media.Info, dir string, progress func(float64)) (string, error) {
	defer m.since(time.Now())
	return m.Media.DownloadAudio(ctx, url, info, dir, progress)
}

// timedLLM sums the time spent in model calls.
type timedLLM struct {
	jobs.Summarizer
	ns *atomic.Int64
}

func (s timedLLM) Summarize(ctx context.Context, req summarize.Request, onDelta func(string)) (*summarize.Result, error) {
	defer func(t time.Time) { s.ns.Add(int64(time.Since(t))) }(time.Now())
	return s.Summarizer.Summarize(ctx, req, onDelta)
}

// stageSpan is when one stage task of a job ran.
type stageSpan struct{ start, end time.Time }

// BenchmarkFastPath runs uncached jobs end to end, one at a time, on
// loopback: a chat completion (no stream) for a page yt-dlp's generic
// extractor reads (a <video> with a subtitle track), the real yt-dlp, the
// fake LLM. It prints where each job's wall time goes; Recap's own time is
// the wall time minus yt-dlp and the model. RECAP_BENCH_POLL sets asynq's
// TaskCheckInterval (default: the app's QUEUE_POLL_MS); RECAP_BENCH_CHAIN=0
// turns off jobs.WorkerConfig.ChainStages (on by default, as in the app).
//
//	go test ./app -run '^$' -bench FastPath -benchtime 20x
func BenchmarkFastPath(b *testing.B) {
	e := apptest.Start(b, apptest.Options{NoWorker: true, Configure: func(c *app.Config) { c.LogLevel = "error"; c.RateLimitRPM = 10_000_000 }})
	poll := e.Config.QueuePoll
	if v, err := time.ParseDuration(os.Getenv("RECAP_BENCH_POLL")); err == nil && v > 0 {
		poll = v
	}
	mc, err := media.New(media.Config{TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var ytdlpNs, llmNs atomic.Int64
	w := jobs.NewWorker(jobs.WorkerConfig{Store: e.Store, Events: e.Deps.Events, Asynq: e.Deps.Asynq, QueuePrefix: e.Config.QueuePrefix,
		Media:      timedMedia{mc, &ytdlpNs},
		LLM:        timedLLM{summarize.New(summarize.Config{BaseURL: e.Fake.URL(), APIKey: "x", Model: "fake-model"}), &llmNs},
		Extractive: summarize.NewExtractive(summarize.ExtractiveConfig{}), PriceCachedTranscript: true, TempDir: b.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ChainStages: os.Getenv("RECAP_BENCH_CHAIN") != "0"})
	mux := w.Mux()
	var spanMu sync.Mutex
	spans := map[string]map[string]stageSpan{} // job → task type → span
	srv := asynq.NewServer(e.Deps.RedisOpt, w.ServerConfig(asynq.Config{Concurrency: 4, Queues: jobs.Queues(e.Config.QueuePrefix),
		LogLevel: asynq.ErrorLevel, TaskCheckInterval: poll}))
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p struct {
			JobID string `json:"job_id"`
		}
		_ = json.Unmarshal(t.Payload(), &p)
		start := time.Now()
		err := mux.ProcessTask(ctx, t)
		spanMu.Lock()
		if spans[p.JobID] == nil {
			spans[p.JobID] = map[string]stageSpan{}
		}
		spans[p.JobID][t.Type()] = stageSpan{start, time.Now()}
		spanMu.Unlock()
		return err
	})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	client := &http.Client{}
	type row struct{ wall, ytdlp, llm, own, wait, handlers, api time.Duration }
	var rows []row
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	i := 0
	for b.Loop() {
		i++
		url := fmt.Sprintf("%s?fast=%s-%d", e.Host.PageURL(), stamp, i) // a new canonical key: uncached
		body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + url + `"}]}`
		y0, l0 := ytdlpNs.Load(), llmNs.Load()
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		wall := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
		id := res.Header.Get("X-Recap-Job-Id")
		if id == "" {
			b.Fatal("the reply has no X-Recap-Job-Id")
		}
		r := row{wall: wall, ytdlp: time.Duration(ytdlpNs.Load() - y0), llm: time.Duration(llmNs.Load() - l0)}
		r.own = r.wall - r.ytdlp - r.llm
		spanMu.Lock()
		ss := spans[id]
		if ss != nil {
			prev := start
			for _, typ := range []string{jobs.TypeResolve, jobs.TypeTranscript, jobs.TypeSummary} {
				sp, ok := ss[typ]
				if !ok {
					continue
				}
				r.wait += sp.start.Sub(prev)
				r.handlers += sp.end.Sub(sp.start)
				prev = sp.end
			}
			r.api = start.Add(wall).Sub(prev)
		}
		spanMu.Unlock()
		rows = append(rows, r)
	}
	med := func(f func(row) time.Duration) time.Duration {
		v := make([]time.Duration, len(rows))
		for i, r := range rows {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	own := med(func(r row) time.Duration { return r.own })
	b.ReportMetric(float64(own.Microseconds())/1000, "own_ms")
	b.ReportMetric(float64(med(func(r row) time.Duration { return r.wall }).Microseconds())/1000, "wall_ms")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("\n| uncached job, medians of %d (poll %s, chained stages %v) | time |\n|---|---|\n", len(rows), poll, os.Getenv("RECAP_BENCH_CHAIN") != "0")
	fmt.Printf("| wall (POST → reply) | %s |\n", ms(med(func(r row) time.Duration { return r.wall })))
	fmt.Printf("| yt-dlp (resolve + subtitles) | %s |\n", ms(med(func(r row) time.Duration { return r.ytdlp })))
	fmt.Printf("| model | %s |\n", ms(med(func(r row) time.Duration { return r.llm })))
	fmt.Printf("| **Recap's own time** = wall − yt-dlp − model | **%s** |\n", ms(own))
	fmt.Printf("| of which queue waits (submit → resolve, between stages) | %s |\n", ms(med(func(r row) time.Duration { return r.wait })))
	fmt.Printf("| of which stage handlers minus yt-dlp and model (transactions, events) | %s |\n",
		ms(med(func(r row) time.Duration { return r.handlers - r.ytdlp - r.llm })))
	fmt.Printf("| of which the API after the last stage (event read, reply) | %s |\n", ms(med(func(r row) time.Duration { return r.api })))
}
