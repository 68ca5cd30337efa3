package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLoadResilience(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SUMMARY_TIMEOUT_SECONDS": "2.5",
		"MAX_RETRY":               "2",
		"EGRESS_ALLOW":            " 10.1.2.3/24, 192.168.1.5 ,::ffff:172.16.0.1",
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.SummaryTimeout != 2500*time.Millisecond || c.ResolveTimeout != 3*time.Minute || c.MaxRetry != 2 ||
		c.ShutdownTimeout != 30*time.Second || c.ReconcileInterval != time.Minute {
		t.Errorf("unexpected %+v", c.Resilience)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("192.168.1.5/32"), netip.MustParsePrefix("172.16.0.1/32")}
	if len(c.EgressAllow) != len(want) {
		t.Fatalf("EgressAllow = %v", c.EgressAllow)
	}
	for i := range want {
		if c.EgressAllow[i] != want[i] {
			t.Errorf("EgressAllow[%d] = %v, want %v", i, c.EgressAllow[i], want[i])
		}
	}

	bad := map[string]string{"MAX_RETRY": "0", "EGRESS_ALLOW": "10.0.0.0/33,intranet", "SHUTDOWN_TIMEOUT_SECONDS": "-1"}
	_, err = Load(func(k string) string { return bad[k] })
	for _, name := range []string{"MAX_RETRY", "10.0.0.0/33", "intranet", "SHUTDOWN_TIMEOUT_SECONDS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

// TestLoadCachesAndPolling: the key and summary caches, the cache hits'
// write-behind window and the queue poll interval.
func TestLoadCachesAndPolling(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env                map[string]string
		keyTTL, summaryTTL time.Duration
		writeBehind, poll  time.Duration
		errName            string
	}{
		{map[string]string{}, time.Minute, time.Minute, 5 * time.Millisecond, 20 * time.Millisecond, ""},
		{map[string]string{"KEY_CACHE_SECONDS": "0", "QUEUE_POLL_MS": "200", "SUMMARY_CACHE_SECONDS": "0", "CACHE_HIT_WRITE_BEHIND_MS": "0"},
			0, 0, 0, 200 * time.Millisecond, ""},
		{map[string]string{"SUMMARY_CACHE_SECONDS": "5", "CACHE_HIT_WRITE_BEHIND_MS": "50"}, time.Minute, 5 * time.Second, 50 * time.Millisecond, 20 * time.Millisecond, ""},
		{map[string]string{"KEY_CACHE_SECONDS": "-1"}, 0, 0, 0, 0, "KEY_CACHE_SECONDS"},
		{map[string]string{"KEY_CACHE_SECONDS": "soon"}, 0, 0, 0, 0, "KEY_CACHE_SECONDS"},
		{map[string]string{"SUMMARY_CACHE_SECONDS": "-1"}, 0, 0, 0, 0, "SUMMARY_CACHE_SECONDS"},
		{map[string]string{"CACHE_HIT_WRITE_BEHIND_MS": "-5"}, 0, 0, 0, 0, "CACHE_HIT_WRITE_BEHIND_MS"},
		{map[string]string{"CACHE_HIT_WRITE_BEHIND_MS": "5000"}, 0, 0, 0, 0, "CACHE_HIT_WRITE_BEHIND_MS"},
	}
	for _, c := range cases {
		cfg, err := Load(func(k string) string { return c.env[k] })
		if c.errName != "" {
			if err == nil || !strings.Contains(err.Error(), c.errName) {
				t.Errorf("%v: error %v does not name %s", c.env, err, c.errName)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if cfg.SummaryCacheTTL != c.summaryTTL || cfg.WriteBehind != c.writeBehind {
			t.Errorf("%v: summary cache %v, write-behind %v; want %v, %v", c.env, cfg.SummaryCacheTTL, cfg.WriteBehind, c.summaryTTL, c.writeBehind)
		}
		if cfg.KeyCacheTTL != c.keyTTL || cfg.QueuePoll != c.poll {
			t.Errorf("%v: key cache %v, poll %v; want %v, %v", c.env, cfg.KeyCacheTTL, cfg.QueuePoll, c.keyTTL, c.poll)
		}
	}
}
