// Package metrics holds Recap's Prometheus series, all named recap_*.
// There are no globals: app creates one Metrics on its own registry and
// hands it to the API and the worker, so tests running many Recaps in one
// process each see their own numbers. Every method is safe on a nil
// *Metrics, which records nothing.
package metrics

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of series one process exports.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	stageDuration *prometheus.HistogramVec
	jobsFinished  *prometheus.CounterVec
	cacheHits     *prometheus.CounterVec
	rowsBehind    atomic.Bool
	mediaFailures *prometheus.CounterVec

	llmCalls    *prometheus.CounterVec
	llmDuration prometheus.Histogram
	llmTokens   *prometheus.CounterVec

	sttCalls        *prometheus.CounterVec
	sttDuration     prometheus.Histogram
	sttAudioSeconds prometheus.Counter

	mu      sync.Mutex
	sources []source
	media   *mediaSeries        // see media.go
	subs    *subscriptionSeries // see subscriptions.go
	slots   *slotSeries         // see slots.go

	extractor extractorSeries // see extractor.go
}

// New returns the series registered on a fresh registry, with the Go
// runtime and process collectors beside them.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	durations := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	stageBuckets := []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800}
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_http_requests_total",
			Help: "HTTP requests served, by route template, method and status code."}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "recap_http_request_duration_seconds",
			Help: "HTTP request latency by route template and method (a stream counts until its last byte).", Buckets: durations},
			[]string{"route", "method"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "recap_stage_duration_seconds",
			Help: "Pipeline stage run time, by stage and outcome (ok, retry, failed).", Buckets: stageBuckets}, []string{"stage", "outcome"}),
		jobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_jobs_finished_total",
			Help: "Jobs that reached a terminal state in this process, by state and error code."}, []string{"state", "code"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_cache_hits_total",
			Help: "Requests answered from a cache without the queue, by cache (summary: each also counts as a succeeded job)."}, []string{"cache"}),
		mediaFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_media_failures_total",
			Help: "Failed yt-dlp and ffmpeg runs, by tool and cause."}, []string{"tool", "cause"}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_llm_calls_total",
			Help: "HTTP calls to the LLM service, by outcome (HTTP status, or error)."}, []string{"outcome"}),
		llmDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recap_llm_call_duration_seconds",
			Help: "LLM call latency until the response body is read.", Buckets: durations}),
		llmTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_llm_tokens_total",
			Help: "Tokens used by summaries and answers, by model and kind (prompt, completion)."}, []string{"model", "kind"}),
		sttCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_stt_calls_total",
			Help: "HTTP calls to the speech-to-text service, by outcome (HTTP status, or error)."}, []string{"outcome"}),
		sttDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recap_stt_call_duration_seconds",
			Help: "Speech-to-text call latency until the response body is read.", Buckets: durations}),
		sttAudioSeconds: prometheus.NewCounter(prometheus.CounterOpts{Name: "recap_stt_audio_seconds_total",
			Help: "Seconds of audio transcribed by the speech-to-text service."}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.stageDuration, m.jobsFinished, m.cacheHits, m.mediaFailures,
		m.llmCalls, m.llmDuration, m.llmTokens, m.sttCalls, m.sttDuration, m.sttAudioSeconds)
	reg.MustRegister(sourceCollector{m})
	// Known label values start at zero, so rate() and absent() work from the
	// first scrape rather than from the first hit.
	m.cacheHits.WithLabelValues(CacheSummary)
	return m
}

// Registry is where the series live, for tests and for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveHTTP records one served request.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ObserveStage records one run of a pipeline stage.
func (m *Metrics) ObserveStage(stage, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.stageDuration.WithLabelValues(stage, outcome).Observe(d.Seconds())
}

// Caches counted by recap_cache_hits_total.
const (
	// CacheSummary is the summary cache: a completion answered without a job
	// running.
	CacheSummary = "summary"
)

// SummaryCacheHit counts a completion answered from the summary cache: a
// job born succeeded in the API process.
func (m *Metrics) SummaryCacheHit() {
	if m == nil {
		return
	}
	m.cacheHits.WithLabelValues(CacheSummary).Inc()
	m.jobsFinished.WithLabelValues("succeeded", "").Inc()
}

// WatchRowsBehind exports the job rows of cache hits written behind their
// answers (store.WriteBehindStats): recap_cache_hit_rows_pending, and
// recap_cache_hit_rows_lost_total{reason} (refused: Postgres refused the
// row; shutdown: not written before the process stopped). Only the first
// call of a Metrics counts: a process has one store.
func (m *Metrics) WatchRowsBehind(stats func() (pending, refused, lost uint64)) {
	if m == nil || !m.rowsBehind.CompareAndSwap(false, true) {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "recap_cache_hit_rows_pending",
		Help: "Job rows of cache hits answered and not yet written (CACHE_HIT_WRITE_BEHIND_MS)."},
		func() float64 { p, _, _ := stats(); return float64(p) }))
	for _, reason := range []string{"refused", "shutdown"} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "recap_cache_hit_rows_lost_total",
			Help:        "Job rows of cache hits answered and never written.",
			ConstLabels: prometheus.Labels{"reason": reason}},
			func() float64 {
				_, r, l := stats()
				if reason == "refused" {
					return float64(r)
				}
				return float64(l)
			}))
	}
}

// JobFinished counts a job reaching its terminal state.
func (m *Metrics) JobFinished(state, code string) {
	if m == nil {
		return
	}
	m.jobsFinished.WithLabelValues(state, code).Inc()
}

// MediaFailure counts a failed yt-dlp or ffmpeg run.
func (m *Metrics) MediaFailure(tool, cause string) {
	if m == nil {
		return
	}
	m.mediaFailures.WithLabelValues(tool, cause).Inc()
}

// Tokens counts LLM tokens.
func (m *Metrics) Tokens(model string, prompt, completion int) {
	if m == nil {
		return
	}
	if prompt > 0 {
		m.llmTokens.WithLabelValues(model, "prompt").Add(float64(prompt))
	}
	if completion > 0 {
		m.llmTokens.WithLabelValues(model, "completion").Add(float64(completion))
	}
}

// AudioTranscribed counts seconds of audio sent through speech-to-text.
func (m *Metrics) AudioTranscribed(seconds float64) {
	if m == nil || seconds <= 0 {
		return
	}
	m.sttAudioSeconds.Add(seconds)
}

// Services whose HTTP calls Transport counts.
const (
	ServiceLLM = "llm"
	ServiceSTT = "stt"
)

// Transport wraps base (nil: http.DefaultTransport) so every request to
// the LLM or speech-to-text service is counted and timed, retries included.
func (m *Metrics) Transport(service string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if m == nil {
		return base
	}
	calls, dur := m.llmCalls, m.llmDuration
	if service == ServiceSTT {
		calls, dur = m.sttCalls, m.sttDuration
	}
	return &transport{base: base, calls: calls, dur: dur}
}

type transport struct {
	base  http.RoundTripper
	calls *prometheus.CounterVec
	dur   prometheus.Histogram
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.base.RoundTrip(r)
	if err != nil {
		t.calls.WithLabelValues("error").Inc()
		t.dur.Observe(time.Since(start).Seconds())
		return nil, err
	}
	t.calls.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
	// Streams are timed until their body is closed.
	res.Body = &timedBody{ReadCloser: res.Body, done: func() { t.dur.Observe(time.Since(start).Seconds()) }}
	return res, nil
}

type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}
