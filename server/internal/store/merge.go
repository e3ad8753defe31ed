package store

import (
	"cmp"
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
	// ID names the cell that seeded it (its densest cell): the cell's
	// zoom<<48 | x<<24 | y, below 2^53 so that a JavaScript number holds
	// it exactly. Stable while that cell stays the densest of its
	// neighbourhood.
	ID    uint64
	Count uint64    // markers it holds, exactly
	At    geo.Point // their centroid (Web Mercator mean of its cells' centroids, weighted)
	// ExpansionZoom is the lowest zoom at which its cells' centroids are
	// no longer all within the radius of its centre (at least the view's
	// zoom + 1): the zoom to fly to on a click.
	ExpansionZoom int
	// Covers is a box holding every cell of the cluster (their centroids
	// widened by a cell): a view meets the cluster when it meets Covers.
	Covers geo.Box
	// Lone, on a cluster of Count 1, is the id of its one marker: an
	// isolated marker, which a client draws as itself (empty when no
	// marker was found, which cannot happen while the cells count the
	// store's markers).
	Lone    string
	members []uint64 // keys of its cells, when keepMembers (tests)
}

// keepMembers makes MergedClusters fill MergedCluster.members (tests).
var keepMembers bool

// mergeUnit is one cell's aggregate in the merge.
type mergeUnit struct {
	key  uint64
	n    uint64
	x, y float64 // Web Mercator centroid in the unit square
}

// radiusAt is MergeRadius in world units (the world is 1 wide) at zoom z.
func radiusAt(z int) float64 { return MergeRadius / (MergeExtent * math.Exp2(float64(z))) }

// MergeCellZoom returns the zoom of the cells the clusters of a view at
// zoom are merged from in a store with cluster zoom maxZoom.
func MergeCellZoom(zoom, maxZoom int) int {
	return min(min(max(zoom, 0), geo.MaxZoom)+mergeDepth, maxZoom)
}

// MergedClusters returns the merged clusters of the markers whose layer is
// in ls (nil: every layer) in the cells at zoom min(zoom+5, cluster zoom)
// that intersect box — a cluster may hold markers up to one such cell
// outside box, and none beyond. With grant not nil, only cells wholly
// inside grant count (looked at down to edgeZooms finer), as ClusterIn.
// The clusters come sorted by ID.
func (st *Store) MergedClusters(box geo.Box, zoom int, ls LayerSet, grant *geo.Box) []MergedCluster {
	ci := st.clusters
	zoom = min(max(zoom, 0), geo.MaxZoom)
	sc := &st.merge
	g := gathering{box: box, grant: grant, fz: MergeCellZoom(zoom, ci.maxZoom), edge: min(MergeCellZoom(zoom, ci.maxZoom)+edgeZooms, ci.maxZoom),
		layers: sc.layers[:0], units: sc.units[:0], stack: sc.stack[:0]}
	for layer, levels := range ci.layers {
		if ls.Has(layer) {
			g.layers = append(g.layers, gatherLayer{levels, ci.dense[layer]})
		}
	}
	// From the root down through the cells that hold markers: a view's
	// covering tiles at a fine zoom can be millions, its non-empty cells
	// are at most its markers.
	g.start(geo.Tile{}, grant == nil)
	sc.layers, sc.units, sc.stack = g.layers[:0], g.units, g.stack[:0]
	units, uz := st.pointUnits(g.units, zoom, ls)
	return st.findLone(sc.mergeUnits(units, zoom, uz), ls)
}

// maxPointUnits is the most markers a merge takes one by one (see
// pointUnits): past it, a view finer than the cluster zoom − mergeDepth
// is merged from the cells of the cluster zoom, which bounds a merge's
// cost for a view over a dense city at street zoom.
const maxPointUnits = 1 << 15

// pointUnitsMaxZoom is the finest zoom of the cells that name point units
// (IDs hold x and y in 24 bits each).
const pointUnitsMaxZoom = 24

