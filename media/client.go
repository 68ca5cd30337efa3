package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config configures a Client. The zero value works when yt-dlp, ffmpeg and
// ffprobe are on PATH.
type Config struct {
	// YtDlpPath, FFmpegPath and FFprobePath locate the binaries; empty means
	// look the default name up on PATH. Nothing is ever downloaded.
	YtDlpPath, FFmpegPath, FFprobePath string
	// TempDir is the parent of the per-call temporary directories; default
	// os.TempDir().
	TempDir string
	// Proxy is passed to yt-dlp as --proxy when non-empty (an external
	// proxy). Leave it empty when Egress is set.
	Proxy string
	// Egress, when set, is the worker's egress proxy: every yt-dlp run goes
	// through it with credentials of its own, so a connection the policy
	// refuses fails the call with ErrURLNotAllowed and the bytes of one run
	// are capped (MaxFileSize plus room for pages) however the origin
	// streams them.
	Egress *Egress
	// SocketTimeout is yt-dlp's --socket-timeout; default 30s.
	SocketTimeout time.Duration
	// MaxFileSize caps a download in bytes (yt-dlp's --max-filesize plus a
	// watch on the bytes written, for streams without Content-Length);
	// default 2 GiB.
	MaxFileSize int64
	// MaxDuration refuses longer media before downloading when the site
	// reports a duration; default 4h.
	MaxDuration time.Duration
	// CookiesDir holds the operator's Netscape cookie files, one per site
	// named by its domain ("youtube.com.txt"); see cookies.go. Empty: none.
	CookiesDir string
	// ExtraArgs are operator flags for every yt-dlp run (YTDLP_EXTRA_ARGS,
	// see ParseExtraArgs); only flags on the allow-list are accepted. With
	// Egress, --proxy becomes the egress proxy's upstream (it must be an
	// HTTP proxy): yt-dlp still talks only to the egress proxy, which
	// checks every target and then reaches it through the operator's.
	ExtraArgs []string
	// Isolation chooses whether subprocesses run in network namespaces
	// of their own (see Isolation); yt-dlp runs are isolated only with
	// Egress, whose listener is then their one way out.
	Isolation Isolation
	// JSRuntime is yt-dlp's JavaScript runtime (JS_RUNTIME): "auto" or
	// empty for the first of deno, node, quickjs, bun on PATH; "none";
	// or "<name>" / "<name>:<path>". It is passed to every run as
	// --js-runtimes <name>:<absolute path> (see jsruntime.go).
	JSRuntime string
	// Logger receives debug lines about subprocesses; default discards.
	Logger *slog.Logger
}

// Client runs yt-dlp, ffmpeg and ffprobe. It is safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
	// jail, when set, starts every subprocess in a network namespace of
	// its own.
	jail *jailer
	// extra are the operator's YTDLP_EXTRA_ARGS.
	extra []extraFlag

	// jsRuntime is the --js-runtimes value of every run ("" for none).
	jsRuntime string

	versionMu sync.Mutex
	version   YtDlpVersion
	jsStatus  *JSRuntimeStatus

	// pool, when set, serves yt-dlp runs in warm processes (pool.go).
	pool *Pool

	mu      sync.Mutex
	procs   map[*exec.Cmd]struct{} // running subprocesses, for Close
	closed  bool
	running sync.WaitGroup
}

