package server

import (
	"fmt"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// A view is one of a connection's views. parts are its boxes in the
// viewport index: one, or two when it crosses the antimeridian. A view in
// cluster mode has its boxes in the cluster views' index instead.
type view struct {
	v     wire.View
	parts [2]*viewPart
	n     int
	cz    int // cluster zoom when in cluster mode, else -1
}

func (vw *view) clustered() bool { return vw.cz >= 0 }

// A viewPart is the value stored in the viewport index for one box of a
// view: it leads from a box to the connection that watches it.
type viewPart struct {
	c   *conn
	box geo.Box
	cz  int // the view's cluster zoom, or -1 in marker mode
}

// sees reports whether any of c's views in marker mode holds p. The caller
// holds s.mu.
func (c *conn) sees(p geo.Point) bool {
	for i := range c.views {
		if !c.views[i].clustered() && c.views[i].v.Box.Contains(p) {
			return true
		}
	}
	return false
}

func (c *conn) viewIndex(id int) int {
	for i := range c.views {
		if c.views[i].v.ID == id {
			return i
		}
	}
	return -1
}

// setView applies v to c: the index learns the new boxes, and c is sent a
// ViewAck with the markers of v that none of c's views held before. It
// returns an error, to be sent to the client, when c has too many views.
func (s *Server) setView(c *conn, v wire.View) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := c.viewIndex(v.ID)
	if i < 0 && len(c.views) >= s.opts.MaxViews {
		return wire.Error{Code: wire.CodeTooManyViews, Message: fmt.Sprintf("connection holds %d views already, the most allowed", len(c.views))}
	}

	s.counters.viewChanges.Add(1)
	frame, cz := s.viewAckLocked(c, v)
	if i < 0 {
		c.views = append(c.views, view{cz: -1})
		i = len(c.views) - 1
	}
	s.indexView(c, &c.views[i], v, cz)
	if c.out.Reply(frame) {
		c.startWriter()
	}
	return nil
}

// viewAckLocked returns the ViewAck frame for c's view changing to v, and
// the view's cluster zoom (-1 in marker mode). It must run before the view
// changes: c.sees answers for the views as the client holds them, this
// one's old box included.
func (s *Server) viewAckLocked(c *conn, v wire.View) (frame []byte, cz int) {
	var flags wire.Flags
	if !c.hadView {
		flags |= wire.FlagSnapshot
		c.hadView = true
	}
	found, over := s.searchLocked(c, v.Box)
	defer func() { s.found = found[:0] }()
	if over {
		// More markers than the budget: cluster mode.
		cz = wire.ClusterZoom(v, s.opts.Budget, s.opts.ClusterZoom)
		ops, size := s.clusterOpsLocked(c, v.Box, cz)
		frame = wire.AppendViewAckHeader(make([]byte, 0, 64+size), v, flags|wire.FlagClusters, len(ops))
		for _, op := range ops {
			frame = append(frame, op...)
		}
		return frame, cz
	}
	// The markers of v that no view in marker mode held before.
	ops := found[:0]
	for _, rec := range found {
		if !c.sees(rec.m.Pos) {
			ops = append(ops, rec)
		}
	}
	frame = wire.AppendViewAckHeader(make([]byte, 0, 64+opsSize(ops)), v, flags, len(ops))
	return appendOps(frame, ops), -1
}

// unview drops c's view id and acknowledges it.
func (s *Server) unview(c *conn, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := c.viewIndex(id)
	if i < 0 {
		return wire.Error{Code: wire.CodeUnknownView, Message: fmt.Sprintf("no view %d to drop", id)}
	}
	s.unindexView(&c.views[i])
	c.views = append(c.views[:i], c.views[i+1:]...)
	frame, _ := s.encLocked(wire.UnviewAck{ID: id})
	if c.out.Reply(frame) {
		c.startWriter()
	}
	return nil
}

// setLayers changes the layers c sees and sends it a Reset.
func (s *Server) setLayers(c *conn, layers []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.layers, c.layerKey = newLayerSet(layers), layerKey(layers)
	// In order, after the replies to earlier requests: the client matches
	// replies to requests by their order.
	if c.out.Reply(s.resetFrameLocked(c, 0)) {
		c.startWriter()
	}
}