// pointUnits returns the units a merge at zoom works on and their zoom:
// units, cells of the cluster zoom, as they are while those cells are
// finer than the view's zoom + mergeDepth; beyond, where a cell of the
// cluster zoom is wider than the radius and would keep a dense blob as
// one cluster per cell, each cell's markers of the layers ls one by one
// (when they number at most maxPointUnits), each named by its cell at
// zoom + mergeDepth and in the Z-order of those cells, so that tiles
// gathered one by one and a walk from the root give the same units. Every
// marker of the cells, none other: counts stay exact.
func (st *Store) pointUnits(units []mergeUnit, zoom int, ls LayerSet) ([]mergeUnit, int) {
	ci := st.clusters
	pz := zoom + mergeDepth
	if pz <= ci.maxZoom {
		return units, pz
	}
	if pz > pointUnitsMaxZoom {
		return units, ci.maxZoom
	}
	total := uint64(0)
	for _, u := range units {
		total += u.n
	}
	if total > maxPointUnits {
		return units, ci.maxZoom
	}
	sc := &st.merge
	out := sc.points[:0]
	for _, u := range units {
		x, y := cellXY(u.key)
		from := len(out)
		st.Search(markersBox(geo.Tile{Z: uint8(ci.maxZoom), X: x, Y: y}), func(rec *Record) bool {
			if rec.cell.cell.key != u.key || !ls.Has(rec.Marker.Layer) {
				return true
			}
			p := rec.Marker.Pos
			pt := geo.TileOf(p, pz)
			out = append(out, mergeUnit{key: cellKey(pz, pt.X, pt.Y), n: 1, x: (p.Lon + 180) / 360, y: geo.MercatorY(p.Lat)})
			return true
		})
		if uint64(len(out)-from) != u.n {
			// Not the cell's markers (cannot happen while the cells
			// count the store's markers): the cell whole keeps the
			// counts exact.
			out = append(out[:from], u)
			continue
		}
		slices.SortFunc(out[from:], func(a, b mergeUnit) int {
			ax, ay := cellXY(a.key)
			bx, by := cellXY(b.key)
			if c := cmpMorton(ax, ay, bx, by); c != 0 {
				return c
			}
			if c := cmp.Compare(a.x, b.x); c != 0 {
				return c
			}
			return cmp.Compare(a.y, b.y)
		})
	}
	sc.points = out
	return out, pz
}

// A GatherShare lets the merges of one flush share the cells they gather:
// sets of one merge zoom and one layer set and grant whose regions overlap
// read the same tiles, and each tile's cells are gathered once (a walk of
// the cell maps, most of a merge's time) and copied for the others. Reset
// it when the cells may have changed (before each flush); the zero value
// is ready to use.
//
// It also keeps, between flushes, the cells each tile's walk found (for
// one layer and no grant): while no cell below the tile was made or
// dropped since (its cell's stamp), the next flush reads their sums
// through those pointers instead of walking the tree again.
type GatherShare struct {
	at    map[shareKey][2]int // a tile's cells: units[at[0]:at[1]]
	units []mergeUnit
	found map[shareKey]*tileCells
	flush uint64
}

// tileCells is what a walk of one tile found: the tile's cell and its
// stamp then, and the cells at the merge's zoom in the walk's order.
type tileCells struct {
	top   *cell
	stamp uint64
	cells []*cell
	flush uint64 // the last flush that read it
}

// shareKey names the cells of one tile as a group of merges reads them.
type shareKey struct {
	group string
	fz    int
	tile  geo.Tile
}

// Reset forgets the cells gathered, keeping the memory.
func (sh *GatherShare) Reset() {
	clear(sh.at)
	sh.units = sh.units[:0]
	for k, tc := range sh.found {
		if tc.flush != sh.flush {
			delete(sh.found, k) // a tile no set read in the last flush
		}
	}
	sh.flush++
}

// regionHair shrinks a region of tiles so that its merge reads the cells
// of its tiles, not those of the neighbours that touch its edges.
const regionHair = 1e-9

// maxRegionTiles is the most tiles MergedClustersOfTiles lists; a larger
// region (a view far larger than its zoom's screen) is walked from the
// root, unshared.
const maxRegionTiles = 1024

