package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the cluster-wide numbers read from Postgres and Redis at
// scrape time. Every replica reports the same values, so aggregate them
// with max(), not sum().
type Stats struct {
	// ActiveJobs counts unfinished jobs by state.
	ActiveJobs map[string]int64
	// Queues are the asynq queues' sizes and latencies.
	Queues []QueueStat
	// CreditsHeld is the media seconds currently reserved by running jobs.
	CreditsHeld int64
	// Credits sums the ledger's entries by kind (hold, capture, release)
	// in media seconds, since the beginning.
	Credits map[string]int64
}

// QueueStat is one asynq queue.
type QueueStat struct {
	Queue                                       string
	Pending, Active, Scheduled, Retry, Archived int
	// Latency is how long the oldest pending task has waited.
	Latency time.Duration
}

// Source fills part of Stats at scrape time.
type Source func(ctx context.Context, s *Stats) error

type source struct {
	name string
	fn   Source
}

// Watch adds a source read at every scrape; recap_source_up{source=name}
// says whether it answered.
func (m *Metrics) Watch(name string, fn Source) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources = append(m.sources, source{name, fn})
}

var (
	descSourceUp     = prometheus.NewDesc("recap_source_up", "Whether a scrape-time source (postgres, redis) answered.", []string{"source"}, nil)
	descJobs         = prometheus.NewDesc("recap_jobs", "Unfinished jobs by state (cluster-wide).", []string{"state"}, nil)
	descQueueSize    = prometheus.NewDesc("recap_queue_tasks", "Tasks in an asynq queue by state (cluster-wide).", []string{"queue", "state"}, nil)
	descQueueLatency = prometheus.NewDesc("recap_queue_latency_seconds", "How long the oldest pending task of a queue has waited.", []string{"queue"}, nil)
	descCreditsHeld  = prometheus.NewDesc("recap_credits_held_seconds", "Media seconds of credit currently held by running jobs.", nil, nil)
	descCredits      = prometheus.NewDesc("recap_credits_seconds_total", "Media seconds of credit held, captured and released since the beginning (from the ledger).", []string{"kind"}, nil)
)

// sourceCollector turns the sources' Stats into series at scrape time.
type sourceCollector struct{ m *Metrics }

func (c sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSourceUp, descJobs, descQueueSize, descQueueLatency, descCreditsHeld, descCredits} {
		ch <- d
	}
}

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	sources := append([]source(nil), c.m.sources...)
	c.m.mu.Unlock()
	if len(sources) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var s Stats
	for _, src := range sources {
		up := 1.0
		if err := src.fn(ctx, &s); err != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, up, src.name)
	}
	for state, n := range s.ActiveJobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), state)
	}
	for _, q := range s.Queues {
		for state, n := range map[string]int{"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry, "archived": q.Archived} {
			ch <- prometheus.MustNewConstMetric(descQueueSize, prometheus.GaugeValue, float64(n), q.Queue, state)
		}
		ch <- prometheus.MustNewConstMetric(descQueueLatency, prometheus.GaugeValue, q.Latency.Seconds(), q.Queue)
	}
	if s.Credits != nil {
		ch <- prometheus.MustNewConstMetric(descCreditsHeld, prometheus.GaugeValue, float64(s.CreditsHeld))
		for kind, n := range s.Credits {
			ch <- prometheus.MustNewConstMetric(descCredits, prometheus.CounterValue, float64(n), kind)
		}
	}
}
