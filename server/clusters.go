package server

import (
	"bytes"
	"slices"
	"strings"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// Clusters. A view holding more markers than the budget is in cluster mode:
// instead of markers it is sent clusters, the count and centroid of the
// markers in each tile of a finer zoom (wire.ClusterZoom) covering it. The
// server keeps these counts for every layer and every zoom from 0 to
// Options.ClusterZoom, updated as each marker moves — no rescan of the
// store for a pan — and pushes a changed cluster to the cluster-mode views
// that show it.

// A cell is the sum of the markers of one layer in one tile. It links to
// the cell of the tile holding its own one zoom out, so that counting a
// marker at every zoom walks pointers up from its finest cell (which its
// record keeps) instead of looking a cell up per zoom.
type cell struct {
	n        uint64
	lon, lat float64 // sums of positions
	up       *cell   // the cell one zoom out; nil at zoom 0
	key      uint64  // its key in its zoom's map
	// box is its tile's bounds, set at the finest zoom: a marker moving
	// inside them stays in every cell of the chain.
	box geo.Box
}

// cellKey packs a tile into a map key.
func cellKey(z int, x, y uint32) uint64 { return uint64(z)<<58 | uint64(x)<<29 | uint64(y) }

// clusterIndex holds the cells of every layer at every zoom.
type clusterIndex struct {
	maxZoom int
	layers  map[string][]map[uint64]*cell // layer → zoom → cells
}

func newClusterIndex(maxZoom int) *clusterIndex {
	return &clusterIndex{maxZoom: maxZoom, layers: make(map[string][]map[uint64]*cell)}
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
	}
	return levels
}

// in counts a marker of layer at p into the cells of every zoom and
// returns its cell at the finest zoom, for out and move.
func (ci *clusterIndex) in(layer string, p geo.Point) *cell {
	levels := ci.levels(layer)
	t := geo.TileOf(p, ci.maxZoom)
	var finest, below *cell
	for z := ci.maxZoom; z >= 0; z-- {
		shift := ci.maxZoom - z
		k := cellKey(z, t.X>>shift, t.Y>>shift)
		c := levels[z][k]
		existed := c != nil
		if !existed {
			c = &cell{key: k}
			if z == ci.maxZoom {
				c.box = t.Bounds()
			}
			levels[z][k] = c
		}
		if below != nil {
			below.up = c
		}
		if finest == nil {
			finest = c
		}
		if existed {
			// The cells further out exist and are linked.
			for ; c != nil; c = c.up {
				c.n++
				c.lon += p.Lon
				c.lat += p.Lat
			}
			return finest
		}
		c.n++
		c.lon += p.Lon
		c.lat += p.Lat
		below = c
	}
	return finest
}

// out counts a marker of layer at p, whose finest cell is c, out of the
// cells of every zoom, dropping those it leaves empty.
func (ci *clusterIndex) out(layer string, c *cell, p geo.Point) {
	levels := ci.layers[layer]
	for z := ci.maxZoom; c != nil; z-- {
		up := c.up
		if c.n == 1 {
			delete(levels[z], c.key)
		} else {
			c.n--
			c.lon -= p.Lon
			c.lat -= p.Lat
		}
		c = up
	}
}

// move moves a marker of layer, whose finest cell is c, from one position
// to another, and returns its finest cell. A step that stays in c's tile
// (most steps: a tile at zoom 14 is over a kilometre wide) changes the
// sums of c's chain in place, without a lookup or a tile computation.
func (ci *clusterIndex) move(layer string, c *cell, from, to geo.Point) *cell {
	if b := &c.box; b.West <= to.Lon && to.Lon < b.East && b.South < to.Lat && to.Lat <= b.North {
		dLon, dLat := to.Lon-from.Lon, to.Lat-from.Lat
		for x := c; x != nil; x = x.up {
			x.lon += dLon
			x.lat += dLat
		}
		return c
	}
	// In before out: a marker alone in the cells further out leaves them
	// in place instead of deleting and making them again.
	finest := ci.in(layer, to)
	ci.out(layer, c, from)
	return finest
}

