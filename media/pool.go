package media

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The warm extractor pool.
//
// A yt-dlp run as a process spends most of a second starting Python and
// importing yt_dlp before it reads a page; extracting a page in a process
// that has done so already takes a few hundredths. The pool keeps
// PoolConfig.Size such processes (extractor.py, shipped inside the worker
// and written to its scratch directory) and hands them the very argument
// list the yt-dlp program would get: go-ytdlp builds it as always, with
// the run's own egress-proxy credentials in --proxy, its own cookie copy,
// --ignore-config, --no-plugin-dirs and the confinement options; the
// process parses it with yt-dlp's own parser and runs it with a YoutubeDL
// made for that request alone, then returns yt-dlp's stdout, stderr and
// exit status, which go through ytdlpError as a process's would.
//
// What the processes share between jobs is the imported code: Python's
// modules, yt-dlp's extractor classes and their compiled patterns. What
// a request sets up (the proxy and its credentials, cookies, headers,
// HTTP connections, options) belongs to its YoutubeDL, which is closed
// after it. Each process starts as the yt-dlp program does: the scrubbed
// environment, its own process group killed with the worker, and, with
// an egress proxy and isolation, a network namespace of its own whose one
// way out is the proxy's listener; a request's connections are attributed
// to its run by the credentials it carries.
//
// Supervision follows a database pool: a request waits for an idle
// process; one that runs past RequestTimeout or whose caller gives up is
// killed (and replaced); a process is recycled after MaxRequests requests
// or once its resident memory passes MaxRSS; one that dies is restarted
// with a growing delay while it keeps dying. A process that dies during a
// request costs the request nothing: it is sent once more to another
// process, and a second death is a failure the stage retries. Runs that
// stream their output line by line (downloads with progress) stay with
// the yt-dlp program.

//go:embed extractor.py
var extractorPy []byte

// ExtractorMode chooses how yt-dlp runs: a process per run (the yt-dlp
// program) or requests to the warm pool.
type ExtractorMode int

const (
	// ExtractorPool runs yt-dlp in the warm pool (EXTRACTOR_MODE=pool).
	ExtractorPool ExtractorMode = iota
	// ExtractorCLI starts the yt-dlp program for every run
	// (EXTRACTOR_MODE=cli).
	ExtractorCLI
)

// ParseExtractorMode reads EXTRACTOR_MODE: "pool" (or empty) or "cli".
func ParseExtractorMode(s string) (ExtractorMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "pool", "warm":
		return ExtractorPool, nil
	case "cli", "process":
		return ExtractorCLI, nil
	}
	return ExtractorPool, fmt.Errorf("extractor mode %q: want pool or cli", s)
}

// String is the EXTRACTOR_MODE spelling.
func (m ExtractorMode) String() string {
	if m == ExtractorCLI {
		return "cli"
	}
	return "pool"
}

// PoolConfig configures the warm extractor pool. Zero values take the
// defaults.
type PoolConfig struct {
	// Size is the most processes at once (EXTRACTOR_POOL); default
	// DefaultPoolSize(0). The first starts with the pool, each other one
	// when a request finds no process idle: an idle worker holds one.
	Size int
	// Python is the interpreter; default the one yt-dlp's own script
	// names on its #! line (Debian's /usr/bin/python3, which has the
	// yt_dlp module), else python3 on PATH.
	Python string
	// RequestTimeout bounds one request; the process is then killed and
	// replaced and the run fails as a yt-dlp process killed at that
	// moment would. Default 5 minutes. A caller's own deadline applies too.
	RequestTimeout time.Duration
	// MaxRequests recycles a process after that many requests; default 500.
	MaxRequests int
	// MaxRSS recycles a process whose resident memory passes it, in bytes;
	// default 512 MiB.
	MaxRSS int64
	// StartTimeout bounds a process's start (Python, imports, warm-up);
	// default 60s.
	StartTimeout time.Duration
	// Observe, when set, is told each request's duration and outcome
	// ("ok", "error" for a yt-dlp failure, "crash", "timeout",
	// "canceled"), for metrics.
	Observe func(outcome string, d time.Duration)
}

// DefaultPoolSize is the pool size for a worker running concurrency
// stages at once (0: unknown): min(concurrency, 2×cores), at least 1.
// More processes than cores buys little, as extraction is CPU work in
// Python; fewer than the stages that may call yt-dlp at once makes them
// queue.
func DefaultPoolSize(concurrency int) int {
	n := 2 * runtime.NumCPU()
	if concurrency > 0 {
		n = min(n, concurrency)
	}
	return max(1, n)
}

