package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hibiken/asynqmon"

	"github.com/recap/recap/api"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/metrics"
)

// mountOps adds the operators' routes to the API: /metrics, /healthz,
// /readyz, and with ADMIN_TOKEN set the asynqmon UI and the admin API.
func mountOps(cfg Config, d *Deps, s *api.Server) {
	r := s.Router()
	r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	r.Handle("/healthz", api.HealthHandler()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", api.ReadyHandler(readyChecks(d)...)).Methods(http.MethodGet, http.MethodHead)
	if cfg.AdminToken == "" {
		return
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: d.RedisOpt})
	d.closers = append(d.closers, mon.Close)
	s.MountAdmin(api.AdminConfig{Token: cfg.AdminToken, Queues: mon})
}

// readyChecks are /readyz's probes. Their errors are generic on purpose:
// the route is public, so details go to the log instead.
func readyChecks(d *Deps) []api.Check {
	return []api.Check{
		{Name: "postgres", Fn: func(ctx context.Context) error {
			if err := d.Store.Ping(ctx); err != nil {
				d.Log.Warn("readyz: postgres", "err", err)
				return errors.New("unreachable")
			}
			return nil
		}},
		{Name: "migrations", Fn: func(ctx context.Context) error {
			pending, err := d.Store.Pending(ctx)
			if err != nil {
				d.Log.Warn("readyz: migrations", "err", err)
				return errors.New("unknown")
			}
			if len(pending) > 0 {
				return fmt.Errorf("pending: %s", strings.Join(pending, ", "))
			}
			return nil
		}},
		{Name: "redis", Fn: func(ctx context.Context) error {
			if err := d.Redis.Ping(ctx).Err(); err != nil {
				d.Log.Warn("readyz: redis", "err", err)
				return errors.New("unreachable")
			}
			return nil
		}},
	}
}

// watch feeds the cluster-wide series (jobs by state, queues, credits)
// from Postgres and Redis at scrape time.
func watch(cfg Config, d *Deps) {
	d.Metrics.Watch("postgres", func(ctx context.Context, s *metrics.Stats) error {
		counts, err := d.Store.ActiveJobCounts(ctx)
		if err != nil {
			return err
		}
		held, byKind, err := d.Store.CreditTotals(ctx)
		if err != nil {
			return err
		}
		s.ActiveJobs, s.CreditsHeld, s.Credits = counts, held, byKind
		return nil
	})
	d.Metrics.Watch("redis", func(ctx context.Context, s *metrics.Stats) error {
		// asynq knows a queue once a task was enqueued in it; the others are
		// reported empty (GetQueueInfo has no sentinel error for them).
		names, err := d.Inspector.Queues()
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, q := range names {
			known[q] = true
		}
		for q := range jobs.Queues(cfg.QueuePrefix) {
			if !known[q] {
				s.Queues = append(s.Queues, metrics.QueueStat{Queue: q})
				continue
			}
			qi, err := d.Inspector.GetQueueInfo(q)
			if err != nil {
				return err
			}
			s.Queues = append(s.Queues, metrics.QueueStat{Queue: q, Pending: qi.Pending, Active: qi.Active,
				Scheduled: qi.Scheduled, Retry: qi.Retry, Archived: qi.Archived, Latency: qi.Latency})
		}
		return nil
	})
}