const (
	defaultSocketTimeout = 30 * time.Second
	defaultMaxFileSize   = 2 << 30
	defaultMaxDuration   = 4 * time.Hour
	// maxToolOutput caps what is kept of a subprocess's stdout (metadata JSON
	// of some sites is a few MB) so a hostile site cannot exhaust memory.
	maxToolOutput = 64 << 20
	// pageBytes is what a yt-dlp run may fetch through the egress proxy
	// besides the media itself: pages, player scripts, manifests, subtitles.
	pageBytes = 64 << 20
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("media: client closed")

// New checks that the binaries exist and returns a Client.
func New(cfg Config) (*Client, error) {
	bins := []struct {
		path    *string
		name    string
		env     string
		install string
	}{
		{&cfg.YtDlpPath, "yt-dlp", "YTDLP_PATH", "scripts/install-worker-deps.sh, or pipx install yt-dlp"},
		{&cfg.FFmpegPath, "ffmpeg", "FFMPEG_PATH", "apt-get install ffmpeg"},
		{&cfg.FFprobePath, "ffprobe", "FFPROBE_PATH", "apt-get install ffmpeg (ffprobe ships with it)"},
	}
	for _, b := range bins {
		want := *b.path
		if want == "" {
			want = b.name
		}
		p, err := exec.LookPath(want)
		if err != nil {
			return nil, fmt.Errorf("media: %s not found (%q): install it (%s) or set %s: %w", b.name, want, b.install, b.env, err)
		}
		*b.path = p
	}
	if cfg.Egress != nil && cfg.Proxy != "" {
		return nil, errors.New("media: set Proxy or Egress, not both")
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.SocketTimeout <= 0 {
		cfg.SocketTimeout = defaultSocketTimeout
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = defaultMaxFileSize
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = defaultMaxDuration
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: cfg.Logger}
	js, err := resolveJSRuntime(cfg.JSRuntime, exec.LookPath)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	c.jsRuntime = js
	extra, err := parseExtraArgs(cfg.ExtraArgs)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	for _, f := range extra {
		if f.name == "--proxy" && cfg.Egress != nil {
			// Every run's --proxy is the egress proxy, whose checks are the
			// point: the operator's proxy goes behind it instead.
			if err := cfg.Egress.setUpstream(f.value); err != nil {
				return nil, fmt.Errorf("media: YTDLP_EXTRA_ARGS: %w", err)
			}
			continue
		}
		c.extra = append(c.extra, f)
	}
	if cfg.CookiesDir != "" {
		if st, err := os.Stat(cfg.CookiesDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("media: COOKIES_DIR %q is not a readable directory", cfg.CookiesDir)
		}
		sites, err := c.Cookies()
		if err != nil {
			return nil, fmt.Errorf("media: %w", err)
		}
		for _, s := range sites {
			if !s.EarliestExpiry.IsZero() && s.EarliestExpiry.Before(time.Now()) {
				c.log.Warn("media: some operator cookies have expired; export fresh ones", "site", s.Site, "earliest_expiry", s.EarliestExpiry)
			}
		}
	}
	if cfg.Isolation != IsolationOff {
		j, err := newJailer(cfg.FFmpegPath)
		switch {
		case err == nil:
			c.jail = j
		case cfg.Isolation == IsolationRequired:
			return nil, fmt.Errorf("media: DOWNLOAD_NETNS=on: %w (run the worker as root or with CAP_SYS_ADMIN on Linux, or set DOWNLOAD_NETNS=auto)", err)
		default:
			c.log.Warn("media: downloads run without a network namespace; the protocol allow-lists alone keep them behind the egress proxy", "reason", err)
		}
	}
	if c.jail != nil && cfg.Egress == nil && cfg.Isolation == IsolationRequired {
		return nil, errors.New("media: DOWNLOAD_NETNS=on needs the egress proxy: an isolated yt-dlp has no other way out")
	}
	return c, nil
}

// Isolated reports whether subprocesses run in network namespaces of
// their own (yt-dlp's only with an egress proxy), for readiness reports.
func (c *Client) Isolated() bool { return c.jail != nil }

// procResult is what a finished subprocess left behind.
type procResult struct {
	stdout []byte
	stderr string
	err    error
	// denied and overLimit are what the egress proxy refused or cut.
	denied    string
	overLimit bool
}

// limitedBuffer keeps at most max bytes: the first ones, or with tail the
// last ones (error messages are at the end of a long log).
type limitedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	tail bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tail {
		b.buf.Write(p)
		if over := b.buf.Len() - b.max; over > 0 {
			b.buf.Next(over + b.max/2)
		}
		return len(p), nil
	}
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// command builds a subprocess in its own process group so that cancelling
// ctx kills it and everything it spawned (yt-dlp runs ffmpeg, for one). On
// Linux the kernel also kills it if the worker itself dies. It gets a
// minimal environment: no proxy variables that could route around the
// egress proxy, and none of the worker's secrets.
func (c *Client) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		return killGroup(cmd)
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = nil
	cmd.Env = c.childEnv()
	cmd.Dir = c.cfg.TempDir
	return cmd
}

// childEnv is the whole environment of a subprocess.
func (c *Client) childEnv() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.cfg.TempDir, // nothing of the service user's home is read
		"TMPDIR=" + c.cfg.TempDir,
		"LC_ALL=C.UTF-8",
		"LANG=C.UTF-8",
		"PYTHONIOENCODING=utf-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONNOUSERSITE=1",
	}
	if tz := os.Getenv("TZ"); tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}