// MergedClustersOfTiles returns MergedClusters of the region made of the
// tiles X0..X1 (wrapping round the antimeridian when X0 > X1), Y0..Y1 at
// zoom tz, shrunk by a hair (the cells of those tiles, none of their
// neighbours'), with the same layers ls and grant as MergedClusters. With
// share not nil, each tile's cells are read from it when a call with the
// same group (a name the caller gives one pair of ls and grant) gathered
// them since its last Reset. The clusters equal MergedClusters' of the
// shrunk region: the tiles' cells are concatenated in the order the walk
// from the root finds them (the Z-order of the tiles).
func (st *Store) MergedClustersOfTiles(zoom, tz int, x0, x1, y0, y1 uint32, ls LayerSet, grant *geo.Box, group string, share *GatherShare) []MergedCluster {
	ci := st.clusters
	zoom = min(max(zoom, 0), geo.MaxZoom)
	fz := MergeCellZoom(zoom, ci.maxZoom)
	w := geo.Tile{Z: uint8(tz), X: x0, Y: y0}.Bounds()
	e := geo.Tile{Z: uint8(tz), X: x1, Y: y1}.Bounds()
	region := geo.Box{West: w.West + regionHair, North: w.North - regionHair, East: e.East - regionHair, South: e.South + regionHair}
	n := uint32(1) << tz
	if tz > fz || tz < 0 || uint64((x1-x0+n)%n+1)*uint64(y1-y0+1) > maxRegionTiles {
		// Tiles finer than the cells merged (a cell straddles tiles), or
		// too many tiles to list.
		return st.MergedClusters(region, zoom, ls, grant)
	}
	sc := &st.merge
	tiles := sc.tiles[:0]
	for x := x0; ; x = (x + 1) % n {
		for y := y0; y <= y1; y++ {
			tiles = append(tiles, geo.Tile{Z: uint8(tz), X: x, Y: y})
		}
		if x == x1 {
			break
		}
	}
	// The walk from the root visits children x, then y: Z-order.
	slices.SortFunc(tiles, func(a, b geo.Tile) int { return cmpMorton(a.X, a.Y, b.X, b.Y) })
	sc.tiles = tiles
	g := gathering{grant: grant, fz: fz, edge: min(fz+edgeZooms, ci.maxZoom), layers: sc.layers[:0], units: sc.units[:0], stack: sc.stack[:0]}
	for layer, levels := range ci.layers {
		if ls.Has(layer) {
			g.layers = append(g.layers, gatherLayer{levels, ci.dense[layer]})
		}
	}
	if share != nil && share.at == nil {
		share.at = make(map[shareKey][2]int)
	}
	for _, t := range tiles {
		if share == nil {
			g.box = t.Bounds()
			g.start(t, grant == nil)
			continue
		}
		k := shareKey{group, fz, t}
		span, ok := share.at[k]
		if !ok {
			from := len(g.units)
			if len(g.layers) == 1 && grant == nil && fz-tz <= stampDepth {
				g.startFound(t, k, share)
			} else {
				g.box = t.Bounds()
				g.start(t, grant == nil)
			}
			share.units = append(share.units, g.units[from:]...)
			share.at[k] = [2]int{len(share.units) - (len(g.units) - from), len(share.units)}
			continue
		}
		g.units = append(g.units, share.units[span[0]:span[1]]...)
	}
	sc.layers, sc.units, sc.stack = g.layers[:0], g.units, g.stack[:0]
	units, uz := st.pointUnits(g.units, zoom, ls)
	return st.findLone(sc.mergeUnits(units, zoom, uz), ls)
}

// findLone sets the Lone of each cluster of count 1 among cs, merged from
// the markers of layers ls, and returns cs. Such a cluster is one unit,
// the cell its ID names: the marker of ls in that cell (for a cell finer
// than the cluster zoom, one of the markers merged one by one, the one at
// the cluster's position). One search of the point index per isolated
// marker: dense views have next to none.
func (st *Store) findLone(cs []MergedCluster, ls LayerSet) []MergedCluster {
	mz := st.clusters.maxZoom
	for i := range cs {
		c := &cs[i]
		if c.Count != 1 {
			continue
		}
		t := tileOfJSID(c.ID)
		// The finest cell (at the cluster zoom) the unit's markers are in.
		fx, fy := t.X, t.Y
		if int(t.Z) > mz {
			fx, fy = t.X>>(int(t.Z)-mz), t.Y>>(int(t.Z)-mz)
		}
		best, bestD := "", math.Inf(1)
		st.Search(markersBox(t), func(rec *Record) bool {
			if !ls.Has(rec.Marker.Layer) {
				return true
			}
			kx, ky := cellXY(rec.cell.cell.key)
			if int(t.Z) <= mz {
				kx, ky = kx>>(mz-int(t.Z)), ky>>(mz-int(t.Z))
				if kx != t.X || ky != t.Y {
					return true
				}
			} else if kx != fx || ky != fy || geo.TileOf(rec.Marker.Pos, int(t.Z)) != t {
				return true
			}
			dx, dy := rec.Marker.Pos.Lon-c.At.Lon, rec.Marker.Pos.Lat-c.At.Lat
			if d := dx*dx + dy*dy; d < bestD || d == bestD && rec.Marker.ID < best {
				best, bestD = rec.Marker.ID, d
			}
			return true
		})
		c.Lone = best
	}
	return cs
}

