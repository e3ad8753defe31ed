package store

import (
	"math"
	"slices"

	"github.com/pushmap/pushmap/geo"
)

// Merged clusters. The cells of the cluster index sit on the tile lattice:
// a dense blob on a tile corner is cut into four. MergedClusters builds
// clusters the way supercluster draws them instead — no two closer than a
// screen radius at the view's zoom, each centred on its points — from the
// exact cell sums at a finer zoom (mergeDepth zooms finer than the view),
// so a marker move still costs only the cell chain update, and the counts
// stay exact: every cell goes whole into exactly one cluster.

const (
	// MergeRadius is the screen distance, in pixels of a MergeExtent-pixel
	// tile, within which cells merge: supercluster's defaults (radius 40,
	// extent 512), so that the clusters compare with its.
	MergeRadius = 40
	// MergeExtent is the tile size, in pixels, MergeRadius is measured in.
	MergeExtent = 512
	// mergeDepth is how many zooms finer than the view the merged cells
	// are: at 5 a cell is 16 px of a 512-px tile, well under the radius
	// (at 4, 32 px, the clusters of a world view at zoom 0 number 0.82 of
	// supercluster's on the antimeridian set; at 5, 0.96–1.04).
	mergeDepth = 5
)

// A MergedCluster is a group of markers no closer than MergeRadius to
// another group at its zoom.
type MergedCluster struct {
	// ID is the key of the cell that seeded it (its densest cell), stable
	// while that cell stays the densest of its neighbourhood.
	ID    uint64
	Count uint64    // markers it holds, exactly
	At    geo.Point // their centroid (Web Mercator mean of its cells' centroids, weighted)
	// ExpansionZoom is the lowest zoom at which its cells' centroids are
	// no longer all within the radius of its centre (at least the view's
	// zoom + 1): the zoom to fly to on a click.
	ExpansionZoom int
	members       []uint64 // keys of its cells (tests)
}

// mergeUnit is one cell's aggregate in the merge.
type mergeUnit struct {
	key  uint64
	n    uint64
	x, y float64 // Web Mercator centroid in the unit square
}

// radiusAt is MergeRadius in world units (the world is 1 wide) at zoom z.
func radiusAt(z int) float64 { return MergeRadius / (MergeExtent * math.Exp2(float64(z))) }

// MergedClusters returns the merged clusters of the markers whose layer is
// in ls (nil: every layer) in the cells at zoom min(zoom+5, cluster zoom)
// that intersect box — a cluster may hold markers up to one such cell
// outside box, and none beyond. With grant not nil, only cells wholly
// inside grant count (looked at down to edgeZooms finer), as ClusterIn.
func (st *Store) MergedClusters(box geo.Box, zoom int, ls LayerSet, grant *geo.Box) []MergedCluster {
	ci := st.clusters
	zoom = min(max(zoom, 0), geo.MaxZoom)
	fz := min(zoom+mergeDepth, ci.maxZoom)
	// From the root down through the cells that hold markers: a view's
	// covering tiles at a fine zoom can be millions, its non-empty cells
	// are at most its markers.
	units := ci.gather(geo.Tile{}, ls, box, grant, fz, false, grant == nil, nil)
	return mergeUnits(units, zoom)
}

// gather appends to units the cells of t and its descendants at zoom fz
// that intersect box and hold markers (for a grant, as sumInside).
// inBox and inGrant tell that t's parent lies wholly inside box and grant:
// then t does too, and its bounds are not computed.
func (ci *clusterIndex) gather(t geo.Tile, ls LayerSet, box geo.Box, grant *geo.Box, fz int, inBox, inGrant bool, units []mergeUnit) []mergeUnit {
	if !inBox || !inGrant {
		b := t.Bounds()
		if !inBox {
			if !geo.Intersects(b, box) {
				return units
			}
			inBox = geo.Within(b, box)
		}
		if !inGrant {
			if !geo.Intersects(b, *grant) {
				return units
			}
			inGrant = geo.Within(b, *grant)
		}
	}
	inside := inGrant
	k := cellKey(int(t.Z), t.X, t.Y)
	var n uint64
	var lon, lat float64
	for layer, levels := range ci.layers {
		if !ls.Has(layer) {
			continue
		}
		if c := levels[t.Z][k]; c != nil {
			n += c.n
			lon += c.lon
			lat += c.lat
		}
	}
	if n == 0 {
		return units
	}
	if inside && int(t.Z) >= fz {
		lon, lat = lon/float64(n), lat/float64(n)
		return append(units, mergeUnit{key: k, n: n, x: (lon + 180) / 360, y: geo.MercatorY(lat)})
	}
	if !inside && int(t.Z) >= min(fz+edgeZooms, ci.maxZoom) {
		return units // straddles the grant's edge at the finest zoom looked at
	}
	for _, child := range t.Children() {
		units = ci.gather(child, ls, box, grant, fz, inBox, inGrant, units)
	}
	return units
}

// wrapDX returns the x distance from a to b the short way round the
// antimeridian, signed.
func wrapDX(a, b float64) float64 {
	d := b - a
	if d > 0.5 {
		d--
	} else if d < -0.5 {
		d++
	}
	return d
}

// grid indexes positions in squares at least r wide, wrapping in x.
type grid struct {
	cols  int64
	size  float64
	cells map[[2]int64][]int32
}