const (
	defaultRequestTimeout = 5 * time.Minute
	defaultMaxRequests    = 500
	defaultMaxRSS         = 512 << 20
	defaultStartTimeout   = 60 * time.Second
	// maxReply bounds one reply line: stdout (capped by the process at
	// maxToolOutput) and stderr, JSON-escaped.
	maxReply = 4*maxToolOutput + 8<<20
	// backoffMin and backoffMax bound the delay before restarting a
	// process that keeps dying (or failing to start).
	backoffMin = 100 * time.Millisecond
	backoffMax = 30 * time.Second
)

// errPoolCrash is a request's process dying under it (twice, when it is
// returned).
var errPoolCrash = errors.New("extractor process died during the request")

// errPoolTimeout is a request running past PoolConfig.RequestTimeout.
var errPoolTimeout = errors.New("extractor request ran past its deadline")

// errPoolDown is returned when no process is running and starting one
// fails: the caller runs the yt-dlp program instead.
var errPoolDown = errors.New("extractor pool: no process could be started")

// PoolStats is a snapshot of the pool for metrics and /readyz.
type PoolStats struct {
	// Size is the configured number of processes, Live those running and
	// ready or serving, Busy those serving a request.
	Size, Live, Busy int
	// Starts counts processes started, Restarts those started to replace
	// one that died, was killed or was recycled; Crashes those that died
	// unbidden; Requests the requests served.
	Starts, Restarts, Crashes, Requests uint64
	// RSS is the resident memory of the live processes, in bytes, as
	// each last reported it.
	RSS int64
}

// Pool is a supervised set of warm yt-dlp processes; see StartPool.
type Pool struct {
	c      *Client
	cfg    PoolConfig
	python string
	script string
	// idle holds ready processes; a request takes one and gives it back.
	idle    chan *pyproc
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	live, busy                          atomic.Int64
	starts, restarts, crashes, requests atomic.Uint64
	// slots counts the slots in use; failing those whose latest start
	// failed.
	slots, failing atomic.Int64
	// grow wakes a dormant slot: a request found no process idle.
	grow chan struct{}

	mu    sync.Mutex
	procs map[*pyproc]struct{}
}

// pyproc is one running extractor.py.
type pyproc struct {
	cmd     *exec.Cmd
	stdin   *os.File
	replies chan []byte // closed when stdout ends
	exited  chan struct{}
	stderr  *limitedBuffer
	ln      net.Listener
	started time.Time

	requests int
	rss      atomic.Int64
	// killed is set when the pool killed the process itself (timeout,
	// cancel, recycle, close): its death is no crash.
	killed atomic.Bool
	// served is set once it answered a request (its death then resets
	// the restart backoff).
	served atomic.Bool
	nextID int64
}

// StartPool starts the warm extractor pool and makes every yt-dlp run
// that does not stream its output go through it. It starts one process
// and waits for it to be ready, so a missing interpreter or yt_dlp module
// fails here (the caller then keeps the yt-dlp program, ExtractorCLI);
// the others start in the background. The pool stops with Client.Close.
// Call it before the client is used.
func (c *Client) StartPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Size <= 0 {
		cfg.Size = DefaultPoolSize(0)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = defaultMaxRequests
	}
	if cfg.MaxRSS <= 0 {
		cfg.MaxRSS = defaultMaxRSS
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultStartTimeout
	}
	python := cfg.Python
	if python == "" {
		python = scriptInterpreter(c.cfg.YtDlpPath)
	}
	bin, err := exec.LookPath(python)
	if err != nil {
		return nil, fmt.Errorf("extractor pool: python %q: %w", python, err)
	}
	// The program is written once per pool into the client's scratch
	// directory (removed with it), read-only; the interpreter runs isolated
	// (-I: no PYTHON* variables, no user site, not the script's directory
	// on sys.path).
	script, err := writeScript(c.cfg.TempDir)
	if err != nil {
		return nil, fmt.Errorf("extractor pool: %w", err)
	}
	p := &Pool{c: c, cfg: cfg, python: bin, script: script, idle: make(chan *pyproc, cfg.Size),
		closing: make(chan struct{}), grow: make(chan struct{}), procs: map[*pyproc]struct{}{}}
	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	first, err := p.start(sctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("extractor pool: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		p.kill(first)
		return nil, ErrClosed
	}
	c.pool = p
	c.mu.Unlock()
	p.slots.Add(1)
	p.wg.Add(cfg.Size)
	go p.supervise(first)
	for range cfg.Size - 1 {
		go p.dormant()
	}
	return p, nil
}

