package server

import (
	"fmt"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// A view is one of a connection's views. parts are its boxes in the
// viewport index: one, or two when it crosses the antimeridian; for a
// connection restricted to a box, the parts of the view inside it (none to
// three, see conn.clip). A view in cluster mode has its boxes in the
// cluster views' index instead.
type view struct {
	v       wire.View
	parts   [3]*viewPart
	n       int
	cz      int  // cluster zoom when in cluster mode, else -1
	indexed bool // its parts are in an index
	// In cluster mode: the set of merged clusters it reads, and the
	// clusters the client holds for it (clusters.go).
	set  *clusterSet
	sent map[uint64]sentCluster
}

func (vw *view) clustered() bool { return vw.cz >= 0 }

// A viewPart is the value stored in the viewport index for one box of a
// view: it leads from a box to the connection that watches it.
type viewPart struct {
	c   *conn
	box geo.Box
	cz  int // the view's cluster zoom, or -1 in marker mode
}

// sees reports whether any of c's views in marker mode holds p, and c's
// grant covers it. The caller holds s.mu.
func (c *conn) sees(p geo.Point) bool {
	if c.restricted && !c.grant.Box.Contains(p) {
		return false
	}
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
	c.settle() // the batches given to pull, with the views they were given to
	i := c.viewIndex(v.ID)
	if i < 0 && len(c.views) >= s.opts.MaxViews {
		return wire.Error{Code: wire.CodeTooManyViews, Message: fmt.Sprintf("connection holds %d views already, the most allowed", len(c.views))}
	}

	s.counters.viewChanges.Add(1)
	var old *view
	if i >= 0 {
		old = &c.views[i]
	}
	frames, nv := s.viewAckLocked(c, v, old)
	if i < 0 {
		c.views = append(c.views, view{cz: -1})
		i = len(c.views) - 1
	}
	s.indexView(c, &c.views[i], nv)
	c.reply(frames...)
	return nil
}

// viewAckLocked returns the ViewAck for c's view changing to v (from old,
// nil for a new view), in frames no larger than c's limit (see
// splitReply), and the view's new state to index: its cluster zoom (-1 in
// marker mode), and in cluster mode its set and the clusters sent. It
// must run before the view changes: c.sees answers for the views as the
// client holds them, this one's old box included. A restricted
// connection's view is searched inside its grant's box only: a view
// wholly outside gets an ack without ops.
func (s *Server) viewAckLocked(c *conn, v wire.View, old *view) (frames [][]byte, nv view) {
	var flags wire.Flags
	if !c.hadView {
		flags |= wire.FlagSnapshot
		c.hadView = true
	}
	found, over := s.searchLocked(c, v.Box)
	defer func() { s.found = found[:0] }()
	head := func(dst []byte, flags wire.Flags, n int) []byte { return wire.AppendViewAckHeader(dst, v, flags, n) }
	nv = view{v: v, cz: -1}
	if old != nil {
		nv.set = old.set // kept when the key stays the same
	}
	if over || c.declutter && v.Zoom < wire.DeclutterMaxZoom {
		// More markers than the budget, or a decluttering client: cluster
		// mode, the view's whole set of clusters (docs/protocol.md,
		// Cluster mode and Decluttering).
		nv.cz = s.clusterZoomLocked(c, v)
		ops, size := s.clusterOpsLocked(c, &nv)
		return splitReply(head, flags|wire.FlagClusters, replyOps{clusters: ops, size: size}, c.frameLimit), nv
	}
	if nv.set != nil {
		s.leaveClusterSetLocked(c, &nv)
	}
	// The markers of v that no view in marker mode held before.
	ops := found[:0]
	for _, rec := range found {
		if !c.sees(rec.Marker.Pos) {
			ops = append(ops, rec)
		}
	}
	return splitReply(head, flags, replyOps{markers: ops, size: opsSize(ops)}, c.frameLimit), nv
}

// unview drops c's view id and acknowledges it.
func (s *Server) unview(c *conn, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.settle() // the batches given to pull, with the views they were given to
	i := c.viewIndex(id)
	if i < 0 {
		return wire.Error{Code: wire.CodeUnknownView, Message: fmt.Sprintf("no view %d to drop", id)}
	}
	s.leaveClusterSetLocked(c, &c.views[i])
	s.unindexView(&c.views[i])
	c.views = append(c.views[:i], c.views[i+1:]...)
	c.setPullBoxes()
	frame, _ := s.encLocked(wire.UnviewAck{ID: id})
	c.reply(frame)
	return nil
}

// setLayers changes the layers c sees and sends it a Reset. It refuses,
// changing nothing, a layer c's grant does not allow; empty layers mean
// every layer the grant allows.
func (s *Server) setLayers(c *conn, layers []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.settle() // the batches given to pull, with the views they were given to
	set, key, err := grantedLayers(&c.grant, layers)
	if err != nil {
		return wire.Error{Code: wire.CodeForbidden, Message: err.Error()}
	}
	c.asked = layers
	c.setGrantLocked(c.grant, set, key)
	// In order, after the replies to earlier requests: the client matches
	// replies to requests by their order.
	c.reply(s.resetFramesLocked(c, 0)...)
	return nil
}

// resetFramesLocked returns a Reset holding c's views and every marker in
// them (up to the budget per view), or their clusters for views in cluster
// mode, in frames no larger than c's limit.
func (s *Server) resetFramesLocked(c *conn, flags wire.Flags) [][]byte {
	var all []*store.Record
	var clusterOps [][]byte
	clusterSize := 0
	views := make([]wire.View, len(c.views))
	clustered := make([]bool, len(c.views))
	zooms := make([]int, len(c.views))
	for i := range c.views {
		views[i] = c.views[i].v
		if c.views[i].clustered() {
			clustered[i], zooms[i] = true, c.views[i].cz
			ops, size := s.clusterOpsLocked(c, &c.views[i])
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
				if !c.views[j].clustered() && c.views[j].v.Box.Contains(rec.Marker.Pos) {
					continue next
				}
			}
			all = append(all, rec)
		}
		s.found = found[:0]
	}
	head := func(dst []byte, flags wire.Flags, n int) []byte {
		return wire.AppendResetHeader(dst, flags, views, clustered, zooms, n)
	}
	return splitReply(head, flags, replyOps{markers: all, clusters: clusterOps, size: opsSize(all) + clusterSize}, c.frameLimit)
}

