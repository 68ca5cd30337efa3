package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recap/recap"
	"github.com/recap/recap/app/apptest"
)

// BenchmarkExtractor measures uncached videos end to end with yt-dlp run
// as a process per run (EXTRACTOR_MODE=cli) and in the warm pool
// (EXTRACTOR_MODE=pool), in one run, on loopback pages (yt-dlp's generic
// extractor, subtitles on the page) and the fake model. The API and the
// worker are separate processes (cmd/api, cmd/worker, built here); this
// process is the load generator (and serves the pages and the fake
// model). For each mode it prints:
//
//   - single: uncached chat completions one after another, median wall
//     time, against the median of one bare `yt-dlp --dump-json` run on
//     the same page;
//   - batch: RECAP_BENCH_VIDEOS (60) uncached URLs in one POST
//     /api/v1/jobs, followed through GET /api/v1/jobs until every one
//     ended: videos/s, p50 and p99 of each job's created → finished time,
//     CPU seconds per video of the worker (with every yt-dlp process and
//     pool process it ran) and of the API, and the pool's resident memory.
//
// Each mode's worker first runs a warm-up batch (as a long-running worker
// would be warm). Run it when the machine is otherwise idle:
//
//	go test ./app -run '^$' -bench Extractor -benchtime 1x
func BenchmarkExtractor(b *testing.B) {
	videos := 60
	if v, err := strconv.Atoi(os.Getenv("RECAP_BENCH_VIDEOS")); err == nil && v > 0 {
		videos = v
	}
	singles := 10
	e := apptest.Start(b, apptest.Options{NoWorker: true, Minutes: 1_000_000})
	api := startAPIProcess(b, e)
	_, key := e.NewKey(b, "bench", 1_000_000)
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	n := 0
	nextURL := func() string {
		n++
		return fmt.Sprintf("%s?bench=%s-%d", e.Host.PageURL(), stamp, n) // a new canonical key: uncached
	}
	bare := bareYtDlp(b, nextURL, 5)
	type row struct {
		mode                      string
		single                    time.Duration
		rate                      float64
		p50, p99                  time.Duration
		workerCPU, apiCPU, poolMB float64
		failed                    int
	}
	var rows []row
	for b.Loop() {
		rows = rows[:0]
		for _, mode := range []string{"cli", "pool"} {
			w := e.StartWorkerProcess(b, "EXTRACTOR_MODE="+mode, "WORKER_CONCURRENCY=10")
			apptest.Poll(b, 2*time.Minute, "the worker to say how it runs yt-dlp", func() bool {
				return strings.Contains(w.Log(), "extractor_mode="+mode)
			})
			// Warm-up: a batch that has every pool process started.
			warm := make([]string, 12)
			for i := range warm {
				warm[i] = nextURL()
			}
			runBatch(b, api, key, warm)
			r := row{mode: mode}
			var lat []time.Duration
			for range singles {
				lat = append(lat, chatOnce(b, api, key, nextURL()))
			}
			slices.Sort(lat)
			r.single = lat[len(lat)/2]
			urls := make([]string, videos)
			for i := range urls {
				urls[i] = nextURL()
			}
			w0, a0 := treeCPU(w.Cmd.Process.Pid), treeCPU(api.Cmd.Process.Pid)
			res := runBatch(b, api, key, urls)
			w1, a1 := treeCPU(w.Cmd.Process.Pid), treeCPU(api.Cmd.Process.Pid)
			r.rate = float64(videos) / res.wall.Seconds()
			r.p50, r.p99 = pct(res.perJob, 50), pct(res.perJob, 99)
			r.failed = res.failed
			r.workerCPU = (w1 - w0).Seconds() / float64(videos)
			r.apiCPU = (a1 - a0).Seconds() / float64(videos)
			r.poolMB = float64(childrenRSS(w.Cmd.Process.Pid, "recap-extractor-")) / (1 << 20)
			_ = w.Cmd.Process.Signal(syscall.SIGTERM)
			_ = w.Wait(b, time.Minute)
			if r.failed > 0 {
				b.Errorf("%s: %d of %d jobs did not succeed", mode, r.failed, videos)
			}
			rows = append(rows, r)
		}
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("\nbare `yt-dlp --dump-json` on the page (median of 5): %s\n\n", ms(bare))
	fmt.Printf("| mode | uncached video, one at a time (median of %d) | ÷ bare yt-dlp | batch of %d: videos/s | p50 | p99 | worker CPU s/video (with yt-dlp) | API CPU s/video | pool RSS | failed |\n", singles, videos)
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %.2f× | %.1f | %s | %s | %.3f | %.3f | %.0f MiB | %d |\n", r.mode, ms(r.single), float64(r.single)/float64(bare),
			r.rate, ms(r.p50), ms(r.p99), r.workerCPU, r.apiCPU, r.poolMB, r.failed)
	}
	for _, r := range rows {
		b.ReportMetric(r.rate, r.mode+"_videos/s")
		b.ReportMetric(float64(r.single.Milliseconds()), r.mode+"_single_ms")
	}
}