// cluster sums the cells of tile t over the layers in ls (every layer when
// ls is nil).
func (ci *clusterIndex) cluster(t geo.Tile, ls layerSet) wire.Cluster {
	cl := wire.Cluster{Z: t.Z, X: t.X, Y: t.Y}
	if int(t.Z) > ci.maxZoom {
		return cl
	}
	k := cellKey(int(t.Z), t.X, t.Y)
	var lon, lat float64
	for layer, levels := range ci.layers {
		if !ls.has(layer) {
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
// or Options.ClusterZoom) that straddle it, so that it reveals nothing
// outside. Each zoom doubles the cells looked up along the edge.
const edgeZooms = 5

// clusterIn is cluster for a connection restricted to box: the markers of
// tile t counted only from cells wholly inside box (see edgeZooms).
func (ci *clusterIndex) clusterIn(t geo.Tile, ls layerSet, box geo.Box) wire.Cluster {
	b := t.Bounds()
	if geo.Within(b, box) {
		return ci.cluster(t, ls)
	}
	cl := wire.Cluster{Z: t.Z, X: t.X, Y: t.Y}
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
func (ci *clusterIndex) sumInside(t geo.Tile, ls layerSet, box geo.Box, deepest int, sum *cellSum) {
	b := t.Bounds()
	if _, n := geo.Intersect(b, box); n == 0 {
		return
	}
	inside := geo.Within(b, box)
	k := cellKey(int(t.Z), t.X, t.Y)
	holds := false
	for layer, levels := range ci.layers {
		if !ls.has(layer) {
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

// clusterOf returns the cluster of tile t as connection c may see it.
func (s *Server) clusterOf(c *conn, t geo.Tile) wire.Cluster {
	if c.restricted {
		return s.clusters.clusterIn(t, c.layers, *c.grant.Box)
	}
	return s.clusters.cluster(t, c.layers)
}

// clusterOpsLocked returns the encoded clusters of view v at zoom cz for
// connection c: one op per non-empty tile covering the view (the part of
// it inside c's grant box, for a restricted connection).
func (s *Server) clusterOpsLocked(c *conn, box geo.Box, cz int) (ops [][]byte, size int) {
	tiles := geo.TilesTouching(box, cz)
	if c.restricted {
		tiles = tiles[:0]
		seen := make(map[geo.Tile]bool)
		parts, n := c.clip(box)
		for _, part := range parts[:n] {
			for _, t := range geo.TilesTouching(part, cz) {
				if !seen[t] {
					seen[t] = true
					tiles = append(tiles, t)
				}
			}
		}
	}
	for _, t := range tiles {
		cl := s.clusterOf(c, t)
		if cl.Count == 0 {
			continue
		}
		op := bytes.Clone(s.enc.ClusterOp(&cl))
		ops = append(ops, op)
		size += len(op)
	}
	return ops, size
}

// markerMovedLocked updates the clusters for marker rec, which was at old
// (in oldLayer; had false when it did not exist) and is now at now (in
// newLayer; has false when it is gone), and pushes the changed clusters to
// the cluster-mode views that show them.
func (s *Server) markerMovedLocked(rec *marker, oldLayer string, old geo.Point, had bool, newLayer string, now geo.Point, has bool) {
	switch {
	case had && has && oldLayer == newLayer:
		rec.cell = s.clusters.move(newLayer, rec.cell, old, now)
	case has:
		c := s.clusters.in(newLayer, now)
		if had {
			s.clusters.out(oldLayer, rec.cell, old)
		}
		rec.cell = c
	case had:
		s.clusters.out(oldLayer, rec.cell, old)
		rec.cell = nil
	}
	if has {
		s.markDensityLocked(now)
	}
	if had {
		s.markDensityLocked(old)
	}
	if s.clusterViews.Len() == 0 {
		return
	}
	for cz := range s.clusterZooms {
		var from, to geo.Tile
		if had {
			from = geo.TileOf(old, cz)
		}
		if has {
			to = geo.TileOf(now, cz)
		}
		switch {
		case had && has && from == to:
			s.pushClusterLocked(to, old, now)
		default:
			if had {
				s.pushClusterLocked(from, old, old)
			}
			if has {
				s.pushClusterLocked(to, now, now)
			}
		}
	}
}

// pushClusterLocked sends the new state of the cluster of tile t, changed
// by a marker at p or q, to every cluster-mode view at t's zoom that
// intersects it; to a connection restricted to a box, only when p or q is
// inside it, so that a change outside shows in no form. The op is encoded
// once per distinct set of layers (and grant box) among the recipients.
func (s *Server) pushClusterLocked(t geo.Tile, p, q geo.Point) {
	b := t.Bounds()
	var encoded []layerOp
	key := clusterKey(t)
	s.clusterViews.Search(minRect(b), maxRect(b), func(_, _ [2]float64, vp *viewPart) bool {
		if vp.cz != int(t.Z) {
			return true
		}
		c := vp.c
		if c.restricted && !c.grant.Box.Contains(p) && !c.grant.Box.Contains(q) {
			return true
		}
		i := slices.IndexFunc(encoded, func(e layerOp) bool { return e.layers == c.clusterGroup })
		if i < 0 {
			cl := s.clusterOf(c, t)
			encoded = append(encoded, layerOp{c.clusterGroup, bytes.Clone(s.enc.ClusterOp(&cl))})
			i = len(encoded) - 1
		}
		s.deliver(c, key, encoded[i].op)
		return true
	})
}

type layerOp struct {
	layers string
	op     []byte
}

// clusterKey is the outbox key of a cluster: a newer state of the same
// cluster replaces an older one still waiting.
func clusterKey(t geo.Tile) outbox.Key {
	var b strings.Builder
	b.WriteString("\x00c")
	b.WriteString(t.String())
	return outbox.KeyOf(b.String())
}

// layerKey is a string naming a set of layers, for grouping connections
// that see the same markers.
func layerKey(layers []string) string {
	if len(layers) == 0 {
		return ""
	}
	sorted := slices.Clone(layers)
	slices.Sort(sorted)
	return strings.Join(slices.Compact(sorted), "\x00")
}

// searchAllViews calls fn for every view part, in marker or cluster mode,
// that intersects box (which does not cross the antimeridian).
func (s *Server) searchAllViews(box geo.Box, fn func(vp *viewPart) bool) {
	for _, tree := range [2]*rtree.RTreeG[*viewPart]{&s.views, &s.clusterViews} {
		tree.Search(minRect(box), maxRect(box), func(_, _ [2]float64, vp *viewPart) bool { return fn(vp) })
	}
}