// resetFrameLocked returns a Reset frame holding c's views and every marker
// in them (up to the budget per view), or their clusters for views in
// cluster mode.
func (s *Server) resetFrameLocked(c *conn, flags wire.Flags) []byte {
	var all []*marker
	var clusterOps [][]byte
	clusterSize := 0
	views := make([]wire.View, len(c.views))
	clustered := make([]bool, len(c.views))
	for i := range c.views {
		views[i] = c.views[i].v
		if c.views[i].clustered() {
			clustered[i] = true
			ops, size := s.clusterOpsLocked(c, views[i].Box, c.views[i].cz)
			clusterOps = append(clusterOps, ops...)
			clusterSize += size
			continue
		}
		found, truncated := s.searchLocked(c, c.views[i].v.Box)
		if truncated {
			flags |= wire.FlagTruncated
		}
	next:
		for _, rec := range found {
			for j := range i { // already sent for an earlier view?
				if !c.views[j].clustered() && c.views[j].v.Box.Contains(rec.m.Pos) {
					continue next
				}
			}
			all = append(all, rec)
		}
		s.found = found[:0]
	}
	frame := wire.AppendResetHeader(make([]byte, 0, 64+opsSize(all)+clusterSize), flags, views, clustered, len(all)+len(clusterOps))
	frame = appendOps(frame, all)
	for _, op := range clusterOps {
		frame = append(frame, op...)
	}
	return frame
}

// searchLocked returns the markers in box that c may see, at most the
// budget; truncated reports that there were more. The slice is s.found,
// valid until the next search.
func (s *Server) searchLocked(c *conn, box geo.Box) (found []*marker, truncated bool) {
	found = s.found[:0]
	budget := s.opts.Budget
	parts, n := box.Split()
	for _, part := range parts[:n] {
		s.markersIn(part, func(rec *marker) bool {
			if !c.layers.has(rec.m.Layer) {
				return true
			}
			if len(found) == budget {
				truncated = true
				return false
			}
			found = append(found, rec)
			return true
		})
	}
	s.found = found
	return found, truncated
}

// indexView puts the boxes of v into the viewport index in place of vw's:
// the index of marker-mode views when cz is -1, else that of cluster-mode
// views at cluster zoom cz.
func (s *Server) indexView(c *conn, vw *view, v wire.View, cz int) {
	s.unindexView(vw)
	vw.v, vw.cz = v, cz
	tree := s.treeOf(vw)
	parts, n := v.Box.Split()
	for i := range n {
		if vw.parts[i] == nil {
			vw.parts[i] = &viewPart{c: c}
		}
		vp := vw.parts[i]
		vp.box, vp.cz = parts[i], cz
		tree.Insert(minRect(vp.box), maxRect(vp.box), vp)
	}
	vw.n = n
	if cz >= 0 {
		s.clusterZooms[cz]++
	}
}

func (s *Server) unindexView(vw *view) {
	if vw.n == 0 {
		return
	}
	tree := s.treeOf(vw)
	for _, vp := range vw.parts[:vw.n] {
		tree.Delete(minRect(vp.box), maxRect(vp.box), vp)
	}
	vw.n = 0
	if vw.cz >= 0 {
		if s.clusterZooms[vw.cz]--; s.clusterZooms[vw.cz] == 0 {
			delete(s.clusterZooms, vw.cz)
		}
	}
}

func (s *Server) treeOf(vw *view) *rtree.RTreeG[*viewPart] {
	if vw.clustered() {
		return &s.clusterViews
	}
	return &s.views
}

func (s *Server) encLocked(m wire.Message) ([]byte, error) {
	b, err := s.enc.Message(m)
	return append([]byte(nil), b...), err
}

func opsSize(ms []*marker) int {
	n := 0
	for _, rec := range ms {
		n += len(rec.op)
	}
	return n
}

func appendOps(frame []byte, ms []*marker) []byte {
	for _, rec := range ms {
		frame = append(frame, rec.op...)
	}
	return frame
}
