package app

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/recap/recap/jobs"
)

// stageTimeouts are the configured stage time-outs.
func (c Config) stageTimeouts() jobs.Timeouts {
	return jobs.Timeouts{Resolve: c.ResolveTimeout, Transcript: c.TranscriptTimeout, Summary: c.SummaryTimeout}
}

// Resilience is the part of Config about failures and hostile input:
// stage time-outs and retries, the reconciler, shutdown, and the egress
// policy. It is embedded in Config, so its fields read as cfg.MaxRetry.
type Resilience struct {
	// ResolveTimeout, TranscriptTimeout and SummaryTimeout bound one attempt
	// of each stage (RESOLVE_TIMEOUT_SECONDS, TRANSCRIPT_TIMEOUT_SECONDS,
	// SUMMARY_TIMEOUT_SECONDS; default 180, 10800, 1800).
	ResolveTimeout    time.Duration
	TranscriptTimeout time.Duration
	SummaryTimeout    time.Duration
	// MaxRetry is how often a failing stage is retried before its job fails
	// (MAX_RETRY, at least 1, default 5).
	MaxRetry int
	// ReconcileInterval is how often each worker runs the reconciler
	// (RECONCILE_INTERVAL_SECONDS, default 60); ReconcileGrace how long a
	// job must go unchanged before it is looked at (RECONCILE_GRACE_SECONDS,
	// default 120).
	ReconcileInterval time.Duration
	ReconcileGrace    time.Duration
	// ShutdownTimeout is how long a SIGTERM'd worker lets running stages
	// finish before it puts them back in the queue, and how long the API
	// drains requests (SHUTDOWN_TIMEOUT_SECONDS, default 30).
	ShutdownTimeout time.Duration
	// EgressAllow lists internal ranges the worker may fetch from even
	// without ALLOW_PRIVATE_NETWORKS (EGRESS_ALLOW, comma-separated CIDRs or
	// addresses), such as a media server on the operator's network.
	EgressAllow []netip.Prefix
}

// loadResilience reads the Resilience settings through getenv.
func loadResilience(getenv func(string) string) (Resilience, []error) {
	var errs []error
	secs := func(k string, def int) time.Duration {
		v := strings.TrimSpace(getenv(k))
		if v == "" {
			return time.Duration(def) * time.Second
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a non-negative number of seconds", k, v))
			return time.Duration(def) * time.Second
		}
		return time.Duration(n * float64(time.Second))
	}
	r := Resilience{
		ResolveTimeout:    secs("RESOLVE_TIMEOUT_SECONDS", 180),
		TranscriptTimeout: secs("TRANSCRIPT_TIMEOUT_SECONDS", 3*3600),
		SummaryTimeout:    secs("SUMMARY_TIMEOUT_SECONDS", 1800),
		ReconcileInterval: secs("RECONCILE_INTERVAL_SECONDS", 60),
		ReconcileGrace:    secs("RECONCILE_GRACE_SECONDS", 120),
		ShutdownTimeout:   secs("SHUTDOWN_TIMEOUT_SECONDS", 30),
		MaxRetry:          5,
	}
	if v := strings.TrimSpace(getenv("MAX_RETRY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("MAX_RETRY=%q: want a positive integer", v))
		} else {
			r.MaxRetry = n
		}
	}
	for _, s := range strings.Split(getenv("EGRESS_ALLOW"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("EGRESS_ALLOW: %q: want a CIDR (10.0.0.0/8) or an address", s))
			continue
		}
		r.EgressAllow = append(r.EgressAllow, p)
	}
	return r, errs
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
