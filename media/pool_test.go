package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/recap/recap/media/mediatest"
)

// poolSetup is a client with an egress proxy (admitting loopback) and a
// warm pool of one process unless pc says otherwise, plus a test host.
func poolSetup(t *testing.T, cfg Config, pc PoolConfig) (*Client, *Pool, *mediatest.Host) {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if cfg.Egress == nil && cfg.Proxy == "" {
		e, err := StartEgress(EgressConfig{Policy: NetPolicy{AllowPrivate: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		cfg.Egress = e
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Size == 0 {
		pc.Size = 1
	}
	p, err := c.StartPool(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Error(err)
		}
		p.Close()
	})
	return c, p, mediatest.NewHost(t)
}

// runArgs sends a request of args, run through the egress proxy with
// credentials of their own, straight to the pool.
func runArgs(t *testing.T, c *Client, p *Pool, args ...string) procResult {
	t.Helper()
	run, err := c.cfg.Egress.Begin(pageBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer run.End()
	return p.run(context.Background(), append([]string{"--ignore-config", "--no-plugin-dirs", "--proxy", run.ProxyURL()}, args...))
}

// waitFor polls cond (the pool's supervisors work on their own
// goroutines) for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A resolve through the pool yields what the yt-dlp program yields, for a
// video and for a failure (same error, same classification).
func TestPoolSameAsProgram(t *testing.T) {
	t.Parallel()
	warm, _, host := poolSetup(t, Config{}, PoolConfig{})
	e, err := StartEgress(EgressConfig{Policy: NetPolicy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := New(Config{TempDir: t.TempDir(), Egress: e})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close(context.Background())
	ctx := context.Background()
	var infos [2]*Info
	for i, c := range []*Client{cli, warm} {
		if infos[i], err = c.Resolve(ctx, host.PageURL()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := *infos[1], *infos[0]; got.ID != want.ID || got.Title != want.Title || got.WebpageURL != want.WebpageURL ||
		!slices.Equal(got.Subtitles, want.Subtitles) || got.ExtractorKey != want.ExtractorKey {
		t.Errorf("pool: %+v\nprogram: %+v", got, want)
	}
	var keys [2][]string
	for i, info := range infos {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(info.raw, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			keys[i] = append(keys[i], k)
		}
		slices.Sort(keys[i])
	}
	if !slices.Equal(keys[0], keys[1]) {
		t.Errorf("metadata fields differ:\nprogram %v\npool    %v", keys[0], keys[1])
	}
	// A missing page, and an HTTPS page whose certificate no CA signed:
	// certificates are checked in the pool as by the program.
	untrusted := httptest.NewTLSServer(mediatest.PageHandler("untrusted", "talk.webm", ""))
	defer untrusted.Close()
	for _, u := range []string{host.URL("/missing.html"), untrusted.URL + "/page.html"} {
		var errs [2]error
		for i, c := range []*Client{cli, warm} {
			_, errs[i] = c.Resolve(ctx, u)
		}
		if errs[0] == nil || errs[1] == nil || errs[0].Error() != errs[1].Error() {
			t.Errorf("%s: errors differ:\nprogram %v\npool    %v", u, errs[0], errs[1])
		}
		for _, target := range []error{ErrUnavailable, ErrUnsupported, ErrURLNotAllowed} {
			if errors.Is(errs[0], target) != errors.Is(errs[1], target) {
				t.Errorf("%s: errors.Is(%v) differs: program %v, pool %v", u, target, errs[0], errs[1])
			}
		}
		t.Logf("%s: %v", u, errs[1])
	}
}

// The request is yt-dlp's own command line, parsed by parse_options:
// --print and output templates work, a wrong option is yt-dlp's usage
// error (exit 2), and options acting on the installation are refused.
func TestPoolParseOptions(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	res := runArgs(t, c, p, "--skip-download", "--print", "%(title)s|%(ext)s", "--", host.PageURL())
	if res.err != nil || !strings.HasPrefix(string(res.stdout), mediatest.Title) || !strings.HasSuffix(string(res.stdout), "|webm\n") {
		t.Errorf("--print: %v %q %s", res.err, res.stdout, res.stderr)
	}
	res = runArgs(t, c, p, "--version")
	if res.err != nil || !strings.HasPrefix(string(res.stdout), "20") {
		t.Errorf("--version: %v %q %s", res.err, res.stdout, res.stderr)
	}
	for _, args := range [][]string{
		{"--no-such-option", "--", host.PageURL()},
		{"--plugin-dirs", t.TempDir(), "--", host.PageURL()},
		{"--update"},
		{"--list-extractors"},
		{"--skip-download"}, // no URL
	} {
		res := runArgs(t, c, p, args...)
		var code errExitCode
		if !errors.As(res.err, &code) || code != 2 {
			t.Errorf("%v: %v (stderr %q), want exit status 2", args, res.err, res.stderr)
		}
		if len(res.stdout) != 0 {
			t.Errorf("%v printed %q", args, res.stdout)
		}
	}
	if res := runArgs(t, c, p, "--no-such-option"); !strings.Contains(res.stderr, "yt-dlp: error: no such option: --no-such-option") {
		t.Errorf("usage error %q, want yt-dlp's", res.stderr)
	}
}

// Every request gets a YoutubeDL of its own: a cookie the site set in
// one request, a header another added, and the proxy credentials of an
// ended run are not seen by the next request in the same process.
func TestPoolFreshYoutubeDLPerRequest(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	page := mediatest.PageHandler("cookie", "talk.webm", "")
	host.Serve("/set-cookie.html", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "from-request-1", Path: "/"})
		page.ServeHTTP(w, r)
	}))
	var mu sync.Mutex
	var seen []string
	host.Serve("/check.html", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("cookie=%q x-leak=%q", r.Header.Get("Cookie"), r.Header.Get("X-Leak")))
		mu.Unlock()
		page.ServeHTTP(w, r)
	}))
	pid := p.PIDs()[0]
	cookies := filepath.Join(t.TempDir(), "cookies.txt")
	res := runArgs(t, c, p, "--dump-json", "--skip-download", "--add-headers", "X-Leak:yes", "--cookies", cookies, "--", host.URL("/set-cookie.html"))
	if res.err != nil {
		t.Fatalf("request 1: %v %s", res.err, res.stderr)
	}
	if b, err := os.ReadFile(cookies); err != nil || !strings.Contains(string(b), "from-request-1") {
		t.Fatalf("request 1's cookie file (saved when its YoutubeDL closed): %v %q", err, b)
	}
	// Request 1's credentials: valid while its run lasts, which the next
	// request must not borrow.
	stale, err := c.cfg.Egress.Begin(0)
	if err != nil {
		t.Fatal(err)
	}
	res = p.run(context.Background(), []string{"--ignore-config", "--no-plugin-dirs", "--proxy", stale.ProxyURL(), "--dump-json", "--skip-download", "--", host.URL("/check.html")})
	stale.End()
	if res.err != nil {
		t.Fatalf("request 2: %v %s", res.err, res.stderr)
	}
	staleBytes := stale.Bytes()
	res = runArgs(t, c, p, "--dump-json", "--skip-download", "--", host.URL("/check.html"))
	if res.err != nil {
		t.Fatalf("request 3: %v %s", res.err, res.stderr)
	}
	if stale.Bytes() != staleBytes {
		t.Error("request 3 went through request 2's ended proxy run")
	}
	// A request naming an ended run's credentials is refused by the proxy.
	res = p.run(context.Background(), []string{"--ignore-config", "--no-plugin-dirs", "--proxy", stale.ProxyURL(), "--dump-json", "--skip-download", "--", host.URL("/check.html")})
	if res.err == nil || !strings.Contains(res.stderr, "407") {
		t.Errorf("a request with ended credentials: %v %q, want the proxy's 407", res.err, res.stderr)
	}
	if got := p.PIDs(); len(got) != 1 || got[0] != pid {
		t.Fatalf("pids %v, want the one process %d throughout", got, pid)
	}
	mu.Lock()
	defer mu.Unlock()
	want := `cookie="" x-leak=""`
	if len(seen) != 2 || seen[0] != want || seen[1] != want {
		t.Errorf("later requests saw %q, want %s each time", seen, want)
	}
}