// cmpMorton compares tiles of one zoom in Z-order (x the low bit of each
// pair, as Tile.Children orders them).
func cmpMorton(ax, ay, bx, by uint32) int {
	a, b := geo.ZOrder(ax, ay), geo.ZOrder(bx, by)
	if a < b {
		return -1
	} else if a > b {
		return 1
	}
	return 0
}

// mergeScratch is the memory one merge works in, kept by the store for
// the next (merges run one at a time, under the server's lock).
type mergeScratch struct {
	layers []gatherLayer
	stack  []*cell
	tiles  []geo.Tile
	units  []mergeUnit
	points []mergeUnit // units one per marker (pointUnits)
	order  []uint64
	radix  []uint64 // sortHigh's other buffer
	sorted []mergeUnit
	seedOf []int32
	next   []int32 // per unit, the next member of its cluster
	bs     []building
	g      grid
	near   []int32
	idx    []int32 // the clusters in the order of their ids
}

// gathering collects the cells a merge starts from.
type gathering struct {
	layers   []gatherLayer // the layers read
	box      geo.Box
	grant    *geo.Box
	fz, edge int // the zoom of the cells merged; the finest looked at along a grant's edge
	units    []mergeUnit
	stack    []*cell // the cells of the tiles being walked (see walk)
	// With record, found gets the cell of each unit appended (one
	// layer: startFound).
	found  []*cell
	record bool
}

// gatherLayer is one layer's cells: by zoom, and in arrays to denseZoom.
type gatherLayer struct {
	levels []map[uint64]*cell
	dense  [][]cell
}

// walk appends the cells of t and its descendants at zoom fz that
// intersect the box and hold markers (for a grant, as sumInside); cells
// are t's cell in each layer read (nil where the layer has none). It goes
// down the cells' lists of their cells one zoom in, never visiting an
// empty tile, in the order of geo.Tile.Children (the Z-order).
// inBox and inGrant tell that t's parent lies wholly inside box and grant:
// then t does too, and its bounds are not computed.
func (g *gathering) walk(t geo.Tile, cells []*cell, inBox, inGrant bool) {
	if !inBox || !inGrant {
		b := t.Bounds()
		if !inBox {
			if !geo.Intersects(b, g.box) {
				return
			}
			inBox = geo.Within(b, g.box)
		}
		if !inGrant {
			if !geo.Intersects(b, *g.grant) {
				return
			}
			inGrant = geo.Within(b, *g.grant)
		}
	}
	var n uint64
	var lon, lat float64
	for _, c := range cells {
		if c != nil && c.n > 0 {
			n += c.n
			lon += c.lon
			lat += c.lat
		}
	}
	if n == 0 {
		return
	}
	if inGrant && int(t.Z) >= g.fz {
		lon, lat = lon/float64(n), lat/float64(n)
		g.units = append(g.units, mergeUnit{key: cellKey(int(t.Z), t.X, t.Y), n: n, x: (lon + 180) / 360, y: geo.MercatorY(lat)})
		if g.record {
			g.found = append(g.found, cells[0])
		}
		return
	}
	if !inGrant && int(t.Z) >= g.edge {
		return // straddles the grant's edge at the finest zoom looked at
	}
	// The children's cells, per child then per layer, on a stack kept
	// between walks (a child's walk pushes past them).
	nl := len(cells)
	base := len(g.stack)
	g.stack = append(g.stack, make([]*cell, 4*nl)...)
	children := t.Children()
	if dz := int(t.Z) + 1; dz < len(g.layers[0].dense) {
		// The children are in the arrays: read where they lie (the
		// arrays are in the cache; the lists would point all over them).
		for i, child := range children {
			for li, l := range g.layers {
				if c := &l.dense[dz][child.Y<<dz|child.X]; c.n > 0 {
					g.stack[base+i*nl+li] = c
				}
			}
		}
	} else {
		for li, c := range cells {
			if c == nil {
				continue
			}
			for k := c.child; k != nil; k = k.sibling {
				g.stack[base+childIndex(k.key)*nl+li] = k
			}
		}
	}
	for i, child := range children {
		kids := g.stack[base+i*nl : base+(i+1)*nl]
		if slices.ContainsFunc(kids, func(c *cell) bool { return c != nil }) {
			g.walk(child, kids, inBox, inGrant)
		}
	}
	clear(g.stack[base:])
	g.stack = g.stack[:base]
}

