package recap

import (
	"math"
	"testing"
)

func TestClock(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		sec  float64
		want string
	}{{0, "00:00"}, {8.9, "00:08"}, {59.999, "00:59"}, {600, "10:00"}, {3599.9, "59:59"}, {3600, "1:00:00"},
		{36061, "10:01:01"}, {-3, "00:00"}, {math.NaN(), "00:00"}} {
		if got := Clock(c.sec); got != c.want {
			t.Errorf("Clock(%v) = %q, want %q", c.sec, got, c.want)
		}
	}
	for _, c := range []struct {
		sec       float64
		sep, want string
	}{{0, ".", "00:00:00.000"}, {61.2345, ",", "00:01:01,235"}, {3723.5, ".", "01:02:03.500"}, {-1, ".", "00:00:00.000"}} {
		if got := ClockMillis(c.sec, c.sep); got != c.want {
			t.Errorf("ClockMillis(%v) = %q, want %q", c.sec, got, c.want)
		}
	}
}
