package metrics

import "github.com/prometheus/client_golang/prometheus"

// slotSeries are the series of the per-account cap on running stages
// (MAX_ACTIVE_JOBS_PER_KEY). They are registered the first time one is
// recorded: a process without a worker exports none of them.
type slotSeries struct {
	limit   prometheus.Gauge
	active  prometheus.Gauge
	waiting *prometheus.CounterVec
}

func (m *Metrics) slotSeries() *slotSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.slots == nil {
		s := &slotSeries{
			limit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recap_account_slots_limit",
				Help: "How many stages one account may run at once across all workers (MAX_ACTIVE_JOBS_PER_KEY; 0 = no cap)."}),
			active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recap_account_slots_active",
				Help: "Stage runs of this process holding their account's slot."}),
			waiting: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recap_account_slots_waiting_total",
				Help: "Stage runs put back without running because their account was at its cap (they come back shortly, no retry used), by stage."},
				[]string{"stage"}),
		}
		m.reg.MustRegister(s.limit, s.active, s.waiting)
		m.slots = s
	}
	return m.slots
}

// AccountSlotsLimit exports the cap on each account's running stages.
func (m *Metrics) AccountSlotsLimit(n int) {
	if m == nil {
		return
	}
	m.slotSeries().limit.Set(float64(n))
}

// AccountSlotHeld moves recap_account_slots_active: +1 when a stage run
// takes its account's slot, -1 when it gives it back.
func (m *Metrics) AccountSlotHeld(delta int) {
	if m == nil {
		return
	}
	m.slotSeries().active.Add(float64(delta))
}

// AccountSlotWaiting counts a stage run put back because its account's
// slots were all taken.
func (m *Metrics) AccountSlotWaiting(stage string) {
	if m == nil {
		return
	}
	m.slotSeries().waiting.WithLabelValues(stage).Inc()
}