// startFound is start for one layer and no grant, reading the cells the
// last walk of t found when none was made or dropped below t since.
func (g *gathering) startFound(t geo.Tile, k shareKey, share *GatherShare) {
	l := g.layers[0]
	var top *cell
	if int(t.Z) < len(l.dense) {
		top = &l.dense[t.Z][t.Y<<t.Z|t.X]
	} else if int(t.Z) < len(l.levels) {
		top = l.levels[t.Z][cellKey(int(t.Z), t.X, t.Y)]
	}
	if top == nil || top.n == 0 {
		return
	}
	if share.found == nil {
		share.found = make(map[shareKey]*tileCells)
	}
	tc := share.found[k]
	if tc != nil && tc.top == top && tc.stamp == top.stamp {
		tc.flush = share.flush
		for _, c := range tc.cells {
			lon, lat := c.lon/float64(c.n), c.lat/float64(c.n)
			g.units = append(g.units, mergeUnit{key: c.key, n: c.n, x: (lon + 180) / 360, y: geo.MercatorY(lat)})
		}
		return
	}
	if tc == nil {
		tc = &tileCells{}
		share.found[k] = tc
	}
	tc.top, tc.stamp, tc.flush = top, top.stamp, share.flush
	g.found, g.record = tc.cells[:0], true
	g.box = t.Bounds()
	g.start(t, true)
	tc.cells, g.found, g.record = g.found, nil, false
}

