package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/recap/recap"
	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/store"
	"github.com/recap/recap/summarize"
	"github.com/recap/recap/summarize/summarizetest"
)

// BenchmarkCachedCompletions measures completions answered from the summary
// cache: 50 concurrent clients with keep-alive, 2,000 requests per round,
// after one warm-up round whose figures are printed but not counted.
//
//	go test ./app -run '^$' -bench CachedCompletions -benchtime 3x
func BenchmarkCachedCompletions(b *testing.B) {
	e := apptest.Start(b, apptest.Options{Configure: func(c *app.Config) { c.LogLevel = "error"; c.RateLimitRPM = 10_000_000 }})
	body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + e.Host.PageURL() + `"}]}`
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	call := func() (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return time.Since(start), nil
	}
	if _, err := call(); err != nil { // fills the cache
		b.Fatal(err)
	}
	const clients, perRound = 50, 2000
	// round runs perRound requests from 50 clients and returns their
	// latencies and the wall time.
	round := func() ([]time.Duration, time.Duration) {
		lat := make([]time.Duration, perRound)
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= perRound {
						return
					}
					d, err := call()
					if err != nil {
						b.Error(err)
						return
					}
					lat[i] = d
				}
			}()
		}
		wg.Wait()
		return lat, time.Since(start)
	}
	// A first round, not counted, opens what a running server has open:
	// Postgres and Redis connections, keep-alive connections, a grown heap.
	warm, warmWall := round()
	slices.Sort(warm)
	fmt.Printf("\nwarm-up round (not counted): %.0f req/s, p50 %.1f ms, p99 %.1f ms\n", float64(perRound)/warmWall.Seconds(),
		float64(warm[perRound/2].Microseconds())/1000, float64(warm[perRound*99/100].Microseconds())/1000)
	var all []time.Duration
	var elapsed time.Duration
	for b.Loop() {
		lat, wall := round()
		elapsed += wall
		all = append(all, lat...)
	}
	slices.Sort(all)
	rps := float64(len(all)) / elapsed.Seconds()
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	fmt.Printf("\n| cached completions | clients | requests | req/s | p50 | p99 |\n|---|---|---|---|---|---|\n| %s | %d | %d | %.0f | %.1f ms | %.1f ms |\n",
		"summary cache hit", clients, len(all), rps, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)
}

// fixedMedia stands in for yt-dlp with fixed latencies, so the batch
// benchmark measures Recap, not the network.
type fixedMedia struct {
	resolve, subtitles time.Duration
	busy               *atomic.Int64 // nanoseconds spent in externals
}

