package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
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
	// Proxy is passed to yt-dlp as --proxy when non-empty; it is how the
	// worker's egress filter sees every connection yt-dlp makes.
	Proxy string
	// SocketTimeout is yt-dlp's --socket-timeout; default 30s.
	SocketTimeout time.Duration
	// MaxFileSize caps a download in bytes (yt-dlp's --max-filesize plus a
	// watch on the bytes written, for streams without Content-Length);
	// default 2 GiB.
	MaxFileSize int64
	// MaxDuration refuses longer media before downloading when the site
	// reports a duration; default 4h.
	MaxDuration time.Duration
	// Logger receives debug lines about subprocesses; default discards.
	Logger *slog.Logger
}

// Client runs yt-dlp, ffmpeg and ffprobe. It is safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
}

const (
	defaultSocketTimeout = 30 * time.Second
	defaultMaxFileSize   = 2 << 30
	defaultMaxDuration   = 4 * time.Hour
	// maxToolOutput caps what is kept of a subprocess's stdout (metadata JSON
	// of some sites is a few MB) so a hostile site cannot exhaust memory.
	maxToolOutput = 64 << 20
)

// New checks that the binaries exist and returns a Client.
func New(cfg Config) (*Client, error) {
	bins := []struct {
		path    *string
		name    string
		env     string
		install string
	}{
		{&cfg.YtDlpPath, "yt-dlp", "YTDLP_PATH", "apt-get install yt-dlp (bookworm-backports) or pipx install yt-dlp"},
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
	return &Client{cfg: cfg, log: cfg.Logger}, nil
}

// ytdlpBaseArgs are the options every yt-dlp run gets: no user or system
// configuration, no plugins, no playlists, no post-download commands, no
// cache in $HOME.
func (c *Client) ytdlpBaseArgs() []string {
	args := []string{
		"--ignore-config",
		"--no-plugin-dirs", // supported since yt-dlp 2025.01
		"--no-playlist",
		"--no-exec",
		"--no-cache-dir",
		"--no-color",
		"--socket-timeout", strconv.Itoa(max(1, int(c.cfg.SocketTimeout.Seconds()))),
	}
	if c.cfg.Proxy != "" {
		args = append(args, "--proxy", c.cfg.Proxy)
	}
	return args
}

// procResult is what a finished subprocess left behind.
type procResult struct {
	stdout []byte
	stderr string
	err    error
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
// ctx kills it and everything it spawned (yt-dlp runs ffmpeg, for one).
func (c *Client) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return killGroup(cmd)
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = nil
	return cmd
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
	return c.runLines(ctx, bin, args, stdoutLine, nil)
}

// runStderrLines is run with a callback for each stderr line (ffmpeg's
// filters log there); stderr is still kept for error messages.
func (c *Client) runStderrLines(ctx context.Context, bin string, args []string, stderrLine func(string)) procResult {
	return c.runLines(ctx, bin, args, nil, stderrLine)
}

func (c *Client) runLines(ctx context.Context, bin string, args []string, stdoutLine, stderrLine func(string)) procResult {
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
	err := cmd.Run()
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

// ytdlpError turns a failed yt-dlp run into a sentinel when the cause is
// permanent, else a wrapped error carrying yt-dlp's last ERROR line.
func ytdlpError(op string, res procResult) error {
	if errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, res.err)
	}
	msg := lastErrorLine(res.stderr)
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "unsupported url"):
		return fmt.Errorf("%s: %w: %s", op, ErrUnsupported, msg)
	case containsAny(low, unavailableMarkers):
		return fmt.Errorf("%s: %w: %s", op, ErrUnavailable, msg)
	}
	if msg == "" {
		return fmt.Errorf("%s: yt-dlp: %w", op, res.err)
	}
	return fmt.Errorf("%s: yt-dlp: %s: %w", op, msg, res.err)
}

// unavailableMarkers are fragments of yt-dlp error messages that mean the
// video is gone or not viewable, as opposed to a network hiccup.
var unavailableMarkers = []string{
	"http error 404", "http error 410",
	"video unavailable", "private video", "this video is private",
	"has been removed", "has been terminated", "is not available",
	"does not exist", "no longer available", "members-only",
	"sign in to confirm your age", "this live event will begin",
	"premieres in", "copyright claim", "account associated with this video",
	"not available in your country", "geo restrict",
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

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
