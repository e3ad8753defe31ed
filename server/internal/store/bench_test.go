package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

// BenchmarkClusterMove measures keeping the cluster counts up to date for
// one marker move of about 50 m, among 100k markers world-wide, at every
// zoom from 0 to ClusterZoom (14): "move" changes the sums of the cells up
// the marker's chain in place when the step stays in its finest tile (the
// server's way); the baseline "in-out" counts the marker into the cells
// of its new position (a lookup per zoom) and out of the old ones.
func BenchmarkClusterMove(b *testing.B) {
	for _, way := range []string{"move", "in-out"} {
		b.Run(way, func(b *testing.B) {
			ci := newClusterIndex(14)
			rng := rand.New(rand.NewPCG(7, 8))
			pts := make([]geo.Point, 100_000)
			cells := make([]finest, len(pts))
			for i := range pts {
				pts[i] = geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85)
				cells[i] = ci.in("vehicles", pts[i])
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				j := i % len(pts)
				old := pts[j]
				pts[j] = geo.Pt(old.Lon+(rng.Float64()-0.5)*1e-3, max(-85, min(85, old.Lat+(rng.Float64()-0.5)*1e-3)))
				if way == "move" {
					cells[j] = ci.move("vehicles", cells[j], old, pts[j])
				} else {
					c := ci.in("vehicles", pts[j])
					ci.out("vehicles", cells[j].cell, old)
					cells[j] = c
				}
				i++
			}
		})
	}
}

// BenchmarkMergedClustersWorld measures building the merged clusters of a
// world view over 1M markers (uniform world-wide) at zooms 0 to 3 (a world
// view on a 1024-px map is zoom 1 to 2). The goal: ≤ 5 ms.
func BenchmarkMergedClustersWorld(b *testing.B) {
	st := New(14)
	rng := rand.New(rand.NewPCG(7, 9))
	for range 1_000_000 {
		p := geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85)
		st.clusters.in("vehicles", p)
	}
	world := geo.BBox(-180, -85.06, 180, 85.06)
	for _, z := range []int{0, 1, 2, 3} {
		b.Run(fmt.Sprint("z", z), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.MergedClusters(world, z, nil, nil)
			}
		})
	}
}