func (f fixedMedia) wait(ctx context.Context, d time.Duration) error {
	f.busy.Add(int64(d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f fixedMedia) Resolve(ctx context.Context, url string) (*media.Info, error) {
	if err := f.wait(ctx, f.resolve); err != nil {
		return nil, err
	}
	return &media.Info{Title: "bench " + url, Duration: 60}, nil
}

func (f fixedMedia) Subtitles(ctx context.Context, url string, _ *media.Info, _ string) ([]recap.Segment, media.SubtitleTrack, error) {
	if err := f.wait(ctx, f.subtitles); err != nil {
		return nil, media.SubtitleTrack{}, err
	}
	return []recap.Segment{{Start: 1, End: 20, Text: "Welcome to " + url}, {Start: 21, End: 40, Text: "The middle part."}, {Start: 41, End: 59, Text: "The end."}},
		media.SubtitleTrack{Lang: "en"}, nil
}

func (fixedMedia) DownloadAudio(context.Context, string, *media.Info, string, func(float64)) (string, error) {
	return "", media.ErrUnsupported
}
func (fixedMedia) Probe(context.Context, string) (float64, error) { return 0, media.ErrUnsupported }
func (fixedMedia) SplitAudio(context.Context, string, string, float64, recap.Range) ([]media.Chunk, error) {
	return nil, media.ErrUnsupported
}

// BenchmarkBatch submits 1,000 URLs through POST /api/v1/jobs with fake
// externals of fixed latency (resolve 100 ms, subtitles 100 ms, LLM 300 ms)
// and 50 worker slots, and reports where the time goes.
//
//	go test ./app -run '^$' -bench Batch -benchtime 1x
func BenchmarkBatch(b *testing.B) {
	n, slots := 1000, 50
	if v, err := strconv.Atoi(os.Getenv("RECAP_BENCH_JOBS")); err == nil && v > 0 {
		n = v
	}
	resolveD, subsD, llmD := 100*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	if v := os.Getenv("RECAP_BENCH_LATENCY"); v != "" { // "resolve,subtitles,llm", e.g. "2s,1s,8s"
		parts := strings.Split(v, ",")
		var ds []time.Duration
		for _, p := range parts {
			d, err := time.ParseDuration(strings.TrimSpace(p))
			if err != nil {
				b.Fatalf("RECAP_BENCH_LATENCY: %v", err)
			}
			ds = append(ds, d)
		}
		if len(ds) != 3 {
			b.Fatal(`RECAP_BENCH_LATENCY is "resolve,subtitles,llm"`)
		}
		resolveD, subsD, llmD = ds[0], ds[1], ds[2]
	}
	e := apptest.Start(b, apptest.Options{NoWorker: true, Minutes: int64(10 * n), Configure: func(c *app.Config) { c.RateLimitRPM = 10_000_000 }})
	fake := summarizetest.New(b, summarizetest.Options{Delay: llmD})
	var external atomic.Int64
	var handlerNs atomic.Int64
	var stageMu sync.Mutex
	stageNs, stageN := map[string]time.Duration{}, map[string]int{}
	// The worker's own pool, sized as app.Connect sizes a worker's: each
	// slot may hold a video's advisory lock on one connection and work on
	// another.
	st, err := store.Open(context.Background(), store.Config{URL: e.Config.DatabaseURL, MaxConns: int32(2*slots + 16)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	// Open the pool's connections before timing: a long-running worker has
	// them, and opening a hundred Postgres backends at once is not what
	// this measures.
	warm := make([]*pgxpool.Conn, 0, 2*slots)
	for range 2 * slots {
		c, err := st.Pool().Acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		c.Release()
	}
	w := jobs.NewWorker(jobs.WorkerConfig{Store: st, Events: e.Deps.Events, Asynq: e.Deps.Asynq, QueuePrefix: e.Config.QueuePrefix,
		Media:      fixedMedia{resolve: resolveD, subtitles: subsD, busy: &external},
		LLM:        summarize.New(summarize.Config{BaseURL: fake.URL(), APIKey: "x", Model: "fake-model"}),
		Extractive: summarize.NewExtractive(summarize.ExtractiveConfig{}), PriceCachedTranscript: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := w.Mux()
	srv := asynq.NewServer(e.Deps.RedisOpt, w.ServerConfig(asynq.Config{Concurrency: slots, Queues: jobs.Queues(e.Config.QueuePrefix),
		LogLevel: asynq.ErrorLevel, TaskCheckInterval: e.Config.QueuePoll}))
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := mux.ProcessTask(ctx, t)
		d := time.Since(start)
		handlerNs.Add(int64(d))
		stageMu.Lock()
		stageNs[t.Type()] += d
		stageN[t.Type()]++
		stageMu.Unlock()
		return err
	})); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	for b.Loop() {
		urls := make([]string, n)
		stamp := time.Now().UnixNano()
		for i := range urls {
			urls[i] = fmt.Sprintf("%s?batch=%d&v=%d", e.Host.PageURL(), stamp, i)
		}
		body, _ := json.Marshal(map[string]any{"urls": urls})
		external.Store(0)
		handlerNs.Store(0)
		stageMu.Lock()
		clear(stageNs)
		clear(stageN)
		stageMu.Unlock()
		llmCalls := fake.ChatCalls()
		cpu0, own0 := machineCPU(b), processCPU()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/jobs", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+e.Key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var created struct {
			Data []recap.View `json:"data"`
		}
		_ = json.NewDecoder(res.Body).Decode(&created)
		res.Body.Close()
		submit := time.Since(start)
		if len(created.Data) != n {
			b.Fatalf("status %d, %d jobs", res.StatusCode, len(created.Data))
		}
		// Wait for the last job to end, watching the jobs table.
		for {
			var done int
			if err := e.Store.Pool().QueryRow(context.Background(),
				`SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','canceled') AND url LIKE $1`,
				fmt.Sprintf("%%batch=%d&%%", stamp)).Scan(&done); err != nil {
				b.Fatal(err)
			}
			if done == n {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling an observable state, not synchronizing
		}
		wall := time.Since(start)
		cpu, own := machineCPU(b)-cpu0, processCPU()-own0
		var failed int
		_ = e.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE state <> 'succeeded' AND url LIKE $1`,
			fmt.Sprintf("%%batch=%d&%%", stamp)).Scan(&failed)
		if failed > 0 {
			b.Fatalf("%d jobs did not succeed", failed)
		}
		llmCalls = fake.ChatCalls() - llmCalls
		ext := time.Duration(external.Load()) + time.Duration(llmCalls)*llmD
		ideal := ext / time.Duration(slots)
		handlers := time.Duration(handlerNs.Load())
		inHandler := handlers - ext
		overhead := wall - ideal
		b.ReportMetric(float64(n)/wall.Seconds(), "jobs/s")
		b.ReportMetric(100*overhead.Seconds()/wall.Seconds(), "overhead_%")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu_ms/job")
		fmt.Printf("\n| batch of %d, %d worker slots, externals %s / %s / %s | value |\n|---|---|\n", n, slots, resolveD, subsD, llmD)
		fmt.Printf("| wall time (POST → last job done) | %s |\n| throughput | %.1f jobs/s |\n", wall.Round(time.Millisecond), float64(n)/wall.Seconds())
		fmt.Printf("| POST /api/v1/jobs (API: validate, insert, enqueue 1000) | %s |\n", submit.Round(time.Millisecond))
		fmt.Printf("| external time (yt-dlp stand-in + LLM), summed | %s |\n", ext.Round(time.Millisecond))
		fmt.Printf("| ideal wall time = external / slots | %s |\n", ideal.Round(time.Millisecond))
		fmt.Printf("| Recap inside stage handlers (Postgres, Redis, enqueue), summed | %s (%.1f%% of handler time) |\n",
			inHandler.Round(time.Millisecond), 100*inHandler.Seconds()/handlers.Seconds())
		stageMu.Lock()
		for _, typ := range slices.Sorted(maps.Keys(stageN)) {
			fmt.Printf("| stage %s: %d runs, mean %s |\n", typ, stageN[typ], (stageNs[typ] / time.Duration(stageN[typ])).Round(100*time.Microsecond))
		}
		stageMu.Unlock()
		fmt.Printf("| LLM calls | %d |\n", llmCalls)
		fmt.Printf("| machine CPU (all processes: Recap, Postgres, Redis, fakes) | %s = %.1f ms per job, %.0f%% of 2 cores |\n",
			cpu.Round(time.Millisecond), float64(cpu.Microseconds())/1000/float64(n), 100*cpu.Seconds()/(2*wall.Seconds()))
		fmt.Printf("| of which this Go process (API, worker, fake LLM, the benchmark) | %s = %.1f ms per job |\n",
			own.Round(time.Millisecond), float64(own.Microseconds())/1000/float64(n))
		fmt.Printf("| Recap overhead = wall − ideal (API + queue + Postgres + idle slots) | %s (%.1f%% of wall) |\n",
			overhead.Round(time.Millisecond), 100*overhead.Seconds()/wall.Seconds())
	}
}

// machineCPU is the CPU time all processes have used (from /proc/stat),
// so the batch benchmark can say what each job costs the machine.
func machineCPU(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
