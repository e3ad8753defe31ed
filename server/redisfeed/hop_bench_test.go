package redisfeed_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wire"
)

// signallingStore is a node's server that says when it applied a batch.
type signallingStore struct {
	*server.Server
	applied chan time.Time
}

func (s signallingStore) Apply(us []server.Update) error {
	err := s.Server.Apply(us)
	s.applied <- time.Now()
	return err
}

// BenchmarkClusterHop measures the hop through Redis as the fleet
// workload makes it: three nodes in this process on one real
// redis-server (appendonly yes, appendfsync always or everysec), a batch of 1,000 marker moves
// applied through the first node (one XADD), the next batch once every
// node has applied the last (the fleet's feed sends one every 100 ms).
// One op is one batch, timed from Apply until the last node applied it:
// what every client of the cluster waits for beyond in-memory pushmap,
// before its own node's fan-out. It reports the median and 90th
// percentile of the batches (hop-p50-ns, hop-p90-ns).
func BenchmarkClusterHop(b *testing.B) {
	redistest.Require(b)
	for _, fsync := range []string{"always", "everysec"} {
		b.Run("appendfsync="+fsync, func(b *testing.B) { benchClusterHop(b, fsync) })
	}
}

func benchClusterHop(b *testing.B, fsync string) {
	const nodes, batch = 3, 1000
	r := redistest.StartAOF(b, fsync)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var stores []signallingStore
	var clusters []*redisfeed.Cluster
	for range nodes {
		srv, err := server.New(&server.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		st := signallingStore{srv, make(chan time.Time, 16)}
		c, err := redisfeed.NewCluster(r.URL, st, &redisfeed.ClusterOptions{Stream: "b:hop", SnapshotEvery: time.Hour, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done; c.Close(); srv.Close() })
		stores, clusters = append(stores, st), append(clusters, c)
	}
	us := make([]server.Update, batch)
	for i := range us {
		us[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Layer: "fleet", Pos: geo.Pt(2.2+float64(i%100)*1e-3, 48.8+float64(i/100)*1e-3)}
	}
	hop := func() time.Duration {
		start := time.Now()
		if err := clusters[0].Apply(us); err != nil {
			b.Fatal(err)
		}
		var last time.Time
		for _, st := range stores {
			if t := <-st.applied; t.After(last) {
				last = t
			}
		}
		for j := range us {
			us[j].Marker.Pos.Lon += 1e-5
		}
		return last.Sub(start)
	}
	hop() // the markers in place, the connections open
	each := make([]time.Duration, 0, b.N)
	for b.Loop() {
		each = append(each, hop())
	}
	slices.Sort(each)
	b.ReportMetric(float64(each[len(each)/2].Nanoseconds()), "hop-p50-ns")
	b.ReportMetric(float64(each[len(each)*9/10].Nanoseconds()), "hop-p90-ns")
}
