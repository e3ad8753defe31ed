package server

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// clusterBench is a server with markers and idle connections whose views
// are in cluster mode.
type clusterBench struct {
	s     *Server
	ms    []wire.Marker
	views []wire.View
	rng   *rand.Rand
}

// newClusterBench stores n markers over region and opens one connection
// per view, each set (in cluster mode) as a client would.
func newClusterBench(b *testing.B, n, budget int, region geo.Box, views []wire.View) *clusterBench {
	s, err := New(&Options{ClusterInterval: time.Hour, Budget: budget}) // flushed by the benchmark
	if err != nil {
		b.Fatal(err)
	}
	cb := &clusterBench{s: s, rng: rand.New(rand.NewPCG(14, 2)), views: views}
	cb.ms = make([]wire.Marker, n)
	us := make([]Update, 0, 10_000)
	for i := range cb.ms {
		cb.ms[i] = wire.Marker{ID: fmt.Sprint("v", i), Layer: "vehicles", Pos: wire.Quantize(geo.Pt(
			region.West+cb.rng.Float64()*(region.East-region.West), region.South+cb.rng.Float64()*(region.North-region.South)))}
		us = append(us, Update{Marker: cb.ms[i]})
		if len(us) == cap(us) || i == n-1 {
			if err := s.Apply(us); err != nil {
				b.Fatal(err)
			}
			us = us[:0]
		}
	}
	for _, v := range views {
		c := idleConn(s)
		s.conns[c] = struct{}{}
		if err := s.setView(c, v); err != nil {
			b.Fatal(err)
		}
		if !c.views[0].clustered() {
			b.Fatalf("view %+v is not in cluster mode", v)
		}
	}
	return cb
}

// steps returns updates moving k random markers about 50 m each (a fleet's
// vehicles reporting every few seconds).
func (cb *clusterBench) steps(k int) []Update {
	us := make([]Update, k)
	for i := range us {
		j := cb.rng.IntN(len(cb.ms))
		m := &cb.ms[j]
		m.Pos = wire.Quantize(geo.Pt(m.Pos.Lon+(cb.rng.Float64()-0.5)*9e-4, max(-85, min(85, m.Pos.Lat+(cb.rng.Float64()-0.5)*9e-4))))
		us[i] = Update{Marker: *m}
	}
	return us
}

// europeViews returns n views of a 1024 × 640 screen at zoom over Europe.
func europeViews(n int, zoom float64, rng *rand.Rand) []wire.View {
	// 640 px of Mercator at latitude 50° span about 0.4 of the degrees
	// 1024 px span in longitude.
	w := 1024 * 360 / (256 * float64(int(1)<<int(zoom)))
	h := 0.4 * w
	vs := make([]wire.View, n)
	for i := range vs {
		west, south := -10+rng.Float64()*max(40-w, 0), 36+rng.Float64()*max(24-h, 0)
		vs[i] = wire.View{Box: geo.BBox(west, south, min(west+w, 180), min(south+h, 85)), Zoom: zoom}
	}
	return vs
}

// BenchmarkMergedClusterMove measures what keeping merged clusters costs a
// marker move, amortised, with 1M markers (in Europe): the move through
// Apply in batches of 1,000, and every 100 batches (100,000 moves, a
// ClusterInterval at a million moves a second) the flush that merges the
// touched sets again and diffs their views. "no-views": no view in cluster
// mode (the store's move alone); "100-views": 100 views at zooms 5–8,
// "shared" as the server runs (a flush gathers each tile's cells once for
// the sets that read it) and "unshared" (each set walks its own: before),
// on one store in turns. The goal: ≤ 1 µs a move over no-views.
// flush-cpu-ns/move is the flushes' CPU time alone (this thread's clock),
// per move: the upkeep without the machine's load.
func BenchmarkMergedClusterMove(b *testing.B) {
	region := geo.BBox(-10, 36, 30, 60)
	for _, tc := range []struct {
		name  string
		views int
	}{{"no-views", 0}, {"100-views", 100}} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 3))
			var views []wire.View
			for z := 5.0; z <= 8 && tc.views > 0; z++ {
				views = append(views, europeViews(tc.views/4, z, rng)...)
			}
			cb := newClusterBench(b, 1_000_000, 0, region, views)
			const batch, perFlush = 1000, 100
			batches := make([][]Update, 16)
			for i := range batches {
				batches[i] = cb.steps(batch)
			}
			run := func(b *testing.B) {
				// The flushes' CPU time, read from this thread's clock:
				// unlike ns/move, it does not grow with the machine's load.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				// A flush first, as a running server has had: the timed
				// flushes are the steady state, not the first after setup.
				cb.s.mu.Lock()
				cb.s.flushClustersLocked()
				cb.s.mu.Unlock()
				runtime.GC() // not the collection the setup left due
				b.ResetTimer()
				moves := 0
				var flushCPU int64
				for i := 0; moves < b.N; i++ {
					if err := cb.s.Apply(batches[i%len(batches)]); err != nil {
						b.Fatal(err)
					}
					moves += batch
					if i%perFlush == perFlush-1 {
						start := threadCPU()
						cb.s.mu.Lock()
						cb.s.flushClustersLocked()
						cb.s.mu.Unlock()
						flushCPU += threadCPU() - start
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(moves), "ns/move")
				b.ReportMetric(float64(flushCPU)/float64(moves), "flush-cpu-ns/move")
				b.ReportMetric(0, "ns/op")
			}
			if tc.views == 0 {
				run(b)
				return
			}
			for _, shared := range []bool{true, false} {
				b.Run(map[bool]string{true: "shared", false: "unshared"}[shared], func(b *testing.B) {
					shareGathers = shared
					defer func() { shareGathers = true }()
					run(b)
				})
			}
		})
	}
}

