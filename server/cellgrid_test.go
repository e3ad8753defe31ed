package server

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
)

// TestCellAtMatchesIndex builds batches whose cells are dense (a table),
// sparse (markers far apart) and on both sides of the antimeridian (the
// map), and checks that cellAt answers as the map does for every cell in
// and around the batch's bounds.
func TestCellAtMatchesIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		box   geo.Box
		jobs  int
		table bool
	}{
		{"dense", geo.BBox(2.2, 48.8, 2.5, 48.95), 2000, true},
		{"sparse", geo.BBox(-170, -60, 170, 60), 50, false},
		{"antimeridian", geo.BBox(179.5, 10, -179.5, 11), 500, false},
		{"one", geo.BBox(2.3, 48.85, 2.3, 48.85), 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var b batchCells
			b.w, b.h = 0.03, 0.02
			for round := range 3 { // memory used again
				pt := func() geo.Point {
					w := tc.box.East - tc.box.West
					if w < 0 {
						w += 360
					}
					return geo.Pt(geo.WrapLon(tc.box.West+rng.Float64()*w), tc.box.South+rng.Float64()*(tc.box.North-tc.box.South))
				}
				jobs := make([]fanJob, tc.jobs)
				for i := range jobs {
					jobs[i] = fanJob{key: outbox.KeyOf(fmt.Sprint("m", round, "-", i)), at: pt(), moved: i%3 == 0, from: pt()}
				}
				b.reset()
				b.build(jobs)
				if got := b.gcols > 0; got != tc.table {
					t.Fatalf("round %d: table %v, want %v (%d cells)", round, got, tc.table, len(b.xy))
				}
				x0, y0, x1, y1 := b.bounds()
				if !tc.table {
					x0, x1 = x1-40, x1+2 // a slice of the bounds: they span the world
				}
				for x := int64(x0) - 2; x <= int64(x1)+2; x++ {
					for y := int64(y0) - 2; y <= int64(y1)+2; y++ {
						want, wantOK := b.index[cellKey(x, y)]
						got, ok := b.cellAt(x, y)
						if ok != wantOK || ok && got != want {
							t.Fatalf("round %d: cellAt(%d, %d) = %d, %v; the map: %d, %v", round, x, y, got, ok, want, wantOK)
						}
					}
				}
			}
		})
	}
}