// startCmd starts a subprocess and registers it for Close, atomically, so
// a process is either refused after Close or killed by it.
// With a jailer the process starts in a network namespace of its own,
// listening there on listen (unless empty); a namespace that cannot be
// made fails the start.
func (c *Client) startCmd(cmd *exec.Cmd, jailed bool, listen string) (net.Listener, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	var ln net.Listener
	if jailed && c.jail != nil {
		var err error
		if ln, err = c.jail.start(cmd, listen, (*exec.Cmd).Start); err != nil {
			return nil, err
		}
	} else if err := cmd.Start(); err != nil {
		return nil, err
	}
	if c.procs == nil {
		c.procs = map[*exec.Cmd]struct{}{}
	}
	c.procs[cmd] = struct{}{}
	c.running.Add(1)
	return ln, nil
}

func (c *Client) done(cmd *exec.Cmd) {
	c.mu.Lock()
	delete(c.procs, cmd)
	c.mu.Unlock()
	c.running.Done()
}

// Close refuses new subprocesses, kills the process group of every running
// one and waits until they are reaped or ctx ends. The worker calls it
// last on shutdown so that no yt-dlp or ffmpeg outlives it.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	for cmd := range c.procs {
		if cmd.Process != nil {
			killGroup(cmd) //nolint:errcheck
		}
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("media: close: subprocesses still running: %w", ctx.Err())
	}
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// run executes bin and collects its output. stdoutLine, when non-nil,
// receives each stdout line as it arrives (and stdout is not kept).
func (c *Client) run(ctx context.Context, bin string, args []string, stdoutLine func(string)) procResult {
	return c.runProc(ctx, proc{bin: bin, args: args, stdoutLine: stdoutLine})
}

// runStderrLines is run with a callback for each stderr line (ffmpeg's
// filters log there); stderr is still kept for error messages.
func (c *Client) runStderrLines(ctx context.Context, bin string, args []string, stderrLine func(string)) procResult {
	return c.runProc(ctx, proc{bin: bin, args: args, stderrLine: stderrLine})
}

// proc describes one subprocess run.
type proc struct {
	bin                    string
	args                   []string
	stdoutLine, stderrLine func(string)
	// noJail runs the process in the worker's own network namespace even
	// when the client isolates subprocesses.
	noJail bool
	// listen, when set, is an address to listen on inside the process's
	// namespace; serve is handed the listener while the process runs.
	listen string
	serve  func(net.Listener)
}

