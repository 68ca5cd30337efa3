package app

import (
	"context"
	"time"

	"github.com/recap/recap/media"
)

// Toolchain is what a worker found of its extractor: yt-dlp's version and
// the JavaScript runtime yt-dlp accepts (YouTube needs one since 2025.11).
// It is /readyz's "ytdlp" detail; an operator checks a running worker with
// curl :9090/readyz (docs/operating.md, Keeping yt-dlp working).
type Toolchain struct {
	// Version is yt-dlp --version ("2026.11.23"); empty when unknown.
	Version string `json:"version"`
	// Released is the date the version names.
	Released *time.Time `json:"released,omitempty"`
	// Stale is true past media.StaleAfter: sites change and old versions
	// stop working.
	Stale bool `json:"stale"`
	// JSRuntime is the runtime yt-dlp reports ("deno-2.9.6"; "none").
	JSRuntime string `json:"js_runtime"`
	// JSRuntimeConfigured is the --js-runtimes value every run gets.
	JSRuntimeConfigured string `json:"js_runtime_configured,omitempty"`
	// JSRuntimeUsable is true when yt-dlp accepts the runtime (it lists it
	// without "(unsupported)").
	JSRuntimeUsable bool `json:"js_runtime_usable"`
	// Warnings say what to fix, in words.
	Warnings []string `json:"warnings,omitempty"`
}

// toolchainProber is the part of the media client checkToolchain asks.
type toolchainProber interface {
	YtDlpVersion(ctx context.Context) (media.YtDlpVersion, error)
	JSRuntime(ctx context.Context) (media.JSRuntimeStatus, error)
}

// checkToolchain asks yt-dlp its version and JavaScript runtime, exports
// both as metrics, logs them once (a warning when either is missing or
// stale) and returns them for /readyz.
func checkToolchain(ctx context.Context, m toolchainProber, d *Deps) *Toolchain {
	tc := &Toolchain{JSRuntime: "unknown"}
	now := time.Now()
	if v, err := m.YtDlpVersion(ctx); err != nil {
		tc.Warnings = append(tc.Warnings, "yt-dlp version unknown: "+err.Error())
	} else {
		tc.Version = v.Version
		if !v.Released.IsZero() {
			r := v.Released.UTC()
			tc.Released = &r
		}
		tc.Stale = v.Stale(now)
		if tc.Stale {
			tc.Warnings = append(tc.Warnings, "yt-dlp is out of date: bump YTDLP_VERSION and rebuild the worker image")
		}
		d.Metrics.YtDlp(v.Version, v.Released)
	}
	if js, err := m.JSRuntime(ctx); err != nil {
		tc.Warnings = append(tc.Warnings, "JavaScript runtime unknown: "+err.Error())
	} else {
		tc.JSRuntime, tc.JSRuntimeConfigured, tc.JSRuntimeUsable = js.Runtime(), js.Configured, js.Usable
		if !js.Usable {
			tc.Warnings = append(tc.Warnings, "yt-dlp has no usable JavaScript runtime ("+js.Reported+"): YouTube fails without one; install deno (scripts/install-worker-deps.sh) or set JS_RUNTIME")
		}
		d.Metrics.YtDlpJSRuntime(js.Runtime(), js.Usable)
	}
	args := []any{"version", tc.Version, "js_runtime", tc.JSRuntime, "js_runtime_usable", tc.JSRuntimeUsable}
	if len(tc.Warnings) > 0 {
		d.Log.Warn("media: yt-dlp", append(args, "warnings", tc.Warnings)...)
	} else {
		d.Log.Info("media: yt-dlp", args...)
	}
	return tc
}
