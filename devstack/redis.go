package devstack

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// StartRedis starts an embedded Redis on a loopback port. asynq runs on it
// unchanged: miniredis runs asynq's Lua scripts and has the MEMORY USAGE,
// XREAD BLOCK and pub/sub commands it and the event streams use. Its
// clock-driven TTLs (ClockTTL) expire keys as wall time passes, which is
// what a ticker calling FastForward would do, minus the drift between
// ticks; asynq's retries and scheduled tasks follow scores written from
// Go's clock, so they need nothing more.
func StartRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("dev: embedded redis: %w", err)
	}
	m.ClockTTL(true)
	return m, nil
}
