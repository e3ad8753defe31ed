package server

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// Clusters. A view holding more markers than the budget is in cluster mode:
// instead of markers it is sent merged clusters (store.MergedClusters): no
// two closer than 40 px on a map at the view's cluster zoom, each at the
// weight centre of its markers, with a stable id and an expansion zoom.
//
// Views share their clusters: the views of one merge zoom, one layer set
// and grant (clusterGroup) and one region — the tiles at the merge zoom + 1
// (256 px each on screen) their box touches — read one clusterSet, which
// is merged once for all of them. A change of a marker only records where
// it happened (clusterDirty, O(1)); at most every Options.ClusterInterval
// the sets whose region holds such a place are merged again, and each of
// their views is sent the difference between what it holds (view.sent) and
// the new clusters it meets: the clusters that changed or appeared, and a
// gone cluster (count 0) for each that left. A view_ack or reset sends the
// view's whole set and makes it what the view holds, so once the changes
// stop, every client holds exactly what a fresh reset would give it
// (docs/design.md, "Merged clusters sent, shared and throttled").

// mergeZoomOf returns the zoom the clusters of a view at zoom are merged
// at, in store.MergedClusters' (and supercluster's) terms: 40 px of a
// 512-px tile at merge zoom m is 40 px on a map at the protocol's zoom
// m + 1 (256-px tiles).
func mergeZoomOf(zoom float64) int { return max(int(math.Floor(zoom))-1, 0) }

// A clusterSetKey names the clusters views share.
type clusterSetKey struct {
	m              int    // merge zoom
	group          string // the connections' clusterGroup: layers and grant box
	x0, x1, y0, y1 uint32 // the tiles at zoom m + 1 of the region; x0 > x1 wraps
}

// A clusterSet is the merged clusters of a region, shared by the views
// whose key it is.
type clusterSet struct {
	key      clusterSetKey
	region   geo.Box // the union of the key's tiles (may cross the antimeridian)
	layers   layerSet
	grant    *geo.Box
	clusters []store.MergedCluster // sorted by ID
	// fresh: clusters hold every change so far; a set not fresh is
	// merged again before it is read.
	fresh bool
	// due: clusters changed since the views were last sent their
	// differences; the next flush sends them.
	due   bool
	views []viewRef
	parts [2]geo.Box // region, split at the antimeridian, in Server.clusterRegions
	n     int
}

// A viewRef leads to a view of a connection (views move in c.views).
type viewRef struct {
	c  *conn
	id int
}

// sentCluster is a cluster as a client holds it.
type sentCluster struct {
	count        uint64
	lonE7, latE7 int64
	expansion    uint8
	gen          uint32 // the diff that last found it, to find those gone
	// loneID and loneVersion name the state of the isolated marker sent
	// with it (loneID 0: none): a hash of its id (FNV-1a, 64 bits) and
	// its version, which every change of a marker raises. No pointer:
	// the views' maps of sentCluster stay out of the collector's scans.
	loneID, loneVersion uint64
}

// dirtyPlace is where a change happened, for the sets to merge again.
type dirtyPlace struct {
	layer string
	at    geo.Point
	// propsOnly: a marker's props or version changed, not its place. No
	// cluster changed, but an isolated marker's op did: the sets there
	// send their views the difference, without a merge.
	propsOnly bool
}

// regionOf returns the key's tiles and region for box at merge zoom m.
func regionOf(box geo.Box, m int) (x0, x1, y0, y1 uint32, region geo.Box) {
	nw := geo.TileOf(geo.Pt(box.West, box.North), m)
	se := geo.TileOf(geo.Pt(box.East, box.South), m)
	x0, x1, y0, y1 = nw.X, se.X, nw.Y, se.Y
	last := uint32(1)<<m - 1
	if box.East-box.West >= 360 || (box.CrossesAntimeridian() && (x1+1)%(last+1) >= x0) {
		x0, x1 = 0, last
	}
	w := geo.Tile{Z: uint8(m), X: x0, Y: y0}.Bounds()
	e := geo.Tile{Z: uint8(m), X: x1, Y: y1}.Bounds()
	return x0, x1, y0, y1, geo.Box{West: w.West, North: w.North, East: e.East, South: e.South}
}

