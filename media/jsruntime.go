package media

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	ytdlp "github.com/lrstanley/go-ytdlp"
)

// Since 2025.11 YouTube answers only clients that solve its JavaScript
// challenges, and yt-dlp solves them with an external JavaScript runtime
// (its utils/_jsruntime.py: deno ≥ 2.3, node ≥ 22, bun ≥ 1.2.11 or
// quickjs). Recap names the runtime explicitly on every run, with its
// absolute path, so what yt-dlp uses does not depend on the worker's PATH
// or on yt-dlp's defaults (only deno is enabled by default there), and
// never lets yt-dlp fetch solver scripts from the network
// (--no-remote-components: Debian's yt-dlp vendors them).

// JSRuntimeNames are the runtimes yt-dlp accepts, in its order of
// preference.
var JSRuntimeNames = []string{"deno", "node", "quickjs", "bun"}

// JSRuntimeAuto and JSRuntimeNone are the special values of
// Config.JSRuntime besides "<name>" and "<name>:<path>".
const (
	// JSRuntimeAuto (or "") picks the first of JSRuntimeNames found on
	// PATH, deno first.
	JSRuntimeAuto = "auto"
	// JSRuntimeNone runs yt-dlp without any JavaScript runtime: YouTube
	// then fails for most videos; other sites are unaffected.
	JSRuntimeNone = "none"
)

// resolveJSRuntime turns a JS_RUNTIME setting into yt-dlp's
// "--js-runtimes" value ("deno:/usr/local/bin/deno"), or "" for none.
// lookPath is exec.LookPath outside tests.
func resolveJSRuntime(setting string, lookPath func(string) (string, error)) (string, error) {
	setting = strings.TrimSpace(setting)
	switch setting {
	case JSRuntimeNone:
		return "", nil
	case "", JSRuntimeAuto:
		for _, name := range JSRuntimeNames {
			if p, err := lookPath(name); err == nil {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
				return name + ":" + p, nil
			}
		}
		return "", nil
	}
	name, path, hasPath := strings.Cut(setting, ":")
	if !slices.Contains(JSRuntimeNames, name) {
		return "", fmt.Errorf("JS_RUNTIME %q: the runtime must be one of %s (optionally as name:/path), %q or %q",
			setting, strings.Join(JSRuntimeNames, ", "), JSRuntimeAuto, JSRuntimeNone)
	}
	if hasPath && path == "" {
		return "", fmt.Errorf("JS_RUNTIME %q: empty path after the colon", setting)
	}
	if !hasPath {
		path = name
	}
	p, err := lookPath(path)
	if err != nil {
		return "", fmt.Errorf("JS_RUNTIME %q: %s not found: install it or fix the path: %w", setting, path, err)
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return name + ":" + p, nil
}

// setJSRuntime adds the runtime options to a yt-dlp command: only the
// configured runtime, and no remote components.
func (c *Client) setJSRuntime(cmd *ytdlp.Command) {
	cmd.NoJsRuntimes().NoRemoteComponents()
	if c.jsRuntime != "" {
		cmd.JsRuntimes(c.jsRuntime)
	}
}

// JSRuntimeStatus is what yt-dlp itself says of its JavaScript runtime.
type JSRuntimeStatus struct {
	// Configured is the --js-runtimes value Recap passes ("deno:/path"),
	// empty when none is configured or found.
	Configured string
	// Reported is yt-dlp's own line ("deno-2.9.6", "none",
	// "node-20.20.2 (unsupported)").
	Reported string
	// Usable reports whether yt-dlp accepts a runtime: it named one and
	// did not mark it unsupported.
	Usable bool
}

// Runtime is the runtime's name and version as yt-dlp reports it
// ("deno-2.9.6"), without the "(unsupported)" mark; "none" when there is
// none.
func (s JSRuntimeStatus) Runtime() string {
	r := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s.Reported), "(unsupported)"))
	if r == "" || strings.HasPrefix(r, "none") {
		return "none"
	}
	return r
}

// parseJSRuntimes reads the "[debug] JS runtimes: …" line of yt-dlp -v.
func parseJSRuntimes(stderr string) (reported string, usable bool, ok bool) {
	for _, line := range strings.Split(stderr, "\n") {
		_, rest, found := strings.Cut(line, "[debug] JS runtimes:")
		if !found {
			continue
		}
		reported = strings.TrimSpace(rest)
		if reported == "" || strings.HasPrefix(reported, "none") {
			return reported, false, true
		}
		for _, r := range strings.Split(reported, ",") {
			if !strings.Contains(r, "(unsupported)") {
				return reported, true, true
			}
		}
		return reported, false, true
	}
	return "", false, false
}

// JSRuntime asks yt-dlp (yt-dlp -v, with the runtime options every run
// gets) which JavaScript runtime it will use, once per Client, for the
// worker's start-up log, /readyz and the recap_ytdlp_js_runtime_info
// gauge.
func (c *Client) JSRuntime(ctx context.Context) (JSRuntimeStatus, error) {
	c.versionMu.Lock()
	defer c.versionMu.Unlock()
	if c.jsStatus != nil {
		return *c.jsStatus, nil
	}
	cmd := ytdlp.New().SetExecutable(c.cfg.YtDlpPath).IgnoreConfig().NoPluginDirs().Verbose()
	c.setJSRuntime(cmd)
	args, err := c.ytdlpArgs(ctx, cmd)
	if err != nil {
		return JSRuntimeStatus{}, err
	}
	// Without a URL yt-dlp prints its debug header and exits 2 ("You must
	// provide at least one URL"): the header is all that is wanted.
	res := c.runProc(ctx, proc{bin: c.cfg.YtDlpPath, args: args, noJail: true})
	reported, usable, ok := parseJSRuntimes(res.stderr)
	if !ok {
		if res.err != nil {
			return JSRuntimeStatus{}, fmt.Errorf("yt-dlp -v: %s: %w", lastErrorLine(res.stderr), res.err)
		}
		return JSRuntimeStatus{}, fmt.Errorf("yt-dlp -v printed no JS runtimes line (yt-dlp older than 2025.11?)")
	}
	st := JSRuntimeStatus{Configured: c.jsRuntime, Reported: reported, Usable: usable}
	c.jsStatus = &st
	if !usable {
		c.log.Warn("media: yt-dlp has no usable JavaScript runtime; YouTube fails without one (see docs/operating.md, Keeping yt-dlp working)",
			"configured", c.jsRuntime, "reported", reported)
	}
	return st, nil
}
