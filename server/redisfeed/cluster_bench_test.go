package redisfeed_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wire"
)

// benchNode is a cluster node in this process for the benchmarks.
type benchNode struct {
	srv *server.Server
	c   *redisfeed.Cluster
}

func startBenchNode(b *testing.B, url string, every time.Duration) *benchNode {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	c, err := redisfeed.NewCluster(url, srv, &redisfeed.ClusterOptions{Stream: "b:cluster", SnapshotEvery: every, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done; c.Close(); srv.Close() })
	return &benchNode{srv, c}
}

// redisMemory returns Redis's used_memory (INFO memory), in bytes.
func redisMemory(b *testing.B, r *redistest.Server) float64 {
	b.Helper()
	for line := range strings.Lines(r.CLI("INFO", "memory")) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO memory: %s: %v", line, err)
			}
			return f
		}
	}
	b.Fatal("INFO memory: no used_memory")
	return 0
}

// redisCPU returns the CPU time redis-server has used (INFO cpu: user and
// system of the main process and its children).
func redisCPU(b *testing.B, r *redistest.Server) time.Duration {
	b.Helper()
	var total float64
	for line := range strings.Lines(r.CLI("INFO", "cpu")) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && strings.HasPrefix(k, "used_cpu_") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %s: %v", line, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// selfCPU returns this process's CPU time (user + system) from
// /proc/self/stat, in clock ticks of 10 ms.
func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		b.Skip("no /proc/self/stat:", err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkClusterStream measures the cluster's stream path without HTTP
// or clients: nodes in this process on one real redis-server (appendonly
// yes, appendfsync always), feeders calling Apply on the first in batches
// of 1,000 updates (one XADD each), the clock running until every node
// has applied every batch. It reports updates/s through the one stream,
// Redis's CPU per update (INFO cpu), this process's (the nodes and the
// feeders) per update, and the memory the stream takes in Redis per
// update (INFO used_memory: nothing is trimmed meanwhile, as between two
// snapshots).
func BenchmarkClusterStream(b *testing.B) {
	redistest.Require(b)
	const batch, markers = 1000, 10000
	for _, tc := range []struct{ nodes, feeders int }{{3, 1}, {3, 8}, {6, 8}} {
		b.Run(fmt.Sprintf("nodes=%d/feeders=%d", tc.nodes, tc.feeders), func(b *testing.B) {
			feeders := tc.feeders
			r := redistest.StartAOF(b, "always")
			var nodes []*benchNode
			for range tc.nodes {
				nodes = append(nodes, startBenchNode(b, r.URL, time.Minute))
			}
			var next atomic.Int64
			mkBatch := func(rng *rand.Rand) []server.Update {
				us := make([]server.Update, batch)
				for i := range us {
					m := int(next.Add(1) % markers)
					us[i] = server.Update{Marker: wire.Marker{ID: "veh-" + strconv.Itoa(100000+m), Layer: "vehicles",
						Pos: geo.Pt(2.15+0.4*rng.Float64(), 48.75+0.2*rng.Float64()), Time: time.Now().UnixMilli()}}
				}
				return us
			}
			rng := rand.New(rand.NewPCG(1, 1))
			if err := nodes[0].c.Apply(mkBatch(rng)); err != nil { // warm: the connections, the markers
				b.Fatal(err)
			}
			entries0 := nodes[0].c.Stats().Entries
			cpu0, self0, mem0 := redisCPU(b, r), selfCPU(b), redisMemory(b, r)
			start := time.Now()
			var seed atomic.Uint64
			b.SetParallelism(feeders)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(2, seed.Add(1)))
				for pb.Next() {
					if err := nodes[0].c.Apply(mkBatch(rng)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			want := entries0 + int64(b.N)
			deadline := time.Now().Add(time.Minute)
			for _, n := range nodes {
				for n.c.Stats().Entries < want {
					if time.Now().After(deadline) {
						b.Fatalf("a node applied %d of %d entries after a minute", n.c.Stats().Entries, want)
					}
					runtime.Gosched()
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			elapsed := time.Since(start)
			updates := float64(b.N * batch)
			b.ReportMetric(updates/elapsed.Seconds(), "updates/s")
			b.ReportMetric(float64(redisCPU(b, r)-cpu0)/1e3/updates, "redis-us/update")
			b.ReportMetric(float64(selfCPU(b)-self0)/1e3/updates, "nodes-us/update")
			b.ReportMetric((redisMemory(b, r)-mem0)/updates, "redis-B/update")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkClusterSnapshot measures one snapshot of a node holding
// 1,000,000 markers with typical properties: the time the node's tail
// spends on it (it applies nothing meanwhile), the heap it allocates per
// marker for that moment, the bytes per marker it takes in Redis (the
// snapshot hash, HSTRLEN) and Redis's CPU time for it (the script that
// stores it). The op is one snapshot: ns/op is its time.
func BenchmarkClusterSnapshot(b *testing.B) {
	redistest.Require(b)
	const markers = 1_000_000
	r := redistest.Start(b)
	n := startBenchNode(b, r.URL, time.Millisecond)
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]server.StoredMarker, markers)
	for i := range recs {
		recs[i] = server.StoredMarker{Marker: wire.Marker{ID: "veh-" + strconv.Itoa(100000+i), Layer: "vehicles",
			Pos: geo.Pt(1.6+1.5*rng.Float64(), 48.3+rng.Float64()), Version: 1, Time: 1_790_000_000_000,
			Props: map[string]any{"name": "bus " + strconv.Itoa(i), "route": strconv.Itoa(1 + i%300),
				"speed": float64(rng.IntN(200)) / 10, "heading": float64(rng.IntN(360))}}}
	}
	if err := n.srv.Restore(recs); err != nil {
		b.Fatal(err)
	}
	recs = nil
	var alloc uint64
	var took time.Duration
	cpu0 := redisCPU(b, r)
	b.ResetTimer()
	for i := range b.N {
		before := n.c.Stats().Snapshots
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		// A write moves the tail, whose next round writes the snapshot.
		if err := n.c.Apply([]server.Update{{Marker: wire.Marker{ID: "mover", Pos: geo.Pt(2, 48.5), Version: uint64(i + 1)}}}); err != nil {
			b.Fatal(err)
		}
		for n.c.Stats().Snapshots == before {
			time.Sleep(time.Millisecond)
		}
		took += time.Since(start)
		runtime.ReadMemStats(&ms1)
		alloc += ms1.TotalAlloc - ms0.TotalAlloc
	}
	b.StopTimer()
	redisTook := redisCPU(b, r) - cpu0
	size, err := strconv.ParseFloat(strings.TrimSpace(r.CLI("HSTRLEN", "b:cluster:snapshot", "data")), 64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(alloc)/float64(b.N)/markers, "alloc-B/marker")
	b.ReportMetric(size/markers, "redis-B/marker")
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/snapshot")
	b.ReportMetric(float64(redisTook.Milliseconds())/float64(b.N), "redis-ms/snapshot")
}