// clusterSetLocked returns the set of vw, a view of c in cluster mode,
// attaching vw to it (and leaving the set it had) when its key changed:
// its box, its zoom, or c's layers or grant.
func (s *Server) clusterSetLocked(c *conn, vw *view) *clusterSet {
	set := s.clusterSetForLocked(c, vw.v.Box, vw.cz)
	if vw.set == set {
		return set
	}
	s.leaveClusterSetLocked(c, vw)
	set.views = append(set.views, viewRef{c, vw.v.ID})
	vw.set = set
	return set
}

// clusterSetForLocked returns the set of a view of c at box and cluster
// zoom cz, made when there is none (with no view: the caller attaches one
// or calls dropUnusedSetLocked).
func (s *Server) clusterSetForLocked(c *conn, box geo.Box, cz int) *clusterSet {
	m := mergeZoomOf(float64(cz))
	// Regions of 256-px tiles: a 1024 × 640 view reads about 5 × 4 of
	// them (512-px tiles: up to 3 × 3, twice the cells to merge, for
	// little more sharing).
	x0, x1, y0, y1, region := regionOf(box, min(m+1, geo.MaxZoom))
	key := clusterSetKey{m: m, group: c.clusterGroup, x0: x0, x1: x1, y0: y0, y1: y1}
	if set := s.clusterSets[key]; set != nil {
		return set
	}
	set := &clusterSet{key: key, region: region, layers: c.layers}
	if c.restricted {
		g := *c.grant.Box
		set.grant = &g
	}
	set.parts, set.n = region.Split()
	for _, b := range set.parts[:set.n] {
		s.clusterRegions.Insert(minRect(b), maxRect(b), set)
	}
	s.clusterSets[key] = set
	return set
}

// dropUnusedSetLocked forgets set when no view reads it.
func (s *Server) dropUnusedSetLocked(set *clusterSet) {
	if len(set.views) > 0 {
		return
	}
	for _, b := range set.parts[:set.n] {
		s.clusterRegions.Delete(minRect(b), maxRect(b), set)
	}
	delete(s.clusterSets, set.key)
}

// leaveClusterSetLocked detaches vw from its set, dropping the set when
// no view is left in it.
func (s *Server) leaveClusterSetLocked(c *conn, vw *view) {
	set := vw.set
	if set == nil {
		return
	}
	vw.set = nil
	set.views = slices.DeleteFunc(set.views, func(r viewRef) bool { return r.c == c && r.id == vw.v.ID })
	s.dropUnusedSetLocked(set)
}

// clustersLocked returns set's clusters, merged again first when a change
// touched its region since.
func (s *Server) clustersLocked(set *clusterSet) []store.MergedCluster {
	return s.mergeLocked(set, nil)
}

// mergeLocked is clustersLocked reading the cells of each tile of set's
// region from share when a set of its group merged them since share was
// reset (in a flush, where no change comes between merges), else walking
// the cell maps.
func (s *Server) mergeLocked(set *clusterSet, share *store.GatherShare) []store.MergedCluster {
	if len(s.clusterDirty) > 0 {
		s.markDirtyLocked()
	}
	if !set.fresh {
		// The cells of the region's tiles, not those of its neighbours
		// that touch its edges.
		k := &set.key
		set.clusters = s.store.MergedClustersOfTiles(k.m, min(k.m+1, geo.MaxZoom), k.x0, k.x1, k.y0, k.y1, set.layers, set.grant, k.group, share)
		set.fresh, set.due = true, true
		s.armClustersLocked()
	}
	return set.clusters
}

// clusterOpsLocked returns the cluster ops of view vw of c in cluster
// mode: every cluster of its set that meets its box, as the view's
// whole state, which becomes what the view holds (vw.sent).
func (s *Server) clusterOpsLocked(c *conn, vw *view) (ops [][]byte, size int) {
	set := s.clusterSetLocked(c, vw)
	vw.sent = make(map[uint64]sentCluster)
	for i := range s.clustersLocked(set) {
		mc := &set.clusters[i]
		if !geo.Intersects(mc.Covers, vw.v.Box) {
			continue
		}
		cl := s.wireCluster(vw, mc)
		lone := s.loneOf(mc)
		vw.sent[mc.ID] = sentOf(&cl, lone, 0)
		op := slices.Clone(s.clusterOp(&cl, loneOp(lone)))
		ops = append(ops, op)
		size += len(op)
	}
	return ops, size
}

