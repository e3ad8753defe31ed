package store

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

// TestClusterIndexChains: after random small steps (inside a tile and
// across tile edges), jumps, layer changes and removals, every cell of the
// index holds exactly the markers a recount from scratch puts there, and
// no empty cell is left, each cell lists exactly its cells one zoom in;
// the arrays of the coarse zooms hold the same
// cells as the maps.
func TestClusterIndexChains(t *testing.T) {
	const maxZoom = 14
	type mk struct {
		layer string
		p     geo.Point
		c     finest
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ci := newClusterIndex(maxZoom)
	markers := map[int]*mk{}
	layers := []string{"cars", "bikes"}
	somewhere := func() geo.Point { return geo.Pt(2.2+rng.Float64()*0.3, 48.8+rng.Float64()*0.15) }
	for step := range 20000 {
		id := rng.IntN(300)
		m, ok := markers[id]
		switch r := rng.IntN(100); {
		case !ok:
			p := somewhere()
			l := layers[rng.IntN(2)]
			markers[id] = &mk{layer: l, p: p, c: ci.in(l, p)}
		case r < 80: // a step of up to about 100 m
			to := geo.Pt(m.p.Lon+(rng.Float64()-0.5)*0.002, m.p.Lat+(rng.Float64()-0.5)*0.002)
			m.c = ci.move(m.layer, m.c, m.p, to)
			m.p = to
		case r < 88: // a jump
			to := somewhere()
			m.c = ci.move(m.layer, m.c, m.p, to)
			m.p = to
		case r < 94: // a layer change, as the server does it
			l := layers[1-slices.Index(layers, m.layer)]
			c := ci.in(l, m.p)
			ci.out(m.layer, m.c.cell, m.p)
			m.layer, m.c = l, c
		default:
			ci.out(m.layer, m.c.cell, m.p)
			delete(markers, id)
		}
		if step%2000 != 1999 {
			continue
		}
		want := newClusterIndex(maxZoom)
		for _, m := range markers {
			want.in(m.layer, m.p)
		}
		for _, l := range layers {
			got, exp := ci.levels(l), want.levels(l)
			for z := range got {
				if len(got[z]) != len(exp[z]) {
					t.Fatalf("step %d, %s zoom %d: %d cells, want %d", step, l, z, len(got[z]), len(exp[z]))
				}
				for k, w := range exp[z] {
					g := got[z][k]
					if g == nil || g.n != w.n || math.Abs(g.lon-w.lon) > 1e-6 || math.Abs(g.lat-w.lat) > 1e-6 {
						t.Fatalf("step %d, %s zoom %d cell %x: %+v, want %+v", step, l, z, k, g, w)
					}
					if z > 0 && (g.up == nil || g.up != got[z-1][w.up.key]) {
						t.Fatalf("step %d, %s zoom %d cell %x: not linked to the cell one zoom out", step, l, z, k)
					}
					// Its list of cells one zoom in: exactly the cells
					// whose up it is.
					kids := 0
					for c := g.child; c != nil; c = c.sibling {
						if c.up != g || z+1 >= len(got) || got[z+1][c.key] != c {
							t.Fatalf("step %d, %s zoom %d cell %x: child %x is not its cell one zoom in", step, l, z, k, c.key)
						}
						kids++
					}
					if z+1 < len(got) {
						want := 0
						for _, c := range got[z+1] {
							if c.up == g {
								want++
							}
						}
						if kids != want {
							t.Fatalf("step %d, %s zoom %d cell %x: %d cells in its list, want %d", step, l, z, k, kids, want)
						}
					}
				}
				// The coarse zooms' arrays: the map's cells, every other
				// slot empty.
				if z <= denseZoom {
					held := 0
					for i := range ci.dense[l][z] {
						if c := &ci.dense[l][z][i]; c.n > 0 {
							held++
							if got[z][c.key] != c {
								t.Fatalf("step %d, %s zoom %d: array cell %x is not the map's", step, l, z, c.key)
							}
						}
					}
					if held != len(got[z]) {
						t.Fatalf("step %d, %s zoom %d: %d cells in the array, %d in the map", step, l, z, held, len(got[z]))
					}
				}
			}
		}
	}
}