// writeScript writes extractor.py into dir under a name of its own.
func writeScript(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "recap-extractor-*.py")
	if err != nil {
		return "", err
	}
	_, err = f.Write(extractorPy)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o400)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// scriptInterpreter returns the interpreter of a Python script's #! line
// ("/usr/bin/python3" for Debian's yt-dlp), else "python3".
func scriptInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "python3"
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return "python3"
	}
	fields := strings.Fields(rest)
	if len(fields) > 1 && filepath.Base(fields[0]) == "env" {
		fields = fields[1:]
	}
	if len(fields) == 0 || !strings.Contains(filepath.Base(fields[0]), "python") {
		return "python3"
	}
	return fields[0]
}

// Python is the interpreter the pool runs.
func (p *Pool) Python() string { return p.python }

// Stats is a snapshot of the pool.
func (p *Pool) Stats() PoolStats {
	s := PoolStats{Size: p.cfg.Size, Live: int(p.live.Load()), Busy: int(p.busy.Load()),
		Starts: p.starts.Load(), Restarts: p.restarts.Load(), Crashes: p.crashes.Load(), Requests: p.requests.Load()}
	p.mu.Lock()
	for w := range p.procs {
		s.RSS += w.rss.Load()
	}
	p.mu.Unlock()
	return s
}

// PIDs are the process ids of the live processes (tests kill them).
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for w := range p.procs {
		out = append(out, w.cmd.Process.Pid)
	}
	return out
}

// Close stops the pool: no new requests, every process killed. Client.Close
// does the same for every subprocess; Close also waits for the
// supervisors.
func (p *Pool) Close() {
	p.shut()
	p.wg.Wait()
	os.Remove(p.script)
}

// shut refuses new requests and kills every process.
func (p *Pool) shut() {
	p.once.Do(func() { close(p.closing) })
	p.mu.Lock()
	for w := range p.procs {
		w.killed.Store(true)
		killGroup(w.cmd) //nolint:errcheck
	}
	p.mu.Unlock()
}

func (p *Pool) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// dormant is a slot not yet in use: it starts its first process when a
// request finds none idle. Idle workers so hold one process, busy ones up
// to Size.
func (p *Pool) dormant() {
	select {
	case <-p.grow:
		p.slots.Add(1)
		p.supervise(nil) // calls wg.Done
	case <-p.closing:
		p.wg.Done()
	}
}

// supervise keeps one slot of the pool filled: it starts a process (or
// takes first), offers it as idle and, once it has exited, starts the
// next one, after a growing delay while processes keep dying young or
// failing to start.
func (p *Pool) supervise(first *pyproc) {
	defer p.wg.Done()
	backoff := time.Duration(0)
	failed := false
	for n := 0; ; n++ {
		w := first
		first = nil
		if w == nil {
			if backoff > 0 {
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-p.closing:
					t.Stop()
					return
				}
			}
			if p.isClosing() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
			var err error
			w, err = p.start(ctx)
			cancel()
			if err != nil {
				if errors.Is(err, ErrClosed) || p.isClosing() {
					p.shut()
					return
				}
				if !failed {
					failed = true
					p.failing.Add(1)
				}
				p.c.log.Warn("media: extractor process failed to start", "err", err, "retry_in", nextBackoff(backoff))
				backoff = nextBackoff(backoff)
				continue
			}
			if n > 0 {
				p.restarts.Add(1)
			}
		}
		if failed {
			failed = false
			p.failing.Add(-1)
		}
		p.live.Add(1)
		p.idle <- w // room for every slot's process (see dropIdle): never blocks
		<-w.exited
		p.live.Add(-1)
		p.dropIdle(w)
		if p.isClosing() || p.c.isClosed() {
			p.shut()
			return
		}
		switch {
		case w.killed.Load():
			backoff = 0 // retired on purpose: replace at once
		case w.served.Load() || time.Since(w.started) > backoffMax:
			p.crashes.Add(1)
			backoff = 0
			p.c.log.Warn("media: extractor process died; restarting", "pid", w.cmd.Process.Pid, "stderr", lastLines(w.stderr.String(), 5))
		default:
			p.crashes.Add(1)
			backoff = nextBackoff(backoff)
			p.c.log.Warn("media: extractor process died young; restarting after a delay", "pid", w.cmd.Process.Pid,
				"retry_in", backoff, "stderr", lastLines(w.stderr.String(), 5))
		}
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d <= 0 {
		return backoffMin
	}
	return min(2*d, backoffMax)
}