// wireCluster returns mc as view vw's cluster op.
func (s *Server) wireCluster(vw *view, mc *store.MergedCluster) wire.Cluster {
	return wire.Cluster{
		View: vw.v.ID, ID: mc.ID, Z: uint8(vw.cz), Count: mc.Count, At: wire.Quantize(mc.At),
		// A merge zoom is the protocol's zoom − 1.
		ExpansionZoom: uint8(min(mc.ExpansionZoom+1, geo.MaxZoom)),
	}
}

// loneOf returns the record of mc's isolated marker, as the store holds
// it now; nil when mc is not one.
func (s *Server) loneOf(mc *store.MergedCluster) *store.Record {
	if mc.Lone == "" {
		return nil
	}
	return s.store.Get(mc.Lone)
}

// loneOp returns lone's upsert op, nil for no record.
func loneOp(lone *store.Record) []byte {
	if lone == nil {
		return nil
	}
	return lone.Op
}

// clusterOp encodes cl, with lone, the upsert op of its isolated marker,
// when not nil. Valid until the encoder's next use.
func (s *Server) clusterOp(cl *wire.Cluster, lone []byte) []byte {
	if lone != nil {
		return s.enc.LoneClusterOp(cl, lone)
	}
	return s.enc.ClusterOp(cl)
}

func sentOf(cl *wire.Cluster, lone *store.Record, gen uint32) sentCluster {
	sc := sentCluster{count: cl.Count, lonE7: wire.ToE7(cl.At.Lon), latE7: wire.ToE7(cl.At.Lat), expansion: cl.ExpansionZoom, gen: gen}
	if lone != nil {
		sc.loneID, sc.loneVersion = idHash(lone.Marker.ID), lone.Marker.Version
	}
	return sc
}

// idHash is FNV-1a of a marker id, never 0 (which means no marker).
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return max(h, 1)
}

// clusterZoomLocked returns the cluster zoom of view v of c, which holds
// more markers than the budget or whose client declutters (under the
// budget, the view's own zoom): the protocol zoom whose merged clusters
// number at most the budget, from the view's own zoom (floored, at least
// 1) down to 1. The policy is the server's alone: the clients read the
// zoom from the cluster ops and the reset's views.
func (s *Server) clusterZoomLocked(c *conn, v wire.View) int {
	cz := max(int(math.Floor(v.Zoom)), 1)
	for ; cz > 1; cz-- {
		set := s.clusterSetForLocked(c, v.Box, cz)
		n := 0
		for i := range s.clustersLocked(set) {
			if geo.Intersects(set.clusters[i].Covers, v.Box) {
				n++
			}
		}
		if n <= s.opts.Budget {
			break // kept for the ack, which attaches the view
		}
		s.dropUnusedSetLocked(set)
	}
	return cz
}

// changedClustersLocked records where change ch happened, for the
// cluster sets whose region holds it: O(1) per change; the merging waits
// for the next flush. A change of props or version alone changes no
// cluster but may be an isolated marker's: the sets there only send their
// views what differs.
func (s *Server) changedClustersLocked(ch *store.Change) {
	if len(s.clusterSets) == 0 {
		return
	}
	switch {
	case ch.Kind == store.Updated && !ch.Moved():
		s.clusterDirty = append(s.clusterDirty, dirtyPlace{ch.New.Layer, ch.New.Pos, true})
	default:
		if ch.Had() {
			s.clusterDirty = append(s.clusterDirty, dirtyPlace{ch.Old.Layer, ch.Old.Pos, false})
		}
		if ch.Has() {
			s.clusterDirty = append(s.clusterDirty, dirtyPlace{ch.New.Layer, ch.New.Pos, false})
		}
	}
	s.armClustersLocked()
}