// blockingPage serves a page that holds the request open until the
// client goes away, telling hit about each request first.
func blockingPage(hit chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	})
}

// A request running past RequestTimeout fails as a killed yt-dlp would
// (not a permanent error), its process is replaced, and the pool serves
// the next request.
func TestPoolDeadline(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{RequestTimeout: 3 * time.Second})
	hit := make(chan struct{}, 1)
	host.Serve("/hang.html", blockingPage(hit))
	pid := p.PIDs()[0]
	_, err := c.Resolve(context.Background(), host.URL("/hang.html"))
	if !errors.Is(err, errPoolTimeout) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnsupported) {
		t.Fatalf("Resolve = %v, want the pool's deadline", err)
	}
	// The next request (one that needs no network, as the deadline is
	// short) is served by the replacement.
	if res := runArgs(t, c, p, "--version"); res.err != nil {
		t.Fatal(res.err)
	}
	if got := p.PIDs(); len(got) != 1 || got[0] == pid {
		t.Errorf("pids %v: process %d was not replaced", got, pid)
	}
	if s := p.Stats(); s.Restarts != 1 || s.Crashes != 0 {
		t.Errorf("stats %+v, want one restart, no crash", s)
	}
}

// A caller that gives up gets its context's error at once; the process,
// which cannot be interrupted mid-extraction, is replaced.
func TestPoolCancel(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	hit := make(chan struct{}, 1)
	host.Serve("/hang.html", blockingPage(hit))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-hit
		cancel()
	}()
	if _, err := c.Resolve(ctx, host.URL("/hang.html")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve = %v, want context.Canceled", err)
	}
	if _, err := c.Resolve(context.Background(), host.PageURL()); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Restarts != 1 {
		t.Errorf("stats %+v, want one restart", s)
	}
}