// start runs one extractor.py and waits for its ready line.
func (p *Pool) start(ctx context.Context) (*pyproc, error) {
	c := p.c
	cmd := c.command(context.Background(), p.python, "-I", "-B", p.script)
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	w := &pyproc{cmd: cmd, stdin: inW, replies: make(chan []byte, 1), exited: make(chan struct{}),
		stderr: &limitedBuffer{max: 64 << 10, tail: true}, started: time.Now()}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, w.stderr
	// As runYtDlp: isolated only behind the egress proxy, whose listener
	// inside the namespace is the one way out.
	jailed := c.cfg.Egress != nil
	listen := ""
	if jailed {
		listen = c.cfg.Egress.Addr()
	}
	w.ln, err = c.startCmd(cmd, jailed, listen)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	p.starts.Add(1)
	if w.ln != nil {
		c.cfg.Egress.serveJailed(w.ln)
	}
	go func() {
		defer close(w.replies)
		defer outR.Close()
		r := bufio.NewReaderSize(outR, 64<<10)
		for {
			line, err := readLine(r, maxReply)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
					c.log.Warn("media: extractor process output", "err", err)
					w.killed.Store(true)
					killGroup(cmd) //nolint:errcheck
				}
				return
			}
			w.replies <- line
		}
	}()
	p.mu.Lock()
	p.procs[w] = struct{}{}
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		if w.ln != nil {
			w.ln.Close()
		}
		inW.Close()
		p.mu.Lock()
		delete(p.procs, w)
		p.mu.Unlock()
		c.done(cmd)
		close(w.exited)
	}()
	select {
	case line, ok := <-w.replies:
		var ready struct {
			Ready   bool   `json:"ready"`
			Version string `json:"version"`
		}
		if ok && json.Unmarshal(line, &ready) == nil && ready.Ready {
			c.log.Debug("media: extractor process ready", "pid", cmd.Process.Pid, "yt_dlp", ready.Version, "elapsed", time.Since(w.started))
			return w, nil
		}
		p.kill(w)
		<-w.exited
		return nil, fmt.Errorf("%s %s did not start: %s", p.python, filepath.Base(p.script), lastLines(w.stderr.String(), 5))
	case <-ctx.Done():
		p.kill(w)
		<-w.exited
		return nil, fmt.Errorf("%s %s not ready: %w: %s", p.python, filepath.Base(p.script), ctx.Err(), lastLines(w.stderr.String(), 5))
	}
}

// readLine reads one \n-terminated line of at most limit bytes.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, fmt.Errorf("a reply longer than %d bytes", limit)
		}
		line = append(line, frag...)
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > 0 && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("a reply cut short: %w", err)
			}
			return nil, err
		}
	}
}

func (p *Pool) kill(w *pyproc) {
	w.killed.Store(true)
	killGroup(w.cmd) //nolint:errcheck
}

// acquire takes an idle live process, waiting for one. With no process
// alive and every slot failing to start one, it gives up at once
// (errPoolDown).
func (p *Pool) acquire(ctx context.Context) (*pyproc, error) {
	for {
		if p.live.Load() == 0 && p.failing.Load() >= p.slots.Load() {
			return nil, errPoolDown
		}
		var w *pyproc
		select {
		case w = <-p.idle:
		default:
			select {
			case p.grow <- struct{}{}: // a dormant slot starts a process
			default:
			}
			select {
			case w = <-p.idle:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.closing:
				return nil, ErrClosed
			case <-time.After(time.Second): // look at failing again, grow again
				continue
			}
		}
		select {
		case <-w.exited: // died while idle; its supervisor replaces it
			continue
		default:
			return w, nil
		}
	}
}

// dropIdle takes the dead w out of the idle processes, if it is there, so
// that its replacement finds room: the channel then holds at most one
// process per slot.
func (p *Pool) dropIdle(w *pyproc) {
	for range len(p.idle) {
		select {
		case e := <-p.idle:
			if e != w {
				p.idle <- e // one was just taken out: there is room
			}
		default:
			return
		}
	}
}