// tileClusterZoom is the tile clusters' zoom policy before merged
// clusters (the baseline): the view's zoom + 3, lowered while the tiles
// touching the view are more than budget.
func tileClusterZoom(v wire.View, budget, maxZoom int) int {
	z := min(int(v.Zoom)+3, maxZoom)
	for z > 0 && geo.CountTilesTouching(v.Box, z) > uint64(budget) {
		z--
	}
	return max(z, 0)
}

// BenchmarkClusterOpsPerClient compares, in one run, the cluster ops a
// client in cluster mode receives per second under a fleet-like feed:
// 200k vehicles over Europe, 10,000 of them stepping about 50 m in each of
// 20 batches a second, 100 clients each with one view at zoom 5–10, the
// budget 100 (so that every view is in cluster mode).
// "tiles": the tile clusters before (one op per tile of the view's cluster
// zoom that a batch changed: the batch reaches a client as one frame,
// coalesced by tile); "merged": the merged clusters, re-merged every
// ClusterInterval (100 ms, every second batch), one op per cluster that
// changed or went. The figure: ops/client/s (lower is better; the goal is
// merged ≤ tiles).
func BenchmarkClusterOpsPerClient(b *testing.B) {
	region := geo.BBox(-10, 36, 30, 60)
	rng := rand.New(rand.NewPCG(5, 5))
	var views []wire.View
	for z := 5.0; z <= 10; z++ {
		views = append(views, europeViews(17, z, rng)...)
	}
	views = views[:100]
	const batchesPerSec, stepsPerBatch = 20, 10_000
	for _, way := range []string{"tiles", "merged"} {
		b.Run(way, func(b *testing.B) {
			cb := newClusterBench(b, 200_000, 100, region, views)
			cz := make([]int, len(views))
			for i, v := range views {
				cz[i] = tileClusterZoom(v, 100, 14)
			}
			start := cb.s.counters.delivered.Load()
			var ops int64
			seconds := 0
			for b.Loop() {
				for i := range batchesPerSec {
					us := cb.steps(stepsPerBatch)
					if way == "tiles" {
						// Each moved marker changes the tile it left and the
						// one it entered, per view that shows them.
						touched := make(map[[2]int]geo.Tile)
						for _, u := range us {
							old := cb.s.store.Get(u.Marker.ID).Marker.Pos
							for vi, v := range views {
								for _, p := range []geo.Point{old, u.Marker.Pos} {
									// Tiles near the view only (a tile's width around it).
									d := 360 / float64(int(1)<<cz[vi])
									if p.Lon < v.Box.West-d || p.Lon > v.Box.East+d || p.Lat < v.Box.South-d || p.Lat > v.Box.North+d {
										continue
									}
									t := geo.TileOf(p, cz[vi])
									if geo.Intersects(t.Bounds(), v.Box) {
										touched[[2]int{vi, int(t.X)<<32 | int(t.Y)}] = t
									}
								}
							}
						}
						ops += int64(len(touched))
					}
					if err := cb.s.Apply(us); err != nil {
						b.Fatal(err)
					}
					cb.s.mu.Lock()
					if way == "merged" && i%2 == 1 {
						cb.s.flushClustersLocked()
					}
					if way == "tiles" {
						cb.s.clusterDirty = cb.s.clusterDirty[:0] // no merged clusters sent
					}
					cb.s.mu.Unlock()
				}
				seconds++
			}
			if way == "merged" {
				ops = cb.s.counters.delivered.Load() - start
			}
			b.ReportMetric(float64(ops)/float64(seconds)/float64(len(views)), "ops/client/s")
		})
	}
}
