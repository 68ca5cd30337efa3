package metrics

import "github.com/prometheus/client_golang/prometheus"

// subscriptionSeries are the series about subscriptions' checks. They are
// registered the first time one is recorded: only a process that runs
// checks (a worker) exports them.
type subscriptionSeries struct {
	checks  *prometheus.CounterVec
	entries prometheus.Counter
	states  *prometheus.GaugeVec
}

func (m *Metrics) subscriptionSeries() *subscriptionSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs == nil {
		s := &subscriptionSeries{
			checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_subscription_checks_total",
				Help: "Subscription checks run in this process, by outcome (ok, failed: the source or the server failed, paused: out of credit or key revoked)."},
				[]string{"outcome"}),
			entries: prometheus.NewCounter(prometheus.CounterOpts{Name: "recap_subscription_new_entries_total",
				Help: "Jobs made for entries subscriptions had not seen, in this process."}),
			states: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recap_subscriptions",
				Help: "Subscriptions by state (active, failing, paused), cluster-wide, as of this process's last check; aggregate with max()."},
				[]string{"state"}),
		}
		m.reg.MustRegister(s.checks, s.entries, s.states)
		for _, o := range []string{"ok", "failed", "paused"} {
			s.checks.WithLabelValues(o)
		}
		m.subs = s
	}
	return m.subs
}

// SubscriptionCheck counts one subscription check by outcome; failed
// ones are recap_subscription_checks_total{outcome="failed"}.
func (m *Metrics) SubscriptionCheck(outcome string) {
	if m == nil {
		return
	}
	m.subscriptionSeries().checks.WithLabelValues(outcome).Inc()
}

// SubscriptionEntries counts jobs made for new entries.
func (m *Metrics) SubscriptionEntries(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.subscriptionSeries().entries.Add(float64(n))
}

// SubscriptionStates sets how many subscriptions are in each state.
func (m *Metrics) SubscriptionStates(byState map[string]int64) {
	if m == nil {
		return
	}
	s := m.subscriptionSeries()
	for st, n := range byState {
		s.states.WithLabelValues(st).Set(float64(n))
	}
}
