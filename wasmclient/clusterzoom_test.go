package wasmclient

import (
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// TestClusterZoomFromServer: a client applies a pushed cluster to a view in
// cluster mode when the cluster is at the zoom the server gave the view
// (its view_ack's cluster ops, a reset's view array), whatever the view's
// own zoom; it computes no zoom of its own.
func TestClusterZoomFromServer(t *testing.T) {
	c := newClient("ws://unused", nil)
	defer c.cancel()
	view := wire.View{Box: geo.BBox(0, 0, 10, 10), Zoom: 10}
	at := geo.Pt(5, 5)
	cluster := func(z uint8, count uint64) wire.Op {
		tile := geo.TileOf(at, int(z))
		return wire.Op{Cluster: &wire.Cluster{Z: z, X: tile.X, Y: tile.Y, Count: count, At: at}}
	}
	pushed := func(op wire.Op) bool {
		ch, werr := c.apply(wire.Batch{Ops: []wire.Op{op}})
		if werr != nil {
			t.Fatal(werr)
		}
		return ch != nil && len(ch.Clusters) == 1
	}

	// The ack's only cluster is gone (count 0): it says the zoom, 6.
	if _, werr := c.apply(wire.ViewAck{View: view, Flags: wire.FlagSnapshot | wire.FlagClusters, Ops: []wire.Op{cluster(6, 0)}}); werr != nil {
		t.Fatal(werr)
	}
	if !pushed(cluster(6, 3)) {
		t.Error("a cluster at the ack's zoom 6 was not applied")
	}
	if pushed(cluster(13, 3)) {
		t.Error("a cluster at zoom 13 (the view's zoom + 3) was applied to a view at cluster zoom 6")
	}
	if n := len(c.Clusters()); n != 1 {
		t.Errorf("the client holds %d clusters, want 1", n)
	}

	// A reset names the zoom in its view array.
	if _, werr := c.apply(wire.Reset{Views: []wire.View{view}, Clustered: []bool{true}, ClusterZooms: []int{4}}); werr != nil {
		t.Fatal(werr)
	}
	if !pushed(cluster(4, 2)) || pushed(cluster(6, 2)) {
		t.Error("after a reset at cluster zoom 4, clusters were not applied by that zoom")
	}
}
