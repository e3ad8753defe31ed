package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// A histogram counts latencies in microseconds in log-linear buckets: exact
// below 128 µs, then 64 buckets per power of two (under 1.6% error). Add
// is safe for concurrent use; it spreads writers over shards.
type histogram struct {
	shards [8]struct {
		counts [histBuckets]atomic.Uint64
		_      [64]byte
	}
}

const histBuckets = 64 * 40

func bucketOf(us int64) int {
	if us < 128 {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 7
	return min(e*64+int(uint64(us)>>e), histBuckets-1)
}

// bucketMid returns a bucket's middle value in microseconds.
func bucketMid(i int) float64 {
	if i < 128 {
		return float64(i)
	}
	e := (i - 64) / 64
	m := i - e*64
	return (float64(m) + 0.5) * float64(uint64(1)<<e)
}

// add counts n latencies of d, from shard (any number).
func (h *histogram) add(shard int, d time.Duration, n int) {
	h.shards[shard&7].counts[bucketOf(d.Microseconds())].Add(uint64(n))
}

// Latency summarises a histogram, in milliseconds.
type Latency struct {
	N    uint64  `json:"n"`
	P50  float64 `json:"p50Ms"`
	P99  float64 `json:"p99Ms"`
	P999 float64 `json:"p999Ms"`
	Max  float64 `json:"maxMs"`
}

// summary returns the quantiles of what was added, and clears it.
func (h *histogram) summary() Latency {
	var counts [histBuckets]uint64
	var n uint64
	for s := range h.shards {
		for i := range counts {
			c := h.shards[s].counts[i].Swap(0)
			counts[i] += c
			n += c
		}
	}
	l := Latency{N: n}
	if n == 0 {
		return l
	}
	q := func(p float64) float64 {
		rank := uint64(p * float64(n))
		var cum uint64
		for i, c := range counts {
			cum += c
			if cum > rank {
				return bucketMid(i) / 1000
			}
		}
		return 0
	}
	l.P50, l.P99, l.P999 = q(0.50), q(0.99), q(0.999)
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			l.Max = bucketMid(i) / 1000
			break
		}
	}
	return l
}
