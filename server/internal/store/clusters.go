package store

import (
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A TileSum is the markers of one tile: how many, and their centroid
// (quantised like marker positions; zero when Count is 0).
type TileSum struct {
	Count uint64
	At    geo.Point
}

// Clusters. The store keeps, for every layer and every zoom from 0 to its
// cluster zoom, the count and the sum of the positions of the markers in
// each tile, updated as each marker moves: a view in cluster mode is sent
// the clusters of the tiles covering it with no rescan of the markers.

// A cell is the sum of the markers of one layer in one tile. It links to
// the cell of the tile holding its own one zoom out, so that counting a
// marker at every zoom walks pointers up from its finest cell (which its
// record keeps) instead of looking a cell up per zoom, and to its
// non-empty cells one zoom in (a list through child and sibling), so that
// a merge's walk down a tile follows pointers to the cells that exist
// instead of looking up four possible children per cell in the maps.
//
// Its fields are those a merge's walk reads first, and it is 64 bytes: a
// cell allocated alone takes one 64-byte cache line (the tile's bounds,
// which a move checks, are kept by each marker in a finest instead).
type cell struct {
	n        uint64
	lon, lat float64 // sums of positions
	key      uint64  // its key in its zoom's map
	// child is the first of its cells one zoom in, sibling the next
	// cell of its parent's list; in no particular order.
	child, sibling *cell
	up             *cell // the cell one zoom out; nil at zoom 0
	// stamp changes whenever a cell at most stampDepth zooms below it is
	// made or dropped (and when it is made): the index's count of such
	// changes at the last one (see GatherShare).
	stamp uint64
}

// A finest is a marker's cell at the finest zoom and that cell's tile
// bounds: a marker moving inside them stays in every cell of the chain.
type finest struct {
	cell *cell
	box  geo.Box
}

// cellKey packs a tile into a map key.
func cellKey(z int, x, y uint32) uint64 { return uint64(z)<<58 | uint64(x)<<29 | uint64(y) }

// cellXY returns the column and row a cell key names.
func cellXY(key uint64) (x, y uint32) {
	const mask = 1<<29 - 1
	return uint32(key >> 29 & mask), uint32(key & mask)
}

// clusterIndex holds the cells of every layer at every zoom.
type clusterIndex struct {
	maxZoom int
	layers  map[string][]map[uint64]*cell // layer → zoom → cells
	// dense holds, per layer, the cells of zooms 0 to denseZoom in
	// arrays (row-major, 2^z × 2^z), their maps pointing into them: the
	// merge of a large view reads every coarse cell, and cells allocated
	// one by one lie all over the heap (a cache miss each, most of the
	// merge's time before).
	dense map[string][][]cell
	// stamps counts the changes of the cells' tree (a cell made or
	// dropped); each such change stamps the cells above it.
	stamps uint64
}

// stampDepth is how many zooms below a cell the changes that stamp it
// reach: a region's tiles are mergeDepth − 1 zooms coarser than the cells
// merged, so what a tile's walk found stays valid while its cell's stamp
// does. Deeper changes (a marker entering an empty cell of the cluster
// zoom, most of them) leave it.
const stampDepth = mergeDepth - 1

// denseZoom is the finest zoom whose cells are kept in arrays: 21,845
// cells (1.5 MiB) per layer; the cells of a world view at merge zoom 2
// (a world on a 1024-px map) are at zoom 7.
const denseZoom = 7

func newClusterIndex(maxZoom int) *clusterIndex {
	return &clusterIndex{maxZoom: maxZoom, layers: make(map[string][]map[uint64]*cell), dense: make(map[string][][]cell)}
}

// newCell returns an empty cell for key at zoom z of layer: in the
// layer's arrays up to denseZoom, else newly allocated.
func (ci *clusterIndex) newCell(layer string, z int, key uint64) *cell {
	if z > denseZoom {
		return &cell{key: key}
	}
	x, y := cellXY(key)
	c := &ci.dense[layer][z][y<<uint(z)|x]
	*c = cell{key: key}
	return c
}

// levels returns the cells of layer at every zoom, made when missing.
func (ci *clusterIndex) levels(layer string) []map[uint64]*cell {
	levels := ci.layers[layer]
	if levels == nil {
		levels = make([]map[uint64]*cell, ci.maxZoom+1)
		for z := range levels {
			levels[z] = make(map[uint64]*cell)
		}
		ci.layers[layer] = levels
		dense := make([][]cell, min(ci.maxZoom, denseZoom)+1)
		for z := range dense {
			dense[z] = make([]cell, 1<<(2*z))
		}
		ci.dense[layer] = dense
	}
	return levels
}

// in counts a marker of layer at p into the cells of every zoom and
// returns its cell at the finest zoom, for out and move.
func (ci *clusterIndex) in(layer string, p geo.Point) finest {
	levels := ci.levels(layer)
	t := geo.TileOf(p, ci.maxZoom)
	f := finest{box: t.Bounds()}
	var below *cell
	stamp := ci.stamps + 1
	for z := ci.maxZoom; z >= 0; z-- {
		shift := ci.maxZoom - z
		k := cellKey(z, t.X>>shift, t.Y>>shift)
		c := levels[z][k]
		existed := c != nil
		if !existed {
			c = ci.newCell(layer, z, k)
			c.stamp = stamp
			levels[z][k] = c
			ci.stamps = stamp
		}
		if below != nil {
			below.up = c
			below.sibling, c.child = c.child, below
		}
		if f.cell == nil {
			f.cell = c
		}
		if existed {
			// The cells further out exist and are linked. Those up to
			// stampDepth zooms above the coarsest cell made are stamped.
			made := below != nil
			for a := z; c != nil; a, c = a-1, c.up {
				c.n++
				c.lon += p.Lon
				c.lat += p.Lat
				if made && z+1-a <= stampDepth {
					c.stamp = stamp
				}
			}
			return f
		}
		c.n++
		c.lon += p.Lon
		c.lat += p.Lat
		below = c
	}
	return f
}

// out counts a marker of layer at p, whose finest cell is c, out of the
// cells of every zoom, dropping those it leaves empty.
func (ci *clusterIndex) out(layer string, c *cell, p geo.Point) {
	levels := ci.layers[layer]
	stamp, dropped := ci.stamps+1, -1 // the coarsest zoom dropped
	for z := ci.maxZoom; c != nil; z-- {
		up := c.up
		if c.n == 1 {
			dropped = z
			ci.stamps = stamp
			// Its cells one zoom in were emptied before it: out goes up.
			if up != nil {
				up.unlink(c)
			}
			delete(levels[z], c.key)
			*c = cell{} // in the arrays, it reads as empty
		} else {
			c.n--
			c.lon -= p.Lon
			c.lat -= p.Lat
			if dropped >= 0 && dropped-z <= stampDepth {
				c.stamp = stamp
			}
		}
		c = up
	}
}

// unlink takes child out of c's list of cells one zoom in.
func (c *cell) unlink(child *cell) {
	for p := &c.child; *p != nil; p = &(*p).sibling {
		if *p == child {
			*p = child.sibling
			return
		}
	}
}

// childIndex returns where the cell of key lies in its parent, in the
// order of geo.Tile.Children: x's low bit, then y's.
func childIndex(key uint64) int { return int(key>>29&1 | (key&1)<<1) }

// move moves a marker of layer, whose finest cell is f, from one position
// to another, and returns its finest cell. A step that stays in c's tile
// (most steps: a tile at zoom 14 is over a kilometre wide) changes the
// sums of f's chain in place, without a lookup or a tile computation.
func (ci *clusterIndex) move(layer string, f finest, from, to geo.Point) finest {
	if b := &f.box; b.West <= to.Lon && to.Lon < b.East && b.South < to.Lat && to.Lat <= b.North {
		dLon, dLat := to.Lon-from.Lon, to.Lat-from.Lat
		for x := f.cell; x != nil; x = x.up {
			x.lon += dLon
			x.lat += dLat
		}
		return f
	}
	// In before out: a marker alone in the cells further out leaves them
	// in place instead of deleting and making them again.
	to2 := ci.in(layer, to)
	ci.out(layer, f.cell, from)
	return to2
}

// cluster sums the cells of tile t over the layers in ls (every layer when
// ls is nil).
func (ci *clusterIndex) cluster(t geo.Tile, ls LayerSet) TileSum {
	var cl TileSum
	if int(t.Z) > ci.maxZoom {
		return cl
	}
	k := cellKey(int(t.Z), t.X, t.Y)
	var lon, lat float64
	for layer, levels := range ci.layers {
		if !ls.Has(layer) {
			continue
		}
		if c := levels[t.Z][k]; c != nil {
			cl.Count += c.n
			lon += c.lon
			lat += c.lat
		}
	}
	if cl.Count > 0 {
		cl.At = wire.Quantize(geo.Pt(lon/float64(cl.Count), lat/float64(cl.Count)))
	}
	return cl
}

// edgeZooms is how many zooms below a cluster's the cells of a tile that
// straddles the edge of a connection's grant box are looked at: the
// cluster counts the markers of the cells wholly inside the box at any of
// those zooms, and leaves out those of the finest cells (edgeZooms finer,
// or the cluster zoom) that straddle it, so that it reveals nothing
// outside. Each zoom doubles the cells looked up along the edge.
const edgeZooms = 5

// clusterIn is cluster for a connection restricted to box: the markers of
// tile t counted only from cells wholly inside box (see edgeZooms).
func (ci *clusterIndex) clusterIn(t geo.Tile, ls LayerSet, box geo.Box) TileSum {
	b := t.Bounds()
	if geo.Within(b, box) {
		return ci.cluster(t, ls)
	}
	var cl TileSum
	if int(t.Z) > ci.maxZoom {
		return cl
	}
	var sum cellSum
	ci.sumInside(t, ls, box, min(int(t.Z)+edgeZooms, ci.maxZoom), &sum)
	cl.Count = sum.n
	if sum.n > 0 {
		cl.At = wire.Quantize(geo.Pt(sum.lon/float64(sum.n), sum.lat/float64(sum.n)))
	}
	return cl
}

type cellSum struct {
	n        uint64
	lon, lat float64
}

// sumInside adds to sum the markers of the cells of t, or of its
// descendants down to zoom deepest, that lie wholly inside box.
func (ci *clusterIndex) sumInside(t geo.Tile, ls LayerSet, box geo.Box, deepest int, sum *cellSum) {
	b := t.Bounds()
	if _, n := geo.Intersect(b, box); n == 0 {
		return
	}
	inside := geo.Within(b, box)
	k := cellKey(int(t.Z), t.X, t.Y)
	holds := false
	for layer, levels := range ci.layers {
		if !ls.Has(layer) {
			continue
		}
		if c := levels[t.Z][k]; c != nil {
			holds = true
			if inside {
				sum.n += c.n
				sum.lon += c.lon
				sum.lat += c.lat
			}
		}
	}
	if inside || !holds || int(t.Z) >= deepest {
		return
	}
	for _, child := range t.Children() {
		ci.sumInside(child, ls, box, deepest, sum)
	}
}

// Cluster returns the cluster of tile t: the count and centroid of the
// markers in it whose layer is in ls (every layer when ls is nil). A tile
// finer than the cluster zoom has none.
func (st *Store) Cluster(t geo.Tile, ls LayerSet) TileSum { return st.clusters.cluster(t, ls) }

// ClusterIn is Cluster for a reader restricted to box: the markers of tile
// t counted only from cells wholly inside box (see edgeZooms).
func (st *Store) ClusterIn(t geo.Tile, ls LayerSet, box geo.Box) TileSum {
	return st.clusters.clusterIn(t, ls, box)
}

// LayerCounts returns how many markers each layer holds, for every layer
// that has held one since the store was made (a layer emptied since counts
// 0): one lookup per layer, not a scan.
func (st *Store) LayerCounts() map[string]int {
	out := make(map[string]int, len(st.clusters.layers))
	for layer, levels := range st.clusters.layers {
		n := 0
		if c := levels[0][cellKey(0, 0, 0)]; c != nil {
			n = int(c.n)
		}
		out[layer] = n
	}
	return out
}
