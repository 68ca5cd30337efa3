package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recap/recap/metrics"
)

func TestMediaSeries(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	// None of them exist before they are recorded: an API process exports
	// no yt-dlp series.
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_ytdlp_info", "recap_upstream_failures_total"); err != nil || n != 0 {
		t.Fatalf("series before use: %d, %v", n, err)
	}
	released := time.Date(2025, 4, 30, 0, 0, 0, 0, time.UTC)
	m.YtDlp("2025.04.30", released)
	m.YtDlp("2025.05.01", released.AddDate(0, 0, 1)) // a replaced binary leaves one version
	m.UpstreamFailure("youtube", "login_required")
	m.UpstreamFailure("youtube", "login_required")
	m.UpstreamFailure("bilibili", "upstream_blocked")
	m.CookieExpiry("youtube.com", released)
	want := `
# HELP recap_ytdlp_info The installed yt-dlp: 1, labelled with its version.
# TYPE recap_ytdlp_info gauge
recap_ytdlp_info{version="2025.05.01"} 1
# HELP recap_ytdlp_release_timestamp_seconds Release date of the installed yt-dlp (its version is a date), as a Unix time; alert when it is more than 90 days old.
# TYPE recap_ytdlp_release_timestamp_seconds gauge
recap_ytdlp_release_timestamp_seconds 1.7460576e+09
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "recap_ytdlp_info", "recap_ytdlp_release_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_upstream_failures_total"); err != nil || n != 2 {
		t.Errorf("upstream failure series: %d, %v; want 2", n, err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_cookies_expiry_timestamp_seconds"); err != nil || n != 1 {
		t.Errorf("cookie expiry series: %d, %v; want 1", n, err)
	}
	var nilM *metrics.Metrics
	nilM.YtDlp("x", released) // a nil *Metrics records nothing and does not panic
	nilM.UpstreamFailure("x", "y")
}

func TestExtractorSeries(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	stats := metrics.ExtractorStats{Size: 4, Live: 2, Busy: 1, Restarts: 3, Crashes: 1, RSS: 160 << 20}
	m.WatchExtractor("pool", func() metrics.ExtractorStats { return stats })
	m.ObserveExtraction("ok", 20*time.Millisecond)
	m.ObserveExtraction("crash", time.Second)
	want := `
# HELP recap_extractor_mode How this worker runs yt-dlp: 1, labelled pool (warm processes, EXTRACTOR_MODE=pool) or cli (a process per run).
# TYPE recap_extractor_mode gauge
recap_extractor_mode{mode="pool"} 1
# HELP recap_extractor_pool_busy Warm yt-dlp processes serving a request.
# TYPE recap_extractor_pool_busy gauge
recap_extractor_pool_busy 1
# HELP recap_extractor_pool_size Most warm yt-dlp processes at once (EXTRACTOR_POOL).
# TYPE recap_extractor_pool_size gauge
recap_extractor_pool_size 4
# HELP recap_extractor_restarts_total Warm yt-dlp processes started in place of one that died, ran past its deadline or was recycled.
# TYPE recap_extractor_restarts_total counter
recap_extractor_restarts_total 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "recap_extractor_mode", "recap_extractor_pool_busy",
		"recap_extractor_pool_size", "recap_extractor_restarts_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "recap_extractor_request_duration_seconds"); err != nil || n != 2 {
		t.Errorf("request series: %d, %v; want 2 (ok, crash)", n, err)
	}
	cli := metrics.New()
	cli.WatchExtractor("cli", nil)
	if n, err := testutil.GatherAndCount(cli.Registry(), "recap_extractor_pool_size"); err != nil || n != 0 {
		t.Errorf("a cli worker exports pool series: %d, %v", n, err)
	}
	var nilM *metrics.Metrics
	nilM.WatchExtractor("pool", nil)
	nilM.ObserveExtraction("ok", time.Second)
}
