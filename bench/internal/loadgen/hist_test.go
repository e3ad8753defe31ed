package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	var h histogram
	// 1..1000 ms, once each.
	for i := 1; i <= 1000; i++ {
		h.add(i, time.Duration(i)*time.Millisecond, 1)
	}
	l := h.summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", l.P50, 500}, {"p99", l.P99, 990}, {"p99.9", l.P999, 999}, {"max", l.Max, 1000}} {
		if math.Abs(c.got-c.want)/c.want > 0.02 {
			t.Errorf("%s = %.1f ms, want %.0f within 2%%", c.name, c.got, c.want)
		}
	}
	if l.N != 1000 {
		t.Errorf("n = %d", l.N)
	}
	if h.summary().N != 0 {
		t.Error("summary did not clear the histogram")
	}
	for us := int64(0); us < 1<<34; us = us*3/2 + 1 {
		b := bucketOf(us)
		if mid := bucketMid(b); math.Abs(mid-float64(us)) > 0.016*float64(us)+1 {
			t.Fatalf("%d µs falls in bucket %d of middle %.0f", us, b, mid)
		}
	}
}
