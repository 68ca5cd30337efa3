package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// mediaSeries are the series about yt-dlp and the video sites it reaches.
// They are registered the first time one is recorded: an API process,
// which runs no yt-dlp, exports none of them.
type mediaSeries struct {
	upstreamFailures *prometheus.CounterVec
	ytdlpInfo        *prometheus.GaugeVec
	ytdlpReleased    prometheus.Gauge
	ytdlpJSRuntime   *prometheus.GaugeVec
	cookieExpiry     *prometheus.GaugeVec
}

func (m *Metrics) mediaSeries() *mediaSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.media == nil {
		s := &mediaSeries{
			upstreamFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_upstream_failures_total",
				Help: "Video sites' refusals seen by yt-dlp, by site (yt-dlp's extractor) and code (login_required, upstream_blocked, video_unavailable, geo_restricted, unsupported_url, live_not_supported, drm_protected)."},
				[]string{"site", "code"}),
			ytdlpInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recap_ytdlp_info",
				Help: "The installed yt-dlp: 1, labelled with its version."}, []string{"version"}),
			ytdlpReleased: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recap_ytdlp_release_timestamp_seconds",
				Help: "Release date of the installed yt-dlp (its version is a date), as a Unix time; alert when it is more than 90 days old."}),
			ytdlpJSRuntime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recap_ytdlp_js_runtime_info",
				Help: "yt-dlp's JavaScript runtime as yt-dlp reports it (runtime=\"none\" without one), and whether yt-dlp accepts it (usable=\"false\": YouTube fails)."},
				[]string{"runtime", "usable"}),
			cookieExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recap_cookies_expiry_timestamp_seconds",
				Help: "Earliest expiry among the operator's cookies for a site (COOKIES_DIR), as a Unix time."}, []string{"site"}),
		}
		m.reg.MustRegister(s.upstreamFailures, s.ytdlpInfo, s.ytdlpReleased, s.ytdlpJSRuntime, s.cookieExpiry)
		m.media = s
	}
	return m.media
}

// UpstreamFailure counts a video site's refusal, classified by code.
func (m *Metrics) UpstreamFailure(site, code string) {
	if m == nil {
		return
	}
	m.mediaSeries().upstreamFailures.WithLabelValues(site, code).Inc()
}

// YtDlp exports the installed yt-dlp's version and release date (zero
// when the version is not a date).
func (m *Metrics) YtDlp(version string, released time.Time) {
	if m == nil {
		return
	}
	s := m.mediaSeries()
	s.ytdlpInfo.Reset()
	s.ytdlpInfo.WithLabelValues(version).Set(1)
	if !released.IsZero() {
		s.ytdlpReleased.Set(float64(released.Unix()))
	}
}

// CookieExpiry exports the earliest expiry of a site's operator cookies.
func (m *Metrics) CookieExpiry(site string, expires time.Time) {
	if m == nil {
		return
	}
	m.mediaSeries().cookieExpiry.WithLabelValues(site).Set(float64(expires.Unix()))
}

// YtDlpJSRuntime exports yt-dlp's JavaScript runtime ("deno-2.9.6",
// "none") and whether yt-dlp accepts it.
func (m *Metrics) YtDlpJSRuntime(runtime string, usable bool) {
	if m == nil {
		return
	}
	s := m.mediaSeries()
	s.ytdlpJSRuntime.Reset()
	s.ytdlpJSRuntime.WithLabelValues(runtime, strconv.FormatBool(usable)).Set(1)
}
