package media

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	ytdlp "github.com/lrstanley/go-ytdlp"
)

// yt-dlp is driven through go-ytdlp's typed builder: flags are set with its
// methods and turned into an argument list by BuildCommand, whose
// *exec.Cmd is used for nothing else. Recap starts the process itself
// (command, runProc): its own process group and kill on cancel, the
// network namespace, the scrubbed environment, the egress proxy's per-run
// credentials and byte cap. go-ytdlp's Run would inherit the worker's
// whole environment, and its Install functions, which download yt-dlp,
// ffmpeg and bun, are never called.

// ytdlp returns a builder holding the options every yt-dlp run gets: no
// user or system configuration, no plugins, no playlists, no
// post-download commands, no cache in $HOME; the confinement options (see
// confine.go); and the operator's YTDLP_EXTRA_ARGS.
func (c *Client) ytdlp() *ytdlp.Command {
	cmd := ytdlp.New().
		SetExecutable(c.cfg.YtDlpPath).
		IgnoreConfig().
		NoPluginDirs(). // supported since yt-dlp 2025.01
		NoPlaylist().
		NoExec().
		NoCacheDir().
		Color("never").
		SocketTimeout(max(1, c.cfg.SocketTimeout.Seconds())).
		// Layers 1 and 2 of confine.go.
		Downloader("native").
		DownloaderArgs("ffmpeg_i:-protocol_whitelist " + ffmpegInputWhitelist).
		Fixup(ytdlp.FixupNever)
	c.setJSRuntime(cmd)
	if c.cfg.Proxy != "" {
		cmd.Proxy(c.cfg.Proxy)
	}
	for _, f := range c.extra {
		f.set(cmd, f.value)
	}
	return cmd
}

// runYtDlp runs the command built by cmd with positional arguments after
// its flags (they end with "--" and the URL). With an egress proxy the run
// goes through it with its own credentials and may receive at most
// maxBytes (0 = no cap); what the proxy refused or cut is reported in the
// result for ytdlpError.
//
// pageURL is the video's URL: a run for a site with operator cookies
// (COOKIES_DIR) gets a private copy of them.
func (c *Client) runYtDlp(ctx context.Context, maxBytes int64, pageURL string, cmd *ytdlp.Command, positional []string, stdoutLine func(string)) procResult {
	cleanup, err := c.withCookies(cmd, pageURL)
	if err != nil {
		return procResult{err: err}
	}
	defer cleanup()
	var run *EgressRun
	if c.cfg.Egress != nil {
		var err error
		if run, err = c.cfg.Egress.Begin(maxBytes); err != nil {
			return procResult{err: err}
		}
		defer run.End()
		cmd.Proxy(run.ProxyURL())
	}
	args, err := c.ytdlpArgs(ctx, cmd, positional...)
	if err != nil {
		return procResult{err: err}
	}
	p := proc{bin: c.cfg.YtDlpPath, args: args, stdoutLine: stdoutLine}
	if run != nil {
		// Isolated, the run's one way out is a listener of the egress proxy
		// at the proxy's own address inside its namespace.
		p.listen, p.serve = c.cfg.Egress.Addr(), c.cfg.Egress.serveJailed
	} else {
		p.noJail = true // an external proxy (or none) lies outside any namespace
	}
	res := c.runYtDlpProc(ctx, p) // pool.go: the warm pool, else the yt-dlp program
	if run != nil {
		res.denied, res.overLimit = run.Denied(), run.OverLimit()
	}
	return res
}

// ytdlpArgs validates cmd's flags and returns yt-dlp's argument list
// (without the program name).
func (c *Client) ytdlpArgs(ctx context.Context, cmd *ytdlp.Command, positional ...string) ([]string, error) {
	if err := cmd.GetFlagConfig().Validate(); err != nil {
		return nil, fmt.Errorf("yt-dlp flags: %w", err)
	}
	built := cmd.BuildCommand(ctx, positional...)
	if len(built.Args) == 0 {
		return nil, errors.New("yt-dlp flags: go-ytdlp built no command")
	}
	return built.Args[1:], nil
}

// extraFlag is one operator flag admitted from YTDLP_EXTRA_ARGS.
type extraFlag struct {
	name, value string
	set         func(*ytdlp.Command, string)
}

// extraFlags are the yt-dlp options an operator may add (YTDLP_EXTRA_ARGS),
// each set through go-ytdlp's builder. They tune how sites are reached: a
// JavaScript runtime for YouTube, extractor arguments, browser
// impersonation, headers (a user agent or referer too, as yt-dlp now
// spells them), pacing, retries. Nothing that writes files, runs
// commands, reads configuration, changes the downloader, turns off
// certificate checks or chooses formats is on the list, and requests
// never add flags.
var extraFlags = map[string]func(*ytdlp.Command, string){
	"--js-runtimes":       func(c *ytdlp.Command, v string) { c.JsRuntimes(v) },
	"--remote-components": func(c *ytdlp.Command, v string) { c.RemoteComponents(v) },
	"--extractor-args":    func(c *ytdlp.Command, v string) { c.ExtractorArgs(v) },
	"--impersonate":       func(c *ytdlp.Command, v string) { c.Impersonate(v) },
	"--add-headers":       func(c *ytdlp.Command, v string) { c.AddHeaders(v) },
	"--xff":               func(c *ytdlp.Command, v string) { c.XFF(v) },
	"--retries":           func(c *ytdlp.Command, v string) { c.Retries(v) },
	"--fragment-retries":  func(c *ytdlp.Command, v string) { c.FragmentRetries(v) },
	"--extractor-retries": func(c *ytdlp.Command, v string) { c.ExtractorRetries(v) },
	"--limit-rate":        func(c *ytdlp.Command, v string) { c.LimitRate(v) },
	"--sleep-requests": func(c *ytdlp.Command, v string) {
		f, _ := strconv.ParseFloat(v, 64) // checked by parseExtraArgs
		c.SleepRequests(f)
	},
	"--concurrent-fragments": func(c *ytdlp.Command, v string) {
		n, _ := strconv.Atoi(v) // checked by parseExtraArgs
		c.ConcurrentFragments(n)
	},
	"--proxy": func(c *ytdlp.Command, v string) { c.Proxy(v) },
}