// kill9 SIGKILLs the pool's one process when the page is requested the
// first times times, then serves the page.
func kill9(t *testing.T, p *Pool, times int) http.Handler {
	var n atomic.Int64
	page := mediatest.PageHandler("killed", "talk.webm", "")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= int64(times) {
			for _, pid := range p.PIDs() {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Errorf("kill %d: %v", pid, err)
				}
			}
			<-r.Context().Done()
			return
		}
		page.ServeHTTP(w, r)
	})
}

// kill -9 of the process serving a request costs the request nothing: it
// is sent to another process (here, the one that replaced it).
func TestPoolKilledMidRequest(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	host.Serve("/killed.html", kill9(t, p, 1))
	info, err := c.Resolve(context.Background(), host.URL("/killed.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Title, "killed") {
		t.Errorf("title %q", info.Title)
	}
	if s := p.Stats(); s.Crashes != 1 || s.Restarts != 1 {
		t.Errorf("stats %+v, want one crash and one restart", s)
	}
	waitFor(t, "the replacement to be idle", func() bool { s := p.Stats(); return s.Live == 1 && s.Busy == 0 })
}

// A request whose process dies twice fails with an error worth a retry
// (the stage's), not a permanent one, and leaves a working pool.
func TestPoolKilledTwice(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	host.Serve("/killed.html", kill9(t, p, 2))
	_, err := c.Resolve(context.Background(), host.URL("/killed.html"))
	if !errors.Is(err, errPoolCrash) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnsupported) {
		t.Fatalf("Resolve = %v, want the crash", err)
	}
	if _, err := c.Resolve(context.Background(), host.URL("/killed.html")); err != nil {
		t.Fatalf("the stage's retry: %v", err)
	}
	if s := p.Stats(); s.Crashes != 2 {
		t.Errorf("stats %+v, want two crashes", s)
	}
}