func (c *Client) runProc(ctx context.Context, p proc) procResult {
	bin, args, stdoutLine, stderrLine := p.bin, p.args, p.stdoutLine, p.stderrLine
	cmd := c.command(ctx, bin, args...)
	stdout := &limitedBuffer{max: maxToolOutput}
	stderr := &limitedBuffer{max: 1 << 20, tail: true}
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	attach := func(buf *limitedBuffer, fn func(string)) io.Writer {
		if fn == nil {
			return buf
		}
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			scanLines(pr, func(l string) {
				if buf == stderr {
					buf.Write([]byte(l + "\n"))
				}
				fn(l)
			})
		}()
		return pw
	}
	cmd.Stdout = attach(stdout, stdoutLine)
	cmd.Stderr = attach(stderr, stderrLine)
	start := time.Now()
	ln, err := c.startCmd(cmd, !p.noJail, p.listen)
	if err == nil {
		if ln != nil {
			p.serve(ln)
		}
		err = cmd.Wait()
		if ln != nil {
			ln.Close()
		}
		c.done(cmd)
	}
	for _, pw := range pipes {
		pw.Close()
	}
	wg.Wait()
	c.log.Debug("media: subprocess", "bin", bin, "args", args, "elapsed", time.Since(start), "err", err)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return procResult{stdout: stdout.Bytes(), stderr: stderr.String(), err: err}
}

// scanLines splits on \n and \r (progress bars rewrite a line with \r) and
// drains r to the end so the writer never blocks.
func scanLines(r io.Reader, fn func(string)) {
	buf := make([]byte, 32<<10)
	var line []byte
	for {
		n, err := r.Read(buf)
		for _, ch := range buf[:n] {
			if ch == '\n' || ch == '\r' {
				if len(line) > 0 {
					fn(string(line))
				}
				line = line[:0]
				continue
			}
			if len(line) < 64<<10 {
				line = append(line, ch)
			}
		}
		if err != nil {
			if len(line) > 0 {
				fn(string(line))
			}
			return
		}
	}
}

// ytdlpError turns a failed yt-dlp run into what Recap branches on: a
// refusal of the egress proxy or of a URL scheme, the byte cap, a format
// that cannot be confined, a site's refusal (*UpstreamError, classified by
// code), else a wrapped error carrying yt-dlp's last ERROR line.
func ytdlpError(op string, res procResult) error {
	if errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, res.err)
	}
	if res.denied != "" {
		return fmt.Errorf("%s: %w: the egress proxy refused %s", op, ErrURLNotAllowed, res.denied)
	}
	if res.overLimit {
		return fmt.Errorf("%s: %w: the download went over its byte cap", op, ErrTooLarge)
	}
	if unconfinedDownload(res.stderr) {
		return errUnconfinable(op, "the stream can only be fetched by ffmpeg (encryption yt-dlp's own HLS downloader does not handle, or a live stream)")
	}
	msg := lastErrorLine(res.stderr)
	low := strings.ToLower(msg)
	if refusedSchemeRE.MatchString(low) {
		return fmt.Errorf("%s: %w: the site sent yt-dlp to a URL scheme it never follows (file://, a redirect off http(s)): %s", op, ErrURLNotAllowed, msg)
	}
	if ue := classifyUpstream(msg, res.stderr); ue != nil {
		return fmt.Errorf("%s: %w", op, ue)
	}
	if msg == "" {
		return fmt.Errorf("%s: yt-dlp: %w", op, res.err)
	}
	return fmt.Errorf("%s: yt-dlp: %s: %w", op, msg, res.err)
}

// refusedSchemeRE matches yt-dlp's refusals of a URL that is not http(s):
// a scheme no request handler takes, file:// URLs, and a redirect it
// would not follow (urllib and requests refuse to leave http(s) and
// report the redirect itself as the error; a redirect loop is reported
// the same way but says so).
var refusedSchemeRE = regexp.MustCompile(`unsupported url scheme|no connection adapters were found|file:// urls are disabled|http error 30[12378]: [a-z ]+(?:$|\(caused by)`)

// lastErrorLine is yt-dlp's (or ffmpeg's) last ERROR line, else its last
// line.
func lastErrorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ERROR:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "ERROR:"))
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