// release gives w back, or retires it when it is due for recycling.
func (p *Pool) release(w *pyproc) {
	if w.requests >= p.cfg.MaxRequests || w.rss.Load() >= p.cfg.MaxRSS || p.isClosing() {
		p.kill(w) // its supervisor starts the next one
		return
	}
	p.idle <- w
}

// poolReply is extractor.py's answer to one request.
type poolReply struct {
	ID     int64  `json:"id"`
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	RSS    int64  `json:"rss"`
}

// errExitCode is a request's non-zero exit status, shaped as the yt-dlp
// program's "exit status N".
type errExitCode int

func (e errExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run serves one yt-dlp run: args is yt-dlp's argument list. A process
// dying under the request gets it sent once more to another.
func (p *Pool) run(ctx context.Context, args []string) procResult {
	for attempt := 0; ; attempt++ {
		w, err := p.acquire(ctx)
		if err != nil {
			return procResult{err: err}
		}
		start := time.Now()
		res, outcome := p.do(ctx, w, args)
		if p.cfg.Observe != nil {
			p.cfg.Observe(outcome, time.Since(start))
		}
		if outcome != "crash" || attempt == 1 || ctx.Err() != nil {
			return res
		}
		p.c.log.Warn("media: extractor process died during a request; sending it to another", "pid", w.cmd.Process.Pid)
	}
}

// do sends one request to w and waits for its reply.
func (p *Pool) do(ctx context.Context, w *pyproc, args []string) (procResult, string) {
	p.busy.Add(1)
	defer p.busy.Add(-1)
	w.nextID++
	w.requests++
	p.requests.Add(1)
	req, err := json.Marshal(struct {
		ID        int64    `json:"id"`
		Argv      []string `json:"argv"`
		MaxStdout int      `json:"max_stdout"`
	}{w.nextID, args, maxToolOutput})
	if err != nil {
		p.release(w)
		return procResult{err: err}, "error"
	}
	start := time.Now()
	if _, err := w.stdin.Write(append(req, '\n')); err != nil {
		killGroup(w.cmd) //nolint:errcheck
		return procResult{err: fmt.Errorf("%w: %v", errPoolCrash, err)}, "crash"
	}
	timer := time.NewTimer(p.cfg.RequestTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-w.replies:
		if !ok {
			killGroup(w.cmd) //nolint:errcheck // its output ended: dead or dying
			p.c.log.Debug("media: extractor process output ended", "pid", w.cmd.Process.Pid, "stderr", lastLines(w.stderr.String(), 5))
			return procResult{err: errPoolCrash, stderr: w.stderr.String()}, "crash"
		}
		var r poolReply
		if err := json.Unmarshal(line, &r); err != nil || r.ID != w.nextID {
			killGroup(w.cmd) //nolint:errcheck
			return procResult{err: fmt.Errorf("%w: unreadable reply (%v)", errPoolCrash, err)}, "crash"
		}
		w.served.Store(true)
		w.rss.Store(r.RSS)
		p.release(w)
		res := procResult{stdout: []byte(r.Stdout), stderr: r.Stderr}
		outcome := "ok"
		if r.Code != 0 {
			res.err, outcome = errExitCode(r.Code), "error"
		}
		p.c.log.Debug("media: extractor request", "pid", w.cmd.Process.Pid, "args", args, "elapsed", time.Since(start), "code", r.Code)
		return res, outcome
	case <-ctx.Done():
		// Python cannot be interrupted mid-extraction: the process goes,
		// as a yt-dlp process would.
		p.kill(w)
		return procResult{err: ctx.Err()}, "canceled"
	case <-timer.C:
		p.kill(w)
		return procResult{err: fmt.Errorf("%w (%s)", errPoolTimeout, p.cfg.RequestTimeout)}, "timeout"
	}
}

// isClosed reports whether Close was called.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// runYtDlpProc runs a yt-dlp run described by pr: in the pool when there
// is one and the run does not stream its output, else as the yt-dlp
// program. A pool that cannot start any process sends runs to the
// program too.
func (c *Client) runYtDlpProc(ctx context.Context, pr proc) procResult {
	if c.pool != nil && pr.stdoutLine == nil && pr.stderrLine == nil {
		res := c.pool.run(ctx, pr.args)
		if !errors.Is(res.err, errPoolDown) {
			return res
		}
		c.log.Warn("media: extractor pool down; running the yt-dlp program", "err", res.err)
	}
	return c.runProc(ctx, pr)
}

// lastLines is the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, " | ")
}
