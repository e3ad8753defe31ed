package server_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// bruteClusters computes, from all markers, the clusters of box at zoom z.
func bruteClusters(all []wire.Marker, box geo.Box, z int) map[geo.Tile]wire.Cluster {
	tiles := map[geo.Tile]bool{}
	for _, t := range geo.TilesTouching(box, z) {
		tiles[t] = true
	}
	sums := map[geo.Tile][3]float64{}
	for _, m := range all {
		t := geo.TileOf(m.Pos, z)
		if tiles[t] {
			s := sums[t]
			sums[t] = [3]float64{s[0] + 1, s[1] + m.Pos.Lon, s[2] + m.Pos.Lat}
		}
	}
	out := map[geo.Tile]wire.Cluster{}
	for t, s := range sums {
		out[t] = wire.Cluster{Z: t.Z, X: t.X, Y: t.Y, Count: uint64(s[0]), At: wire.Quantize(geo.Pt(s[1]/s[0], s[2]/s[0]))}
	}
	return out
}

func diffClusters(got, want map[geo.Tile]wire.Cluster) string {
	for t, w := range want {
		g, ok := got[t]
		if !ok || g.Count != w.Count || math.Abs(g.At.Lon-w.At.Lon) > 1e-6 || math.Abs(g.At.Lat-w.At.Lat) > 1e-6 {
			return fmt.Sprintf("cluster %v is %+v, want %+v (%d clusters, want %d)", t, g, w, len(got), len(want))
		}
	}
	for t := range got {
		if _, ok := want[t]; !ok {
			return fmt.Sprintf("extra cluster %v (%d clusters, want %d)", t, len(got), len(want))
		}
	}
	return ""
}

// TestClustersWorld: 100k markers world-wide; a world view gets at most
// its budget of clusters whose counts sum to the markers in view; zooming
// in gives markers, zooming out clusters again, with nothing stale left.
func TestClustersWorld(t *testing.T) {
	srv, url := servertest.StartServer(t, nil) // budget 5000
	rng := rand.New(rand.NewPCG(seed(t), 1))
	all := make([]wire.Marker, 100_000)
	for i := range all {
		all[i] = wire.Marker{ID: fmt.Sprint("m", i), Layer: "a",
			Pos: wire.Quantize(geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85))}
	}
	if err := srv.Apply(server.Upserts(all...)); err != nil {
		t.Fatal(err)
	}
	c := dialRecorder(t, url, "c")
	ctx := context.Background()
	world := wire.View{Box: geo.BBox(-180, -85, 180, 85), Zoom: 1.5}
	if err := c.SetView(ctx, 0, world.Box, world.Zoom); err != nil {
		t.Fatal(err)
	}
	got := c.Clusters()
	if len(got) == 0 || len(got) > 5000 || len(c.Markers()) != 0 {
		t.Fatalf("world view: %d clusters, %d markers", len(got), len(c.Markers()))
	}
	sum := uint64(0)
	for _, cl := range got {
		sum += cl.Count
	}
	if sum != uint64(len(all)) {
		t.Fatalf("clusters sum to %d markers, want %d", sum, len(all))
	}
	cz := server.ClusterZoom(world, 5000, 14)
	if msg := diffClusters(got, bruteClusters(all, world.Box, cz)); msg != "" {
		t.Fatal(msg)
	}
	t.Logf("world view: %d clusters at zoom %d", len(got), cz)

	// Zoom in: a city-sized view holds a few markers: marker mode.
	city := geo.BBox(2, 48, 3, 49)
	if err := c.SetView(ctx, 0, city, 9); err != nil {
		t.Fatal(err)
	}
	want := bruteForce(toMap(srv.MarkersIn(geo.World, nil)), []geo.Box{city}, nil)
	if msg := diffCache(c.Markers(), want); msg != "" || len(c.Clusters()) != 0 {
		t.Fatalf("zoomed in: %d clusters left;%s", len(c.Clusters()), msg)
	}

	// Out again.
	if err := c.SetView(ctx, 0, world.Box, world.Zoom); err != nil {
		t.Fatal(err)
	}
	if len(c.Markers()) != 0 || len(c.Clusters()) != len(got) {
		t.Fatalf("zoomed out: %d markers, %d clusters", len(c.Markers()), len(c.Clusters()))
	}
}

