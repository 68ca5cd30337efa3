package media

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// JS_RUNTIME becomes one explicit --js-runtimes name:/absolute/path, or
// none; unknown runtimes and missing binaries are refused at start-up.
func TestResolveJSRuntime(t *testing.T) {
	t.Parallel()
	onPath := map[string]string{"deno": "/opt/deno/bin/deno", "node": "/usr/bin/node", "/srv/bun": "/srv/bun"}
	look := func(name string) (string, error) {
		if p, ok := onPath[name]; ok {
			return p, nil
		}
		return "", exec.ErrNotFound
	}
	noDeno := func(name string) (string, error) {
		if name == "deno" {
			return "", exec.ErrNotFound
		}
		return look(name)
	}
	for _, tt := range []struct {
		setting string
		look    func(string) (string, error)
		want    string
		err     string
	}{
		{"", look, "deno:/opt/deno/bin/deno", ""},
		{"auto", look, "deno:/opt/deno/bin/deno", ""},
		{"auto", noDeno, "node:/usr/bin/node", ""},
		{"auto", func(string) (string, error) { return "", exec.ErrNotFound }, "", ""},
		{"none", look, "", ""},
		{"node", look, "node:/usr/bin/node", ""},
		{" deno ", look, "deno:/opt/deno/bin/deno", ""},
		{"bun:/srv/bun", look, "bun:/srv/bun", ""},
		{"bun", look, "", "not found"},
		{"deno:", look, "", "empty path"},
		{"python", look, "", "must be one of deno, node, quickjs, bun"},
		{"deno;rm -rf /", look, "", "must be one of"},
	} {
		got, err := resolveJSRuntime(tt.setting, tt.look)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("resolveJSRuntime(%q) = %q, %v; want an error with %q", tt.setting, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolveJSRuntime(%q) = %q, %v; want %q", tt.setting, got, err, tt.want)
		}
	}
}

// yt-dlp -v's header says which runtime it uses and whether it accepts it.
func TestParseJSRuntimes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		stderr   string
		reported string
		usable   bool
		ok       bool
	}{
		{"[debug] yt-dlp version stable@2026.11.23\n[debug] JS runtimes: deno-2.9.6\n", "deno-2.9.6", true, true},
		{"[debug] JS runtimes: none\n", "none", false, true},
		{"[debug] JS runtimes: none (disabled)\n", "none (disabled)", false, true},
		{"[debug] JS runtimes: node-20.20.2 (unsupported)\n", "node-20.20.2 (unsupported)", false, true},
		{"[debug] JS runtimes: deno-2.9.6, node-20.20.2 (unsupported)\n", "deno-2.9.6, node-20.20.2 (unsupported)", true, true},
		{"[debug] yt-dlp version 2025.04.30\n", "", false, false}, // before 2025.11: no such line
	} {
		reported, usable, ok := parseJSRuntimes(tt.stderr)
		if reported != tt.reported || usable != tt.usable || ok != tt.ok {
			t.Errorf("parseJSRuntimes(%q) = %q, %v, %v; want %q, %v, %v", tt.stderr, reported, usable, ok, tt.reported, tt.usable, tt.ok)
		}
	}
	if r := (JSRuntimeStatus{Reported: "node-20.20.2 (unsupported)"}).Runtime(); r != "node-20.20.2" {
		t.Errorf("Runtime() = %q", r)
	}
	if r := (JSRuntimeStatus{Reported: "none (disabled)"}).Runtime(); r != "none" {
		t.Errorf("Runtime() = %q", r)
	}
}

// Every run names the runtime explicitly, after clearing yt-dlp's
// defaults, and never allows remote solver scripts.
func TestYtdlpJSRuntimeArgs(t *testing.T) {
	t.Parallel()
	deno, err := exec.LookPath("deno")
	if err != nil {
		t.Fatal("deno is not on PATH: scripts/install-worker-deps.sh installs it (yt-dlp's JavaScript runtime)")
	}
	for setting, want := range map[string]string{"auto": "--js-runtimes deno:", "none": ""} {
		c, err := New(Config{JSRuntime: setting})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ytdlpArgs(context.Background(), c.ytdlp().DumpJSON(), "--", "https://example.com/v")
		if err != nil {
			t.Fatal(err)
		}
		joined := " " + strings.Join(got, " ") + " "
		nojs, js := strings.Index(joined, " --no-js-runtimes "), strings.Index(joined, " --js-runtimes ")
		if nojs < 0 || !strings.Contains(joined, " --no-remote-components ") {
			t.Errorf("%s: args %q do not clear the default runtimes and remote components", setting, got)
		}
		if want == "" {
			if js >= 0 {
				t.Errorf("%s: args %q name a runtime", setting, got)
			}
			continue
		}
		if js < nojs || !strings.Contains(joined, " --js-runtimes deno:/") || !strings.HasSuffix(deno, "deno") {
			t.Errorf("%s: args %q: want --js-runtimes deno:<absolute path> after --no-js-runtimes", setting, got)
		}
	}
	if _, err := New(Config{JSRuntime: "quickjs:/nonexistent/qjs"}); err == nil || !errors.Is(err, exec.ErrNotFound) && !strings.Contains(err.Error(), "not found") {
		t.Errorf("New with a missing runtime = %v, want a start-up error", err)
	}
}
