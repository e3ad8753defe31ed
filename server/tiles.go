package server

import (
	"bytes"
	"fmt"
	"math"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// viewZoom is the tile zoom a view displays: its zoom rounded down.
func viewZoom(v wire.View) int { return int(math.Floor(v.Zoom)) }

// displays reports whether a view at zoom may draw tiles of zoom z: maps
// round the zoom down (Leaflet, most tile clients) or to the nearest
// (MapLibre's raster sources), so a view at 10.6 may show zoom-10 or
// zoom-11 tiles.
func displays(zoom float64, z int) bool {
	return int(math.Floor(zoom)) == z || int(math.Round(zoom)) == z
}

// InvalidateTiles marks tiles of the tile layer changed: every view that
// may display one of them (it intersects the tile, and its zoom rounded
// down or to the nearest is the tile's) is sent {layer, z, x, y, version},
// so that its map fetches the tile again. Only connections that see layer
// are told. It returns an error, and tells nobody, for an invalid tile or an
// empty layer name.
func (s *Server) InvalidateTiles(layer string, tiles ...geo.Tile) error {
	if err := checkTileLayer(layer); err != nil {
		return err
	}
	for _, t := range tiles {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("server: invalidate %s: %w", layer, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(0)
	defer s.endBatchLocked()
	change := s.tileChangeLocked(layer)
	for _, t := range tiles {
		s.invalidateLocked(change, t, func(vw *view) bool { return displays(vw.v.Zoom, int(t.Z)) })
	}
	return nil
}

// InvalidateBox marks everything of the tile layer inside box changed: every
// view intersecting box is sent the tiles, at the zoom it displays, that
// cover the part of box it shows.
func (s *Server) InvalidateBox(layer string, box geo.Box) error {
	if err := checkTileLayer(layer); err != nil {
		return err
	}
	if err := box.Validate(); err != nil {
		return fmt.Errorf("server: invalidate %s: %w", layer, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(0)
	defer s.endBatchLocked()
	change := s.tileChangeLocked(layer)
	parts, n := box.Split()
	for _, part := range parts[:n] {
		s.searchAllViews(part, func(vp *viewPart) bool {
			if !vp.c.layers.Has(layer) {
				return true
			}
			vw := vp.c.viewOf(vp)
			shown, n := geo.Intersect(part, vp.box) // one part at most: neither crosses
			if n == 0 {
				return true
			}
			for _, t := range geo.TilesCovering(shown[0], viewZoom(vw.v)) {
				change.send(vp.c, t)
			}
			return true
		})
	}
	return nil
}

// invalidateLocked sends tile t to the connections with a view that
// intersects it and passes shows.
func (s *Server) invalidateLocked(change *tileChange, t geo.Tile, shows func(*view) bool) {
	s.searchAllViews(t.Bounds(), func(vp *viewPart) bool {
		if vp.c.layers.Has(change.layer) && shows(vp.c.viewOf(vp)) {
			change.send(vp.c, t)
		}
		return true
	})
}

// A tileChange is one change of a tile layer, under one new version: the
// op of each tile it concerns is encoded once, however many connections
// it goes to. Use it while Server.mu is held, within a batch.
type tileChange struct {
	s       *Server
	layer   string
	version uint64
	ops     map[geo.Tile]keyedOp
}

type keyedOp struct {
	key outbox.Key
	op  []byte
}

// tileChangeLocked starts a change of layer, with its next version.
func (s *Server) tileChangeLocked(layer string) *tileChange {
	if s.tileVersions == nil {
		s.tileVersions = make(map[string]uint64)
	}
	s.tileVersions[layer]++
	return &tileChange{s: s, layer: layer, version: s.tileVersions[layer], ops: make(map[geo.Tile]keyedOp)}
}

// send delivers the op of tile t to c, keyed so that a newer change of the
// same tile replaces an older one still waiting.
func (tc *tileChange) send(c *conn, t geo.Tile) {
	o, ok := tc.ops[t]
	if !ok {
		o.key = outbox.KeyOf(fmt.Sprintf("\x00t%s/%d/%d/%d", tc.layer, t.Z, t.X, t.Y))
		o.op = bytes.Clone(tc.s.enc.TileOp(&wire.TileChange{Layer: tc.layer, Z: t.Z, X: t.X, Y: t.Y, Version: tc.version}))
		tc.ops[t] = o
	}
	tc.s.fan.inline.deliver(c, o.key, o.op)
}

func checkTileLayer(layer string) error {
	if layer == "" || len(layer) > wire.MaxLayerLen {
		return fmt.Errorf("server: tile layer name %q must have 1 to %d bytes", layer, wire.MaxLayerLen)
	}
	return nil
}

// viewOf returns the view of c that vp belongs to.
func (c *conn) viewOf(vp *viewPart) *view {
	for i := range c.views {
		for _, p := range c.views[i].parts[:c.views[i].n] {
			if p == vp {
				return &c.views[i]
			}
		}
	}
	return &view{} // not reached: every part in the index belongs to a view
}