// armClustersLocked has the clusters flushed within the interval.
func (s *Server) armClustersLocked() {
	if s.clusterArmed || s.stopped {
		return
	}
	s.clusterArmed = true
	if s.clusterTimer == nil {
		s.clusterTimer = time.AfterFunc(s.opts.ClusterInterval, s.flushClusters)
		return
	}
	s.clusterTimer.Reset(s.opts.ClusterInterval)
}

// markDirtyLocked marks stale the sets whose region holds a place in
// clusterDirty (in a layer it reads, inside its grant), or only due for a
// place of a props-only change, and empties it.
// With many more places than sets, every set is marked: under a busy
// feed nearly every region changed anyway, and this bounds the cost per
// change.
func (s *Server) markDirtyLocked() {
	places := s.clusterDirty
	s.clusterDirty = places[:0]
	if len(places) > 32*len(s.clusterSets) {
		for _, set := range s.clusterSets {
			set.fresh = false
		}
		return
	}
	for _, p := range places {
		r := [2]float64{p.at.Lon, p.at.Lat}
		s.clusterRegions.Search(r, r, func(_, _ [2]float64, set *clusterSet) bool {
			if set.layers.Has(p.layer) && (set.grant == nil || set.grant.Contains(p.at)) {
				if p.propsOnly {
					set.due = true
				} else {
					set.fresh = false
				}
			}
			return true
		})
	}
}

// shareGathers is false only in BenchmarkMergedClusterMove's baseline
// (each set gathering its own cells, as before the share).
var shareGathers = true

// flushClusters merges again the sets a change touched and sends each of
// their views what changed.
func (s *Server) flushClusters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusterArmed = false
	s.flushClustersLocked()
}

func (s *Server) flushClustersLocked() {
	s.markDirtyLocked()
	s.beginBatchLocked(0)
	defer s.endBatchLocked()
	// Sets of one group and merge zoom that overlap read the same tiles:
	// each tile's cells are gathered once per flush.
	s.gatherShare.Reset()
	share := &s.gatherShare
	if !shareGathers {
		share = nil
	}
	for _, set := range s.clusterSets {
		s.mergeLocked(set, share)
		if !set.due {
			continue
		}
		set.due = false
		for _, r := range set.views {
			if i := r.c.viewIndex(r.id); i >= 0 {
				s.sendDiffLocked(r.c, &r.c.views[i])
			}
		}
	}
	s.clusterArmed = false
	if s.clusterTimer != nil {
		s.clusterTimer.Stop()
	}
}

// sendDiffLocked sends view vw of c the clusters of its set that differ
// from what it holds, and a gone cluster for each it holds no more.
func (s *Server) sendDiffLocked(c *conn, vw *view) {
	s.clusterGen++
	gen := s.clusterGen
	for i := range vw.set.clusters {
		mc := &vw.set.clusters[i]
		if !geo.Intersects(mc.Covers, vw.v.Box) {
			continue
		}
		cl := s.wireCluster(vw, mc)
		lone := s.loneOf(mc)
		now := sentOf(&cl, lone, gen)
		if old, ok := vw.sent[mc.ID]; ok && old.count == now.count && old.lonE7 == now.lonE7 &&
			old.latE7 == now.latE7 && old.expansion == now.expansion &&
			old.loneID == now.loneID && old.loneVersion == now.loneVersion {
			vw.sent[mc.ID] = now
			continue
		}
		vw.sent[mc.ID] = now
		s.fan.inline.deliver(c, clusterKey(vw.v.ID, mc.ID), slices.Clone(s.clusterOp(&cl, loneOp(lone))))
	}
	for id, old := range vw.sent {
		if old.gen == gen {
			continue
		}
		delete(vw.sent, id)
		gone := wire.Cluster{View: vw.v.ID, ID: id, Z: uint8(vw.cz)}
		s.fan.inline.deliver(c, clusterKey(vw.v.ID, id), slices.Clone(s.enc.ClusterOp(&gone)))
	}
}

// clusterKey is the outbox key of view's cluster id: a newer state of the
// same cluster replaces an older one still waiting.
func clusterKey(view int, id uint64) outbox.Key {
	b := make([]byte, 0, 24)
	b = append(b, 0, 'c')
	b = strconv.AppendInt(b, int64(view), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, id, 10)
	return outbox.KeyOf(string(b))
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