func newGrid(r float64) *grid {
	cols := max(int64(1/r), 1)
	return &grid{cols: cols, size: 1 / float64(cols), cells: make(map[[2]int64][]int32)}
}

func (g *grid) square(x, y float64) [2]int64 {
	cx := int64(math.Floor(x/g.size)) % g.cols
	if cx < 0 {
		cx += g.cols
	}
	return [2]int64{cx, int64(math.Floor(y / g.size))}
}

func (g *grid) add(x, y float64, i int32) {
	s := g.square(x, y)
	g.cells[s] = append(g.cells[s], i)
}

// near calls fn with every index in the 3×3 squares around (x, y).
func (g *grid) near(x, y float64, fn func(int32)) {
	s := g.square(x, y)
	for dx := int64(-1); dx <= 1; dx++ {
		cx := ((s[0]+dx)%g.cols + g.cols) % g.cols
		if g.cols < 3 && dx != 0 && cx == s[0] {
			continue
		}
		for dy := int64(-1); dy <= 1; dy++ {
			for _, i := range g.cells[[2]int64{cx, s[1] + dy}] {
				fn(i)
			}
		}
	}
}

// building is a cluster being merged.
type building struct {
	seed    mergeUnit
	n       uint64
	sx, sy  float64 // sums of n·(x relative to seed.x), n·y
	cx, cy  float64 // centre, x relative to seed.x
	members []int32
	merged  bool // merged into another in the clean-up
}

// mergeUnits groups units greedily: densest first, each joins the nearest
// cluster whose seed is within the radius, else seeds one; then clusters
// whose centres ended closer than the radius merge, until none are.
func mergeUnits(units []mergeUnit, zoom int) []MergedCluster {
	r := radiusAt(zoom)
	slices.SortFunc(units, func(a, b mergeUnit) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		if a.key < b.key {
			return -1
		} else if a.key > b.key {
			return 1
		}
		return 0
	})
	var bs []*building
	g := newGrid(r)
	for ui, u := range units {
		best, bestD := int32(-1), r*r
		g.near(u.x, u.y, func(i int32) {
			s := bs[i].seed
			dx, dy := wrapDX(s.x, u.x), u.y-s.y
			if d := dx*dx + dy*dy; d <= bestD {
				if d < bestD || i < best {
					best, bestD = i, d
				}
			}
		})
		if best < 0 {
			best = int32(len(bs))
			bs = append(bs, &building{seed: u})
			g.add(u.x, u.y, best)
		}
		b := bs[best]
		w := float64(u.n)
		b.n += u.n
		b.sx += w * wrapDX(b.seed.x, u.x)
		b.sy += w * u.y
		b.members = append(b.members, int32(ui))
	}
	for _, b := range bs {
		b.cx, b.cy = b.sx/float64(b.n), b.sy/float64(b.n)
	}
	// Clean-up: centres moved towards their points may have come closer
	// than the radius; merge the smaller into the larger until none are.
	for merged := true; merged; {
		merged = false
		g = newGrid(r)
		for i, b := range bs {
			if !b.merged {
				g.add(wrapX(b.seed.x+b.cx), b.cy, int32(i))
			}
		}
		for i, b := range bs {
			if b.merged {
				continue
			}
			bx := wrapX(b.seed.x + b.cx)
			g.near(bx, b.cy, func(j int32) {
				o := bs[j]
				if int(j) <= i || o.merged || b.merged {
					return
				}
				dx, dy := wrapDX(bx, wrapX(o.seed.x+o.cx)), o.cy-b.cy
				if dx*dx+dy*dy >= r*r {
					return
				}
				// bs is in seeding order, densest seed first: i absorbs j.
				shift := wrapDX(b.seed.x, o.seed.x)
				b.sx += o.sx + float64(o.n)*shift
				b.sy += o.sy
				b.n += o.n
				b.members = append(b.members, o.members...)
				o.merged = true
				merged = true
			})
			b.cx, b.cy = b.sx/float64(b.n), b.sy/float64(b.n)
		}
	}
	out := make([]MergedCluster, 0, len(bs))
	for _, b := range bs {
		if b.merged {
			continue
		}
		x := wrapX(b.seed.x + b.cx)
		span := 0.0
		keys := make([]uint64, len(b.members))
		for i, m := range b.members {
			u := units[m]
			keys[i] = u.key
			dx, dy := wrapDX(x, u.x), u.y-b.cy
			span = max(span, math.Sqrt(dx*dx+dy*dy))
		}
		expand := zoom + 1
		if span > 0 {
			// radiusAt(z) < span from z = floor(log2(R/(E·span))) + 1.
			expand = max(expand, int(math.Floor(math.Log2(MergeRadius/(MergeExtent*span))))+1)
		}
		out = append(out, MergedCluster{
			ID: b.seed.key, Count: b.n, ExpansionZoom: min(expand, geo.MaxZoom),
			At:      geo.Pt(x*360-180, geo.LatFromMercatorY(b.cy)),
			members: keys,
		})
	}
	slices.SortFunc(out, func(a, b MergedCluster) int {
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// wrapX brings x into [0, 1).
func wrapX(x float64) float64 {
	x -= math.Floor(x)
	if x >= 1 {
		x = 0
	}
	return x
}