// A process is recycled after MaxRequests requests; the pool's processes
// serve concurrent requests.
func TestPoolRecycleAndConcurrency(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{Size: 2, MaxRequests: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			_, err := c.Resolve(context.Background(), fmt.Sprintf("%s?n=%d", host.PageURL(), i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if s := p.Stats(); s.Requests != 6 || s.Crashes != 0 {
		t.Errorf("stats %+v, want 6 requests, no crash", s)
	}
	// Six requests at two per process: three processes retired, each
	// replaced as it goes.
	waitFor(t, "the retired processes replaced", func() bool { s := p.Stats(); return s.Restarts >= 3 && s.Live == 2 })
	if _, err := c.Resolve(context.Background(), host.PageURL()); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.RSS <= 0 {
		t.Errorf("stats %+v: no memory reported", s)
	}
}

// A process starts as the yt-dlp program does: the scrubbed environment
// (none of the worker's variables) and, behind the egress proxy where
// namespaces can be made, a network namespace of its own, where the
// proxy's listener is the one address that answers.
func TestPoolProcessConfinement(t *testing.T) {
	t.Parallel()
	c, p, host := poolSetup(t, Config{}, PoolConfig{})
	pid := p.PIDs()[0]
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	got := strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	slices.Sort(got)
	want := c.childEnv()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("environment %q, want %q", got, want)
	}
	if c.jail == nil {
		t.Skip("no network namespaces here")
	}
	mine, _ := os.Readlink("/proc/self/ns/net")
	theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if mine == "" || mine == theirs {
		t.Errorf("the process shares the worker's network namespace (%s)", mine)
	}
	// Without --proxy a request reaches nothing: the host's 127.0.0.1 is
	// not inside the namespace.
	res := p.run(context.Background(), []string{"--ignore-config", "--no-plugin-dirs", "--dump-json", "--", host.PageURL()})
	if res.err == nil || host.Conns() != 0 {
		t.Errorf("a request without the proxy: %v, %d connections to the host", res.err, host.Conns())
	}
}

// A pool that cannot start (no interpreter, no yt_dlp module) fails
// StartPool, so the worker keeps the yt-dlp program.
func TestPoolStartFails(t *testing.T) {
	t.Parallel()
	noModule := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(noModule, []byte("#!/bin/sh\necho 'ModuleNotFoundError: No module named yt_dlp' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, python := range []string{"/nonexistent/python3", noModule} {
		c, err := New(Config{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.StartPool(context.Background(), PoolConfig{Python: python, Size: 1})
		if err == nil {
			t.Errorf("StartPool(%s) succeeded", python)
		}
		if python == noModule && !strings.Contains(fmt.Sprint(err), "No module named yt_dlp") {
			t.Errorf("StartPool(%s) = %v, want the interpreter's complaint", python, err)
		}
		if c.pool != nil {
			t.Errorf("a pool that did not start serves the client")
		}
		c.Close(context.Background())
	}
}

func TestPoolScriptInterpreter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for body, want := range map[string]string{
		"#! /usr/bin/python3\nimport sys\n":        "/usr/bin/python3",
		"#!/usr/bin/env python3.11\n":              "python3.11",
		"#!/bin/sh\nexec python3 -m yt_dlp \"$@\"": "python3",
		"\x7fELF...": "python3",
	} {
		f := filepath.Join(dir, "yt-dlp")
		if err := os.WriteFile(f, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := scriptInterpreter(f); got != want {
			t.Errorf("%q: %q, want %q", body, got, want)
		}
	}
}

func TestParseExtractorMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ExtractorMode{"": ExtractorPool, "pool": ExtractorPool, "CLI": ExtractorCLI} {
		if got, err := ParseExtractorMode(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseExtractorMode("fast"); err == nil {
		t.Error("fast accepted")
	}
}