// ExtraFlagNames lists the flags YTDLP_EXTRA_ARGS accepts, sorted.
func ExtraFlagNames() []string {
	names := make([]string, 0, len(extraFlags))
	for n := range extraFlags {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseExtraArgs splits YTDLP_EXTRA_ARGS into arguments the way a shell
// would (spaces separate, single and double quotes group, a backslash
// escapes) and checks each flag against the allow-list (ExtraFlagNames).
// Every flag takes one value, as "--flag value" or "--flag=value".
func ParseExtraArgs(s string) ([]string, error) {
	words, err := shellWords(s)
	if err != nil {
		return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %w", err)
	}
	flags, err := parseExtraArgs(words)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range flags {
		out = append(out, f.name, f.value)
	}
	return out, nil
}

func parseExtraArgs(args []string) ([]extraFlag, error) {
	var out []extraFlag
	for i := 0; i < len(args); i++ {
		name, value, inline := strings.Cut(args[i], "=")
		set, ok := extraFlags[name]
		if !ok {
			return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %q is not an allowed flag (allowed: %s)", args[i], strings.Join(ExtraFlagNames(), " "))
		}
		if !inline {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %s needs a value", name)
			}
			i++
			value = args[i]
		}
		if strings.ContainsAny(value, "\x00\n\r") {
			return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %s: control characters in the value", name)
		}
		switch name {
		case "--sleep-requests":
			if f, err := strconv.ParseFloat(value, 64); err != nil || f < 0 {
				return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %s wants seconds, got %q", name, value)
			}
		case "--concurrent-fragments":
			if n, err := strconv.Atoi(value); err != nil || n < 1 {
				return nil, fmt.Errorf("YTDLP_EXTRA_ARGS: %s wants a positive number, got %q", name, value)
			}
		}
		out = append(out, extraFlag{name: name, value: value, set: set})
	}
	return out, nil
}

// shellWords splits s like a POSIX shell without expansions.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, errors.New("unterminated quote or escape")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// YtDlpVersion is the installed yt-dlp's version and its age.
type YtDlpVersion struct {
	// Version is what yt-dlp --version prints ("2025.04.30").
	Version string
	// Released is the date the version names (yt-dlp versions are release
	// dates); zero when the version is not date-shaped.
	Released time.Time
}

// StaleAfter is the age past which a yt-dlp is reported as out of date:
// sites change faster than that, and old versions stop working for them.
const StaleAfter = 90 * 24 * time.Hour

// Age is how long ago the version was released (0 when unknown).
func (v YtDlpVersion) Age(now time.Time) time.Duration {
	if v.Released.IsZero() {
		return 0
	}
	return now.Sub(v.Released)
}

// Stale reports whether the version is older than StaleAfter.
func (v YtDlpVersion) Stale(now time.Time) bool { return v.Age(now) > StaleAfter }

// YtDlpVersion runs yt-dlp --version once per Client (the answer is kept:
// the binary does not change under a running worker) for /readyz and the
// recap_ytdlp_info gauge.
func (c *Client) YtDlpVersion(ctx context.Context) (YtDlpVersion, error) {
	c.versionMu.Lock()
	defer c.versionMu.Unlock()
	if c.version.Version != "" {
		return c.version, nil
	}
	args, err := c.ytdlpArgs(ctx, ytdlp.New().SetExecutable(c.cfg.YtDlpPath).IgnoreConfig(), "--version")
	if err != nil {
		return YtDlpVersion{}, err
	}
	res := c.runProc(ctx, proc{bin: c.cfg.YtDlpPath, args: args})
	if res.err != nil {
		return YtDlpVersion{}, fmt.Errorf("yt-dlp --version: %s: %w", lastErrorLine(res.stderr), res.err)
	}
	v, err := parseYtDlpVersion(string(res.stdout))
	if err != nil {
		return YtDlpVersion{}, err
	}
	c.version = v
	if v.Stale(time.Now()) {
		c.log.Warn("media: yt-dlp is out of date; sites change and old versions stop working: update it (see docs/operating.md, Keeping yt-dlp working)",
			"version", v.Version, "released", v.Released.Format(time.DateOnly), "age_days", int(v.Age(time.Now()).Hours()/24))
	}
	return v, nil
}

// parseYtDlpVersion reads "2025.04.30" (or "2025.04.30.123456" for a
// nightly build) from yt-dlp --version.
func parseYtDlpVersion(out string) (YtDlpVersion, error) {
	v := strings.TrimSpace(out)
	if i := strings.IndexAny(v, " \n"); i >= 0 {
		v = v[:i]
	}
	if v == "" || len(v) > 64 {
		return YtDlpVersion{}, fmt.Errorf("yt-dlp --version printed %q", out)
	}
	res := YtDlpVersion{Version: v}
	parts := strings.Split(v, ".")
	if len(parts) >= 3 {
		if t, err := time.Parse("2006.01.02", strings.Join(parts[:3], ".")); err == nil {
			res.Released = t
		}
	}
	return res, nil
}
