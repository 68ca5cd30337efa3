package app_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps           float64
	p50, p99      time.Duration
	non2xx, total int
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkRequest = regexp.MustCompile(`(\d+) requests in`)
)

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[p[3]]
		d := time.Duration(v * float64(unit))
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	if m := wrkRequest.FindStringSubmatch(out); m != nil {
		r.total, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

// BenchmarkCachedVsHealthz measures a cached chat completion against
// GET /healthz in the same run, with Debian's wrk in its own process (50
// connections, RECAP_BENCH_WRK_THREADS threads (default 1),
// RECAP_BENCH_WRK_SECONDS each, default 10), and
// prints both and their ratio: what a cached answer costs next to the
// cheapest request the server answers (RECAP_BENCH_CPUPROFILE=file
// profiles the API during the cached run). Run it on an idle machine:
//
//	go test ./app -run '^$' -bench CachedVsHealthz -benchtime 1x
func BenchmarkCachedVsHealthz(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk)")
	}
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("RECAP_BENCH_WRK_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	// The API runs with its own GC target (app.TuneGC, as cmd/api serve
	// does); the benchmark's process is the API.
	prev := debug.SetGCPercent(100)
	debug.SetGCPercent(prev)
	app.TuneGC(os.Getenv)
	defer debug.SetGCPercent(prev)
	e := apptest.Start(b, apptest.Options{Configure: func(c *app.Config) {
		c.LogLevel = "error"
		c.RateLimitRPM = 100_000_000
		// RECAP_BENCH_WRITE_BEHIND_MS=0 writes each cache hit's row before
		// its answer (CACHE_HIT_WRITE_BEHIND_MS).
		if v, err := strconv.Atoi(os.Getenv("RECAP_BENCH_WRITE_BEHIND_MS")); err == nil && v >= 0 {
			c.WriteBehind = time.Duration(v) * time.Millisecond
		}
	}})
	body := `{"model":"bibigpt","messages":[{"role":"user","content":"` + e.Host.PageURL() + `"}]}`
	// The first request makes the summary; every later one is a cache hit.
	req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, e.URL+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("first completion: %s", res.Status)
	}
	script := filepath.Join(b.TempDir(), "chat.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer %s\"\n", body, e.Key)
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		b.Fatal(err)
	}
	// One wrk thread by default: on a 2-core machine, two wrk threads
	// beside the server's two busy threads (and Postgres) oversubscribe
	// the cores, and the scheduling delays wrk itself then suffers show
	// up as its p99 (RECAP_BENCH_WRK_THREADS=2 to see it).
	threads := "1"
	if v, err := strconv.Atoi(os.Getenv("RECAP_BENCH_WRK_THREADS")); err == nil && v > 0 {
		threads = strconv.Itoa(v)
	}
	run := func(args ...string) wrkResult {
		args = append([]string{"-t" + threads, "-c50", "-d" + strconv.Itoa(secs) + "s", "--latency"}, args...)
		out, err := exec.CommandContext(b.Context(), wrk, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk %v: %v\n%s", args, err, out)
		}
		r, err := parseWrk(string(out))
		if err != nil {
			b.Fatal(err)
		}
		if r.non2xx > 0 {
			b.Fatalf("wrk %v: %d of %d answers were not 2xx", args, r.non2xx, r.total)
		}
		return r
	}
	for i := 0; i < b.N; i++ {
		// A short warm-up of each opens the pools a running server has open.
		health := e.Server.URL + "/healthz"
		chat := e.URL + "/chat/completions"
		run("-d2s", health)
		run("-d2s", "-s", script, chat)
		h := run(health)
		// RECAP_BENCH_CPUPROFILE=file profiles this process (the API)
		// during the cached run only.
		if f := os.Getenv("RECAP_BENCH_CPUPROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(out); err != nil {
				b.Fatal(err)
			}
		}
		c := run("-s", script, chat)
		if os.Getenv("RECAP_BENCH_CPUPROFILE") != "" {
			pprof.StopCPUProfile()
		}
		fmt.Printf("\n| endpoint | req/s | p50 | p99 |\n|---|---|---|---|\n")
		fmt.Printf("| GET /healthz | %.0f | %s | %s |\n", h.rps, h.p50, h.p99)
		fmt.Printf("| cached POST /chat/completions | %.0f | %s | %s |\n", c.rps, c.p50, c.p99)
		fmt.Printf("cost of a cached completion: %.2f× a health check (target ≤ 3×, p99 < 10 ms)\n", h.rps/c.rps)
		b.ReportMetric(c.rps, "cached_req/s")
		b.ReportMetric(h.rps, "healthz_req/s")
		b.ReportMetric(h.rps/c.rps, "ratio")
	}
}