func toMap(ms []wire.Marker) map[string]wire.Marker {
	out := make(map[string]wire.Marker, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// TestClustersFollowMoves: a marker moving inside a cluster-mode view
// updates exactly the clusters of the tiles it left and entered; a move
// elsewhere updates nothing.
func TestClustersFollowMoves(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 50})
	rng := rand.New(rand.NewPCG(seed(t), 2))
	europe := geo.BBox(-10, 35, 30, 60)
	all := map[string]wire.Marker{}
	var batch []wire.Marker
	for i := range 500 {
		m := wire.Marker{ID: fmt.Sprint("m", i), Pos: wire.Quantize(geo.Pt(-10+rng.Float64()*40, 35+rng.Float64()*25))}
		batch = append(batch, m)
		all[m.ID] = m
	}
	if err := srv.Apply(server.Upserts(batch...)); err != nil {
		t.Fatal(err)
	}
	c := dialRecorder(t, url, "c")
	ctx := context.Background()
	v := wire.View{Box: europe, Zoom: 3}
	if err := c.SetView(ctx, 0, v.Box, v.Zoom); err != nil {
		t.Fatal(err)
	}
	// View 1, in marker mode over an empty ocean, carries the sentinel.
	if err := c.SetView(ctx, 1, geo.BBox(-40, -40, -39, -39), 10); err != nil {
		t.Fatal(err)
	}
	cz := server.ClusterZoom(v, 50, 14)
	if len(c.Clusters()) == 0 {
		t.Fatal("no clusters")
	}
	sentinel := wire.Marker{ID: "~s", Pos: geo.Pt(-39.5, -39.5)}
	for round := range 30 {
		c.take("~")
		c.mu.Lock()
		c.clusterOps = nil
		c.mu.Unlock()
		id := fmt.Sprint("m", rng.IntN(500))
		old := all[id]
		m := wire.Marker{ID: id, Pos: wire.Quantize(geo.Pt(-20+rng.Float64()*60, 30+rng.Float64()*35))}
		if err := srv.Upsert(m); err != nil {
			t.Fatal(err)
		}
		all[id] = m
		sentinel.Version = uint64(round + 1)
		if err := srv.Upsert(sentinel); err != nil {
			t.Fatal(err)
		}
		servertest.Eventually(t, 5*time.Second, func() string {
			if c.Markers()["~s"].Version != sentinel.Version {
				return "sentinel not received"
			}
			return ""
		})
		// Expected: the clusters of the old and the new tile, if the view
		// shows them.
		want := map[geo.Tile]bool{}
		for _, p := range []geo.Point{old.Pos, m.Pos} {
			if tile := geo.TileOf(p, cz); intersectsBox(europe, tile.Bounds()) {
				want[tile] = true
			}
		}
		c.mu.Lock()
		ops := c.clusterOps
		c.mu.Unlock()
		got := map[geo.Tile]bool{}
		for _, cl := range ops {
			got[geo.Tile{Z: cl.Z, X: cl.X, Y: cl.Y}] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: move %v → %v updated clusters %v, want %v", round, old.Pos, m.Pos, got, want)
		}
		list := make([]wire.Marker, 0, len(all))
		for _, m := range all {
			list = append(list, m)
		}
		if msg := diffClusters(c.Clusters(), bruteClusters(list, europe, cz)); msg != "" {
			t.Fatalf("round %d: %s", round, msg)
		}
	}
}

func intersectsBox(a, b geo.Box) bool {
	return a.West <= b.East && a.East >= b.West && a.South <= b.North && a.North >= b.South
}

// TestClusterZoomInReplies: the server alone decides a cluster-mode view's
// cluster zoom and says it: every cluster op of the view_ack is at it, and
// an ack whose view has no cluster the client may see still carries one, a
// gone cluster (count 0), to say it; a reset gives it in its view array.
// Here the grant's box is smaller than the finest cells counted at its
// edge, so the client may see markers but no cluster.
func TestClusterZoomInReplies(t *testing.T) {
	box := geo.BBox(2.3500, 48.8500, 2.3505, 48.8503)
	g := newGrants(map[string]auth.Grant{"tiny": {Box: boxPtr(box)}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize, Budget: 2})
	var ms []wire.Marker
	for i := range 5 {
		ms = append(ms, wire.Marker{ID: fmt.Sprint("m", i), Pos: geo.Pt(2.3501+float64(i)*5e-5, 48.8501)})
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	view := wire.View{Box: geo.BBox(2, 48.5, 2.7, 49.2), Zoom: 9}
	cz := server.ClusterZoom(view, 2, 14)
	c := dialRaw(t, url)
	c.helloWith("tiny")
	c.send(view)
	ack := c.reply().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 || len(ack.Ops) == 0 {
		t.Fatalf("ack flags %b with %d ops; want cluster mode with the zoom said", ack.Flags, len(ack.Ops))
	}
	for _, op := range ack.Ops {
		if op.Cluster == nil || int(op.Cluster.Z) != cz || op.Cluster.Count != 0 {
			t.Fatalf("ack op %+v; want gone clusters at zoom %d", op, cz)
		}
	}
	c.send(wire.Layers{})
	reset := c.reply().(wire.Reset)
	if len(reset.Views) != 1 || !reset.Clustered[0] || reset.ClusterZooms[0] != cz {
		t.Fatalf("reset views %+v clustered %v zooms %v; want one in cluster mode at %d", reset.Views, reset.Clustered, reset.ClusterZooms, cz)
	}
}