// apiProcess is cmd/api running as a subprocess.
type apiProcess struct {
	*apptest.Process
	URL string // …/api/v1
}

// startAPIProcess builds cmd/api and serves e's database and queues on a
// free loopback port.
func startAPIProcess(b *testing.B, e *apptest.Env) *apiProcess {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/recap/recap/cmd/api").CombinedOutput(); err != nil {
		b.Fatalf("go build cmd/api: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = e.WorkerEnv("LISTEN_ADDR="+addr, "RATE_LIMIT_RPM=100000000", "LOG_LEVEL=error")
	p := apptest.RunProcess(b, cmd)
	base := "http://" + addr
	apptest.Poll(b, time.Minute, "the API to answer /healthz", func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return &apiProcess{Process: p, URL: base + "/api/v1"}
}

// bareYtDlp is the median wall time of runs `yt-dlp --dump-json` on a
// fresh URL of the page.
func bareYtDlp(b *testing.B, url func() string, runs int) time.Duration {
	b.Helper()
	var ds []time.Duration
	for range runs {
		start := time.Now()
		out, err := exec.Command("yt-dlp", "--ignore-config", "--no-plugin-dirs", "--dump-json", "--", url()).Output()
		if err != nil {
			b.Fatalf("yt-dlp: %v\n%s", err, out)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// chatOnce posts one uncached chat completion (no stream) and returns
// its wall time.
func chatOnce(b *testing.B, api *apiProcess, key, url string) time.Duration {
	b.Helper()
	body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + url + `"}]}`
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if res.StatusCode != http.StatusOK {
		b.Fatalf("chat completion: %s: %s", res.Status, msg)
	}
	return d
}

// batchResult is one batch: its wall time (POST → the last job ended),
// each job's created → finished time, and how many did not succeed.
type batchResult struct {
	wall   time.Duration
	perJob []time.Duration
	failed int
}

// runBatch posts urls to /jobs and lists the key's jobs until all of
// them ended.
func runBatch(b *testing.B, api *apiProcess, key string, urls []string) batchResult {
	b.Helper()
	if len(urls) > 100 {
		b.Fatal("runBatch follows at most 100 jobs (one page of GET /jobs)")
	}
	do := func(method, path string, body io.Reader) []byte {
		req, _ := http.NewRequest(method, api.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			b.Fatalf("%s %s: %s: %s", method, path, res.Status, msg)
		}
		return msg
	}
	payload, _ := json.Marshal(map[string]any{"urls": urls})
	start := time.Now()
	var created struct {
		Data []recap.View `json:"data"`
	}
	if err := json.Unmarshal(do(http.MethodPost, "/jobs", strings.NewReader(string(payload))), &created); err != nil || len(created.Data) != len(urls) {
		b.Fatalf("POST /jobs: %d jobs, %v", len(created.Data), err)
	}
	want := map[string]bool{}
	for _, v := range created.Data {
		want[v.ID] = true
	}
	var res batchResult
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var page struct {
			Data []recap.View `json:"data"`
		}
		if err := json.Unmarshal(do(http.MethodGet, "/jobs?limit=100", nil), &page); err != nil {
			b.Fatal(err)
		}
		done, end := 0, time.Time{}
		res.perJob, res.failed = res.perJob[:0], 0
		for _, v := range page.Data {
			if !want[v.ID] || v.FinishedAt == nil {
				continue
			}
			done++
			res.perJob = append(res.perJob, v.FinishedAt.Sub(v.CreatedAt))
			if v.State != "succeeded" {
				res.failed++
			}
			if v.FinishedAt.After(end) {
				end = *v.FinishedAt
			}
		}
		if done == len(urls) {
			// The wall time ends at the last job's end (the poll adds up to
			// its interval).
			res.wall = max(end.Sub(start), time.Millisecond)
			return res
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs ended after 10 minutes", done, len(urls))
		}
		time.Sleep(50 * time.Millisecond) // polling the API, as a client would
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}

// treeCPU is the CPU time of pid, its reaped children and its live
// children (the pool's processes) from /proc.
func treeCPU(pid int) time.Duration {
	ticks := func(p int, withReaped bool) int64 {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return 0
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
		var t int64
		idx := []int{11, 12} // utime, stime (fields 14, 15)
		if withReaped {
			idx = append(idx, 13, 14) // cutime, cstime
		}
		for _, i := range idx {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			t += v
		}
		return t
	}
	total := ticks(pid, true)
	for _, c := range children(pid) {
		total += ticks(c, true)
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// children are the live child processes of pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			out = append(out, c)
		}
	}
	return out
}

// childrenRSS sums the resident memory of pid's children whose command
// line contains match.
func childrenRSS(pid int, match string) int64 {
	var total int64
	for _, c := range children(pid) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if !strings.Contains(string(cmdline), match) {
			continue
		}
		statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", c))
		if err != nil {
			continue
		}
		f := strings.Fields(string(statm))
		if len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			total += pages * int64(os.Getpagesize())
		}
	}
	return total
}
