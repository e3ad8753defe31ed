package wasmclient

import (
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// TestClustersByView: a cluster op applies to the view it names, when that
// view is in cluster mode, by its id: a later state replaces the earlier,
// count 0 removes it; a view's view_ack replaces its whole set and leaves
// the other views' alone; a reset replaces everything. Clusters reads the
// one state the changes report.
func TestClustersByView(t *testing.T) {
	c := newClient("ws://unused", nil)
	defer c.cancel()
	a := wire.View{ID: 0, Box: geo.BBox(0, 0, 10, 10), Zoom: 5}
	b := wire.View{ID: 1, Box: geo.BBox(20, 0, 30, 10), Zoom: 5}
	cl := func(view int, id, count uint64) wire.Op {
		return wire.Op{Cluster: &wire.Cluster{View: view, ID: id, Z: 5, Count: count, At: geo.Pt(5, 5), ExpansionZoom: 7}}
	}
	apply := func(m wire.Message) *Change {
		t.Helper()
		ch, werr := c.apply(m)
		if werr != nil {
			t.Fatal(werr)
		}
		return ch
	}
	ids := func() map[[2]uint64]uint64 {
		out := map[[2]uint64]uint64{}
		for _, x := range c.Clusters() {
			out[[2]uint64{uint64(x.View), x.ID}] = x.Count
		}
		return out
	}
	apply(wire.ViewAck{View: a, Flags: wire.FlagSnapshot | wire.FlagClusters, Ops: []wire.Op{cl(0, 1, 10), cl(0, 2, 20)}})
	apply(wire.ViewAck{View: b, Flags: wire.FlagClusters, Ops: []wire.Op{cl(1, 1, 5)}})
	if got := ids(); len(got) != 3 || got[[2]uint64{0, 1}] != 10 || got[[2]uint64{1, 1}] != 5 {
		t.Fatalf("after two acks: %v", got)
	}
	ch := apply(wire.Batch{Ops: []wire.Op{cl(0, 1, 11), cl(0, 2, 0), cl(1, 7, 3), cl(3, 1, 9)}})
	if got := ids(); len(got) != 3 || got[[2]uint64{0, 1}] != 11 || got[[2]uint64{1, 7}] != 3 {
		t.Fatalf("after a batch: %v", got)
	}
	if ch == nil || len(ch.Clusters) != 3 || ch.ClustersReset {
		t.Fatalf("the batch's change %+v; want 3 clusters (the op of view 3, not in cluster mode, ignored)", ch)
	}
	if x := c.Clusters()[0]; x.ExpansionZoom != 7 || x.Z != 5 {
		t.Errorf("cluster %+v lost its zooms", x)
	}
	// View 0 set again: its set replaced, view 1's kept.
	ch = apply(wire.ViewAck{View: a, Flags: wire.FlagClusters, Ops: []wire.Op{cl(0, 9, 1)}})
	if got := ids(); len(got) != 3 || got[[2]uint64{0, 9}] != 1 || got[[2]uint64{0, 1}] != 0 {
		t.Fatalf("after view 0 set again: %v", got)
	}
	if !ch.ClustersReset || len(ch.Clusters) != 3 {
		t.Errorf("the ack's change %+v; want the whole set", ch)
	}
	// View 1 in marker mode: its clusters go.
	apply(wire.ViewAck{View: b})
	if got := ids(); len(got) != 1 {
		t.Fatalf("after view 1 left cluster mode: %v", got)
	}
	apply(wire.Reset{Views: []wire.View{a, b}, Clustered: []bool{false, true}, ClusterZooms: []int{0, 5}, Ops: []wire.Op{cl(1, 4, 2), cl(0, 5, 2)}})
	if got := ids(); len(got) != 1 || got[[2]uint64{1, 4}] != 2 {
		t.Fatalf("after a reset: %v", got)
	}
}
