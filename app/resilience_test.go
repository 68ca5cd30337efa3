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
