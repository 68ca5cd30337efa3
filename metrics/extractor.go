package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ExtractorStats is a snapshot of the worker's warm yt-dlp pool
// (media.PoolStats, copied by app: metrics imports no media types).
type ExtractorStats struct {
	// Size is the most processes, Live those running, Busy those serving
	// a request.
	Size, Live, Busy int
	// Restarts counts processes started to replace one that died, ran
	// past its deadline or was recycled; Crashes those that died unbidden.
	Restarts, Crashes uint64
	// RSS is the live processes' resident memory in bytes.
	RSS int64
}

// extractorSeries are the pool's series, registered by WatchExtractor.
type extractorSeries struct {
	watched  atomic.Bool
	once     sync.Once
	requests *prometheus.HistogramVec
}

// WatchExtractor exports how yt-dlp runs in this worker: mode ("pool" or
// "cli", recap_extractor_mode) and, with stats non-nil (pool mode), the
// pool's size, live and busy processes, restarts, crashes and memory,
// read from stats at each scrape. Only the first call of a Metrics
// counts: a worker process has one media client.
func (m *Metrics) WatchExtractor(mode string, stats func() ExtractorStats) {
	if m == nil || !m.extractor.watched.CompareAndSwap(false, true) {
		return
	}
	modeGauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recap_extractor_mode",
		Help: "How this worker runs yt-dlp: 1, labelled pool (warm processes, EXTRACTOR_MODE=pool) or cli (a process per run)."}, []string{"mode"})
	modeGauge.WithLabelValues(mode).Set(1)
	m.reg.MustRegister(modeGauge)
	if stats == nil {
		return
	}
	gauge := func(name, help string, f func(ExtractorStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	counter := func(name, help string, f func(ExtractorStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	m.reg.MustRegister(
		gauge("recap_extractor_pool_size", "Most warm yt-dlp processes at once (EXTRACTOR_POOL).",
			func(s ExtractorStats) float64 { return float64(s.Size) }),
		gauge("recap_extractor_pool_live", "Warm yt-dlp processes running.",
			func(s ExtractorStats) float64 { return float64(s.Live) }),
		gauge("recap_extractor_pool_busy", "Warm yt-dlp processes serving a request.",
			func(s ExtractorStats) float64 { return float64(s.Busy) }),
		counter("recap_extractor_restarts_total", "Warm yt-dlp processes started in place of one that died, ran past its deadline or was recycled.",
			func(s ExtractorStats) float64 { return float64(s.Restarts) }),
		counter("recap_extractor_crashes_total", "Warm yt-dlp processes that died unbidden (killed, out of memory, crashed).",
			func(s ExtractorStats) float64 { return float64(s.Crashes) }),
		gauge("recap_extractor_pool_rss_bytes", "Resident memory of the warm yt-dlp processes, as each last reported it.",
			func(s ExtractorStats) float64 { return float64(s.RSS) }),
	)
}

// ObserveExtraction records one request to the warm pool: its latency
// (waiting for a process not included) and outcome (ok, error for a
// yt-dlp failure, crash, timeout, canceled).
func (m *Metrics) ObserveExtraction(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	s := &m.extractor
	s.once.Do(func() {
		s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "recap_extractor_request_duration_seconds",
			Help:    "Warm yt-dlp request latency, by outcome (ok, error, crash, timeout, canceled).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"outcome"})
		m.reg.MustRegister(s.requests)
	})
	s.requests.WithLabelValues(outcome).Observe(d.Seconds())
}