// searchLocked returns the markers in box that c may see, at most the
// budget; truncated reports that there were more. The slice is s.found,
// valid until the next search.
func (s *Server) searchLocked(c *conn, box geo.Box) (found []*store.Record, truncated bool) {
	found = s.found[:0]
	budget := s.opts.Budget
	parts, n := c.clip(box)
	for _, part := range parts[:n] {
		s.store.Search(part, func(rec *store.Record) bool {
			if !c.layers.Has(rec.Marker.Layer) {
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

// indexView makes vw the view nv, its boxes in the viewport index in
// place of vw's: the index of marker-mode views when nv.cz is -1, else
// that of cluster-mode views. The clusters' set and sent state go with
// nv (viewAckLocked attached it).
func (s *Server) indexView(c *conn, vw *view, nv view) {
	s.unindexView(vw)
	vw.v, vw.cz, vw.set, vw.sent = nv.v, nv.cz, nv.set, nv.sent
	cz := nv.cz
	v := nv.v
	tree := s.treeOf(vw)
	parts, n := c.clip(v.Box)
	for i := range n {
		if vw.parts[i] == nil {
			vw.parts[i] = &viewPart{c: c}
		}
		vp := vw.parts[i]
		vp.box, vp.cz = parts[i], cz
		tree.Insert(minRect(vp.box), maxRect(vp.box), vp)
		if tree == &s.views {
			s.viewSizes.add(vp.box, 1)
		}
	}
	vw.n = n
	vw.indexed = true
	c.setPullBoxes()
}

// setPullBoxes makes c.pullBoxes the boxes of c's marker-mode views in the
// index, after a change of them (indexView, unview). s.mu held, pull
// settled.
func (c *conn) setPullBoxes() {
	bs := c.pullBoxes[:0]
	if bs == nil {
		bs = c.pullBox[:0]
	}
	for i := range c.views {
		vw := &c.views[i]
		if vw.clustered() || !vw.indexed {
			continue
		}
		for _, vp := range vw.parts[:vw.n] {
			bs = append(bs, vp.box)
		}
	}
	c.pullBoxes = bs
}

func (s *Server) unindexView(vw *view) {
	if !vw.indexed {
		return
	}
	vw.indexed = false
	tree := s.treeOf(vw)
	for _, vp := range vw.parts[:vw.n] {
		tree.Delete(minRect(vp.box), maxRect(vp.box), vp)
		if tree == &s.views {
			s.viewSizes.add(vp.box, -1)
		}
	}
	vw.n = 0
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

func opsSize(ms []*store.Record) int {
	n := 0
	for _, rec := range ms {
		n += len(rec.Op)
	}
	return n
}

// replyOps are the ops of an ack or reset: markers, then cluster ops;
// size is their bytes.
type replyOps struct {
	markers  []*store.Record
	clusters [][]byte
	size     int
}

func (r *replyOps) len() int { return len(r.markers) + len(r.clusters) }

func (r *replyOps) op(i int) []byte {
	if i < len(r.markers) {
		return r.markers[i].Op
	}
	return r.clusters[i-len(r.markers)]
}

// splitReply returns the frames of a reply (a ViewAck or Reset, whose
// header head writes) holding ops: one frame when it fits in limit bytes,
// else the reply with FlagContinued and its first ops, then More frames,
// each no larger than limit unless it holds a single larger op.
func splitReply(head func(dst []byte, flags wire.Flags, n int) []byte, flags wire.Flags, ops replyOps, limit int) [][]byte {
	n := ops.len()
	first := head(make([]byte, 0, 64), flags|wire.FlagContinued, n) // as long as any header of it
	if len(first)+ops.size <= limit {
		frame := head(make([]byte, 0, len(first)+ops.size), flags, n)
		for i := range n {
			frame = append(frame, ops.op(i)...)
		}
		return [][]byte{frame}
	}
	// Where each frame's ops end: the headers written are no longer than
	// those measured, which count every op.
	moreHead := len(wire.AppendMoreHeader(nil, n, n))
	var ends, sizes []int
	size, room := 0, limit-len(first)
	for i := range n {
		l := len(ops.op(i))
		if size > 0 && size+l > room {
			ends, sizes = append(ends, i), append(sizes, size)
			size, room = 0, limit-moreHead
		}
		size += l
	}
	ends, sizes = append(ends, n), append(sizes, size)
	frames := make([][]byte, len(ends))
	start := 0
	for k, end := range ends {
		var frame []byte
		if k == 0 {
			frame = head(make([]byte, 0, len(first)+sizes[k]), flags|wire.FlagContinued, end-start)
		} else {
			frame = wire.AppendMoreHeader(make([]byte, 0, moreHead+sizes[k]), len(ends)-1-k, end-start)
		}
		for i := start; i < end; i++ {
			frame = append(frame, ops.op(i)...)
		}
		frames[k], start = frame, end
	}
	return frames
}
