package server

import (
	"bytes"
	"slices"
	"strings"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// Clusters. A view holding more markers than the budget is in cluster mode:
// instead of markers it is sent clusters, the count and centroid of the
// markers in each tile of a finer zoom (clusterZoom) covering it. The store
// keeps these counts for every layer and every zoom from 0 to
// Options.ClusterZoom, updated as each marker moves — no rescan of the
// markers for a pan — and the server pushes a changed cluster to the
// cluster-mode views that show it.

// clusterZoom is the zoom of the tiles whose clusters stand for the markers
// of view v in cluster mode: three levels finer than the view's zoom (about
// 32 × 20 clusters on a 1024 × 640 map), at most maxZoom, and coarser when
// needed so that the tiles covering the view are at most budget. The
// policy is the server's alone: a view_ack's cluster ops are at this zoom,
// and a reset names it for each view in cluster mode (docs/protocol.md).
func clusterZoom(v wire.View, budget, maxZoom int) int {
	z := min(int(v.Zoom)+3, maxZoom)
	for z > 0 && geo.CountTilesTouching(v.Box, z) > uint64(budget) {
		z--
	}
	return max(z, 0)
}

// clusterOf returns the cluster of tile t as connection c may see it.
func (s *Server) clusterOf(c *conn, t geo.Tile) wire.Cluster {
	if c.restricted {
		return s.store.ClusterIn(t, c.layers, *c.grant.Box)
	}
	return s.store.Cluster(t, c.layers)
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

// pushClustersLocked pushes the clusters that change ch changed (the
// tiles the marker left and entered, at every zoom some view is in cluster
// mode at) to the cluster-mode views that show them.
func (s *Server) pushClustersLocked(ch *store.Change) {
	if s.clusterViews.Len() == 0 {
		return
	}
	had, has := ch.Had(), ch.Has()
	old, now := ch.Old.Pos, ch.New.Pos
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
		s.fan.inline.deliver(c, key, encoded[i].op)
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
