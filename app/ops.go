package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynqmon"

	"github.com/recap/recap/api"
	"github.com/recap/recap/jobs"
	"github.com/recap/recap/media"
	"github.com/recap/recap/metrics"
)

// mountOps adds the operators' routes to the API: /metrics, /healthz,
// /readyz, the OAuth2 discovery documents (with revocation and
// introspection), and with ADMIN_TOKEN set the asynqmon UI and the admin
// API.
func mountOps(cfg Config, d *Deps, s *api.Server) {
	r := s.Router()
	r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	r.Handle("/healthz", api.HealthHandler()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", api.ReadyHandler(readyChecks(cfg, d)...)).Methods(http.MethodGet, http.MethodHead)
	s.MountOAuthDiscovery(api.DiscoveryConfig{Issuer: cfg.PublicURL})
	if cfg.AdminToken == "" {
		return
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: d.RedisOpt})
	d.closers = append(d.closers, mon.Close)
	s.MountAdmin(api.AdminConfig{Token: cfg.AdminToken, Queues: mon})
}

// readyChecks are /readyz's probes. Their errors are generic on purpose:
// the route is public, so details go to the log instead. With COOKIES_DIR
// set, the details list each site's cookie count and earliest expiry
// (never a cookie), read at each probe so a replaced file shows at once,
// and refresh the recap_cookies_expiry_timestamp_seconds gauge.
func readyChecks(cfg Config, d *Deps) []api.Check {
	checks := []api.Check{
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
	if cfg.CookiesDir != "" {
		checks = append(checks, api.Check{Name: "cookies", Details: func(context.Context) any { return cookieDetails(cfg.CookiesDir, d) }})
	}
	return checks
}

// CookieDetail is one site's operator cookies in /readyz's details.
type CookieDetail struct {
	// Cookies counts the site's cookies in its file.
	Cookies int `json:"cookies"`
	// EarliestExpiry is when the first of them expires (RFC 3339, UTC);
	// absent when all are session cookies.
	EarliestExpiry *time.Time `json:"earliest_expiry,omitempty"`
	// Expired is true once EarliestExpiry has passed: the site may no
	// longer treat the worker as signed in.
	Expired bool `json:"expired"`
}

func cookieDetails(dir string, d *Deps) any {
	sites, err := media.CookieSites(dir)
	if err != nil {
		d.Log.Warn("readyz: cookies", "err", err)
		return map[string]string{"error": "COOKIES_DIR unreadable"}
	}
	out := make(map[string]CookieDetail, len(sites))
	now := time.Now()
	for _, s := range sites {
		cd := CookieDetail{Cookies: s.Cookies}
		if !s.EarliestExpiry.IsZero() {
			t := s.EarliestExpiry.UTC()
			cd.EarliestExpiry, cd.Expired = &t, t.Before(now)
			d.Metrics.CookieExpiry(s.Site, s.EarliestExpiry)
		}
		out[s.Site] = cd
	}
	return out
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

// Ops is the worker's operator endpoint on METRICS_ADDR: /metrics,
// /healthz and /readyz. The API serves the same routes on LISTEN_ADDR.
type Ops struct {
	srv *http.Server
	ln  net.Listener
	// accepting is whether the worker takes tasks: false until it started
	// and again once it is draining, so /readyz says so.
	accepting atomic.Bool
	done      chan struct{}
}

// StartOps listens on cfg.MetricsAddr and serves the operator routes over
// d: its metrics, and readiness that checks Postgres, Redis, migrations
// and whether the worker is taking tasks (see SetAccepting).
func StartOps(cfg Config, d *Deps) (*Ops, error) {
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	o := &Ops{ln: ln, done: make(chan struct{})}
	checks := append(readyChecks(cfg, d), api.Check{Name: "worker", Fn: func(context.Context) error {
		if !o.accepting.Load() {
			return errors.New("not taking tasks")
		}
		return nil
	}}, api.Check{Name: "ytdlp", Details: func(context.Context) any {
		// Informational: a worker without a JavaScript runtime still
		// serves every site but YouTube, so it stays ready.
		if tc := d.Toolchain.Load(); tc != nil {
			return tc
		}
		return map[string]string{"status": "checking"}
	}})
	mux := http.NewServeMux()
	// GET patterns match HEAD too.
	mux.Handle("GET /metrics", d.Metrics.Handler())
	mux.Handle("GET /healthz", api.HealthHandler())
	mux.Handle("GET /readyz", api.ReadyHandler(checks...))
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(o.done)
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.Log.Error("ops server", "err", err)
		}
	}()
	return o, nil
}

// Addr is the address the routes are served on (the port chosen when
// METRICS_ADDR asked for port 0).
func (o *Ops) Addr() string { return o.ln.Addr().String() }

// SetAccepting tells /readyz whether the worker takes tasks.
func (o *Ops) SetAccepting(v bool) { o.accepting.Store(v) }

// Shutdown stops serving; a scrape in flight may finish until ctx ends.
func (o *Ops) Shutdown(ctx context.Context) error {
	err := o.srv.Shutdown(ctx)
	if err != nil {
		o.srv.Close()
	}
	<-o.done
	return err
}

// Probe is a container health check without curl: it GETs path on the
// process's own listen address (":8080" is asked on 127.0.0.1) and
// succeeds on 200 within 5 seconds.
func Probe(ctx context.Context, listenAddr, path string) error {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("probe: listen address %q: %w", listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", u, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: status %d", u, res.StatusCode)
	}
	return nil
}