// start walks from tile t: its cell in each layer read, looked up once.
func (g *gathering) start(t geo.Tile, inGrant bool) {
	base := len(g.stack)
	k := cellKey(int(t.Z), t.X, t.Y)
	for _, l := range g.layers {
		var c *cell
		if int(t.Z) < len(l.dense) {
			c = &l.dense[t.Z][t.Y<<t.Z|t.X]
		} else if int(t.Z) < len(l.levels) {
			c = l.levels[t.Z][k]
		}
		g.stack = append(g.stack, c)
	}
	g.walk(t, g.stack[base:], false, inGrant)
	clear(g.stack[base:])
	g.stack = g.stack[:base]
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

// grid indexes positions in squares at least r wide, wrapping in x, over
// the squares the positions given to newGrid span: a flat array of list
// heads (no map, no allocation per square).
type grid struct {
	cols, rows int64   // squares round the world, and down it
	size       float64 // a square's side, at least r
	x0, y0     int64   // the first column (global, wrapping) and row held
	w, h       int64   // columns and rows held
	head       []int32 // per square held, its first index, -1 for none
	next       []int32 // per index, the next in its square
}

// maxGridSquares bounds a grid's array: past it, the squares grow (a
// square wider than r still finds every neighbour within r in its 3×3).
const maxGridSquares = 1 << 20

// reset makes g an empty grid of squares at least r wide over the
// positions xs, ys (x in [0, 1)).
func (g *grid) reset(r float64, xs, ys func(i int) float64, n int) {
	size := r
	for {
		g.cols = max(int64(1/size), 1)
		g.size = 1 / float64(g.cols)
		g.rows = int64(math.Ceil(1 / g.size))
		// Rows: min to max. Columns: min to max, or, when that is over
		// half the world, the same with columns shifted by half the world
		// (a region across the antimeridian), else all of them.
		rmin, rmax := int64(0), int64(0)
		xmin, xmax, smin, smax := g.cols, int64(-1), g.cols, int64(-1)
		half := g.cols / 2
		for i := range n {
			cx, cy := g.global(xs(i), ys(i))
			if i == 0 {
				rmin, rmax = cy, cy
			}
			rmin, rmax = min(rmin, cy), max(rmax, cy)
			xmin, xmax = min(xmin, cx), max(xmax, cx)
			sx := (cx + half) % g.cols
			smin, smax = min(smin, sx), max(smax, sx)
		}
		switch {
		case n == 0:
			g.x0, g.w = 0, 1
		case xmax-xmin+1 <= half+1:
			g.x0, g.w = xmin, xmax-xmin+1
		case smax-smin+1 <= half+1:
			g.x0, g.w = (smin-half+g.cols)%g.cols, smax-smin+1
		default:
			g.x0, g.w = 0, g.cols
		}
		g.y0, g.h = rmin, rmax-rmin+1
		if g.w*g.h <= maxGridSquares {
			break
		}
		size *= 2
	}
	sq := int(g.w * g.h)
	if cap(g.head) < sq {
		g.head = make([]int32, sq)
	}
	g.head = g.head[:sq]
	for i := range g.head {
		g.head[i] = -1
	}
	g.next = g.next[:0]
}

// global returns the column (in [0, cols)) and row of x, y.
func (g *grid) global(x, y float64) (int64, int64) {
	return g.wrapCol(int64(math.Floor(x / g.size))), int64(math.Floor(y / g.size))
}

// wrapCol brings column cx into [0, cols): a compare for the columns a
// position in [0, 1] or a neighbour's gives, a division only beyond (the
// divisions were a third of a merge's time).
func (g *grid) wrapCol(cx int64) int64 {
	switch {
	case cx >= 0 && cx < g.cols:
		return cx
	case cx < 0 && cx >= -g.cols:
		return cx + g.cols
	case cx >= g.cols && cx < 2*g.cols:
		return cx - g.cols
	}
	cx %= g.cols
	if cx < 0 {
		cx += g.cols
	}
	return cx
}

// square returns the index in head of global column cx, row cy, or -1
// when the grid does not hold it.
func (g *grid) square(cx, cy int64) int {
	lx := cx - g.x0 // cx and x0 in [0, cols)
	if lx < 0 {
		lx += g.cols
	}
	ly := cy - g.y0
	if lx >= g.w || ly < 0 || ly >= g.h {
		return -1
	}
	return int(ly*g.w + lx)
}

// add puts index i at x, y; indices are added in order 0, 1, 2, …
func (g *grid) add(x, y float64, i int32) {
	s := g.square(g.global(x, y))
	for int(i) >= len(g.next) {
		g.next = append(g.next, -1)
	}
	if s < 0 {
		return
	}
	g.next[i] = g.head[s]
	g.head[s] = i
}

// near appends to dst every index in the 3×3 squares around (x, y).
func (g *grid) near(x, y float64, dst []int32) []int32 {
	var heads [9]int32
	for _, h := range heads[:g.squares(x, y, &heads)] {
		for i := h; i >= 0; i = g.next[i] {
			dst = append(dst, i)
		}
	}
	return dst
}

// squares puts in heads the first index of each non-empty square of the
// 3×3 around (x, y), each square once, and returns how many.
func (g *grid) squares(x, y float64, heads *[9]int32) int {
	n := 0
	cx0, cy0 := g.global(x, y)
	for dx := int64(-1); dx <= 1; dx++ {
		cx := g.wrapCol(cx0 + dx)
		if g.cols < 3 && dx != 0 && cx == cx0 {
			continue
		}
		if g.cols == 2 && dx == 1 {
			continue // the column west of cx0 is the column east of it
		}
		for dy := int64(-1); dy <= 1; dy++ {
			s := g.square(cx, cy0+dy)
			if s < 0 || g.head[s] < 0 {
				continue
			}
			heads[n] = g.head[s]
			n++
		}
	}
	return n
}

// sortHigh sorts keys by their high 32 bits, stably (keys of equal high
// halves keep their order), with tmp (as long as keys) as the other
// buffer: a radix sort by bytes, skipping the bytes every key shares. It
// returns the sorted keys and the other buffer.
func sortHigh(keys, tmp []uint64) ([]uint64, []uint64) {
	for shift := uint(32); shift < 64; shift += 8 {
		var count [256]int
		for _, k := range keys {
			count[k>>shift&0xff]++
		}
		if len(keys) == 0 || count[keys[0]>>shift&0xff] == len(keys) {
			continue
		}
		at := 0
		for b, c := range count {
			count[b] = at
			at += c
		}
		for _, k := range keys {
			b := k >> shift & 0xff
			tmp[count[b]] = k
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	return keys, tmp
}

// building is a cluster being merged.
type building struct {
	seed        mergeUnit
	n           uint64
	sx, sy      float64 // sums of n·(x relative to seed.x), n·y
	cx, cy      float64 // centre, x relative to seed.x
	first, last int32   // its members, a list through mergeScratch.next
	merged      bool    // merged into another in the clean-up
}

// mergeUnits groups units (cells at zoom fz) greedily: densest first, each
// joins the nearest cluster whose seed is within the radius, else seeds
// one; then clusters whose centres ended closer than the radius merge,
// until none are.
func (sc *mergeScratch) mergeUnits(units []mergeUnit, zoom, fz int) []MergedCluster {
	r := radiusAt(zoom)
	// Densest first; ties in the order the walk found them (the
	// Z-order of the cells, a fixed order), through a radix sort of
	// uint64s whose low half, the index, is in order already.
	order := slices.Grow(sc.order[:0], len(units))[:len(units)]
	for i, u := range units {
		order[i] = uint64(math.MaxUint32-min(u.n, math.MaxUint32))<<32 | uint64(i)
	}
	sc.radix = slices.Grow(sc.radix[:0], len(units))[:len(units)]
	order, sc.radix = sortHigh(order, sc.radix)
	sorted := slices.Grow(sc.sorted[:0], len(units))[:len(units)]
	for i, o := range order {
		sorted[i] = units[uint32(o)]
	}
	units = sorted
	sc.order, sc.sorted = order, sorted
	bs := sc.bs[:0]
	g := &sc.g
	next := slices.Grow(sc.next[:0], len(units))[:len(units)]
	defer func() { sc.bs, sc.next = bs[:0], next }()
	// The seeds are not known before the pass: the grid holds the
	// positions of every unit, and near() keeps only seeds.
	g.reset(r, func(i int) float64 { return units[i].x }, func(i int) float64 { return units[i].y }, len(units))
	seedOf := slices.Grow(sc.seedOf[:0], len(units))[:len(units)] // unit → its cluster when it seeded one
	sc.seedOf = seedOf
	near := sc.near[:0]
	defer func() { sc.near = near[:0] }()
	for ui := range units {
		u := &units[ui]
		best, bestD := int32(-1), r*r
		var heads [9]int32
		for _, h := range heads[:g.squares(u.x, u.y, &heads)] {
			for j := h; j >= 0; j = g.next[j] {
				i := seedOf[j]
				s := &bs[i].seed
				dx, dy := wrapDX(s.x, u.x), u.y-s.y
				if d := dx*dx + dy*dy; d <= bestD {
					if d < bestD || i < best {
						best, bestD = i, d
					}
				}
			}
		}
		if best < 0 {
			best = int32(len(bs))
			bs = append(bs, building{seed: *u, first: int32(ui), last: int32(ui)})
			seedOf[ui] = best
			g.add(u.x, u.y, int32(ui))
		} else {
			next[bs[best].last] = int32(ui)
			bs[best].last = int32(ui)
		}
		next[ui] = -1
		b := &bs[best]
		w := float64(u.n)
		b.n += u.n
		b.sx += w * wrapDX(b.seed.x, u.x)
		b.sy += w * u.y
	}
	for i := range bs {
		b := &bs[i]
		b.cx, b.cy = b.sx/float64(b.n), b.sy/float64(b.n)
	}
	// Clean-up: centres moved towards their points may have come closer
	// than the radius; merge the smaller into the larger until none are.
	centreX := func(i int) float64 { return wrapX(bs[i].seed.x + bs[i].cx) }
	centreY := func(i int) float64 { return bs[i].cy }
	for merged := true; merged; {
		merged = false
		g.reset(r, centreX, centreY, len(bs))
		for i := range bs {
			if !bs[i].merged {
				g.add(centreX(i), bs[i].cy, int32(i))
			}
		}
		for i := range bs {
			b := &bs[i]
			if b.merged {
				continue
			}
			bx := wrapX(b.seed.x + b.cx)
			near = g.near(bx, b.cy, near[:0])
			for _, j := range near {
				o := &bs[j]
				if int(j) <= i || o.merged {
					continue
				}
				dx, dy := wrapDX(bx, wrapX(o.seed.x+o.cx)), o.cy-b.cy
				if dx*dx+dy*dy >= r*r {
					continue
				}
				// bs is in seeding order, densest seed first: i absorbs j.
				shift := wrapDX(b.seed.x, o.seed.x)
				b.sx += o.sx + float64(o.n)*shift
				b.sy += o.sy
				b.n += o.n
				next[b.last] = o.first
				b.last = o.last
				o.merged = true
				merged = true
			}
			b.cx, b.cy = b.sx/float64(b.n), b.sy/float64(b.n)
		}
	}
	cellW := math.Exp2(-float64(fz)) // a cell's side in world units
	// In the order of their ids: the clusters' indices sorted, not
	// the clusters (a hundred bytes each to swap).
	idx := sc.idx[:0]
	for i := range bs {
		if !bs[i].merged {
			idx = append(idx, int32(i))
		}
	}
	slices.SortFunc(idx, func(a, b int32) int { return cmp.Compare(bs[a].seed.key, bs[b].seed.key) })
	sc.idx = idx
	out := make([]MergedCluster, 0, len(idx))
	for _, i := range idx {
		b := &bs[i]
		x := wrapX(b.seed.x + b.cx)
		span := 0.0
		var keys []uint64
		minDX, maxDX, minY, maxY := 0.0, 0.0, b.cy, b.cy
		for m := b.first; m >= 0; m = next[m] {
			u := &units[m]
			if keepMembers {
				keys = append(keys, u.key)
			}
			dx, dy := wrapDX(x, u.x), u.y-b.cy
			span = max(span, math.Sqrt(dx*dx+dy*dy))
			minDX, maxDX = min(minDX, dx), max(maxDX, dx)
			minY, maxY = min(minY, u.y), max(maxY, u.y)
		}
		expand := zoom + 1
		if span > 0 {
			// radiusAt(z) < span from z = floor(log2(R/(E·span))) + 1.
			expand = max(expand, int(math.Floor(math.Log2(MergeRadius/(MergeExtent*span))))+1)
		}
		out = append(out, MergedCluster{
			ID: jsID(b.seed.key), Count: b.n, ExpansionZoom: min(expand, geo.MaxZoom),
			At:      geo.Pt(x*360-180, geo.LatFromMercatorY(b.cy)),
			Covers:  coverBox(x+minDX-cellW, x+maxDX+cellW, minY-cellW, maxY+cellW),
			members: keys,
		})
	}
	return out
}

// jsID turns a cell key (zoom<<58 | x<<29 | y) into zoom<<48 | x<<24 | y,
// below 2^53 for zooms up to 24.
func jsID(key uint64) uint64 {
	x, y := cellXY(key)
	return key>>58<<48 | uint64(x)<<24 | uint64(y)
}

// tileOfJSID returns the tile a jsID names.
func tileOfJSID(id uint64) geo.Tile {
	const mask = 1<<24 - 1
	return geo.Tile{Z: uint8(id >> 48), X: uint32(id >> 24 & mask), Y: uint32(id & mask)}
}

// markersBox returns the box to search for the markers of cell t: its
// bounds, with the markers on its edges and, on the first and last rows,
// those beyond the Mercator limits.
func markersBox(t geo.Tile) geo.Box {
	b := t.Bounds()
	if t.Y == 0 {
		b.North = 90
	}
	if t.Y == 1<<t.Z-1 {
		b.South = -90
	}
	return b
}

// coverBox returns the box of Web Mercator x from x0 to x1 (unwrapped, so
// that x0 < 0 or x1 > 1 crosses the antimeridian) and y from y0 to y1.
func coverBox(x0, x1, y0, y1 float64) geo.Box {
	b := geo.Box{South: geo.LatFromMercatorY(min(y1, 1)), North: geo.LatFromMercatorY(max(y0, 0))}
	if x1-x0 >= 1 {
		b.West, b.East = -180, 180
		return b
	}
	b.West, b.East = wrapX(x0)*360-180, wrapX(x1)*360-180
	if x1 >= 1 && wrapX(x1) == 0 {
		b.East = 180
	}
	return b
}

// wrapX brings x into [0, 1).
func wrapX(x float64) float64 {
	x -= math.Floor(x)
	if x >= 1 {
		x = 0
	}
	return x
}
