package server_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// freshClusters returns the clusters a new connection is sent for view
// (in its view_ack), sorted by id, the connection's token being token.
func freshClusters(t *testing.T, url, token string, view wire.View) []wire.Cluster {
	t.Helper()
	c := dialRaw(t, url)
	defer c.ws.Close(websocket.StatusNormalClosure, "")
	c.helloWith(token)
	c.send(view)
	var out []wire.Cluster
	ack := c.reply().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 {
		t.Fatalf("view %+v is not in cluster mode", view)
	}
	ops := ack.Ops
	for more := ack.Flags&wire.FlagContinued != 0; more; {
		m := c.recv().(wire.More)
		ops = append(ops, m.Ops...)
		more = m.Remaining > 0
	}
	for _, op := range ops {
		out = append(out, *op.Cluster)
	}
	slices.SortFunc(out, func(a, b wire.Cluster) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// sameClusters tells how got (a client's clusters of one view) differs
// from want, "" when it does not.
func sameClusters(got, want []wire.Cluster) string {
	byID := map[uint64]wire.Cluster{}
	for _, c := range got {
		byID[c.ID] = c
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		w.View = g.View
		gm, wm := g.Marker, w.Marker
		g.Marker, w.Marker = nil, nil
		if !ok || g != w {
			return fmt.Sprintf("cluster %d is %+v, want %+v (%d clusters, want %d)", w.ID, g, w, len(got), len(want))
		}
		if (gm == nil) != (wm == nil) || gm != nil && !reflect.DeepEqual(*gm, *wm) {
			return fmt.Sprintf("cluster %d holds the marker %s, want %s", w.ID, markerText(gm), markerText(wm))
		}
		if w.Count == 1 && wm == nil {
			return fmt.Sprintf("cluster %d of count 1 was sent without its marker", w.ID)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d clusters, want %d", len(got), len(want))
	}
	return ""
}

// markerText is m as an error message shows it.
func markerText(m *wire.Marker) string {
	if m == nil {
		return "none"
	}
	return fmt.Sprintf("%+v", *m)
}

// ofView returns the clusters of view id among cs.
func ofView(cs []wire.Cluster, id int) []wire.Cluster {
	var out []wire.Cluster
	for _, c := range cs {
		if c.View == id {
			out = append(out, c)
		}
	}
	return out
}

// mercatorDistance is the distance between two points in world widths
// (Web Mercator, the short way round the antimeridian).
func mercatorDistance(a, b geo.Point) float64 {
	dx := math.Abs(a.Lon-b.Lon) / 360
	dx = min(dx, 1-dx)
	return math.Hypot(dx, geo.MercatorY(a.Lat)-geo.MercatorY(b.Lat))
}

// TestClustersWorld: 100k markers world-wide; a world view gets at most
// its budget of merged clusters, no two closer than 40 px at its cluster
// zoom, whose counts sum to every marker, each expanding at a finer zoom;
// zooming in gives markers, zooming out the same clusters again.
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
	world := wire.View{Box: geo.BBox(-180, -85.06, 180, 85.06), Zoom: 2.5}
	if err := c.SetView(ctx, 0, world.Box, world.Zoom); err != nil {
		t.Fatal(err)
	}
	got := c.Clusters()
	if len(got) == 0 || len(got) > 5000 || len(c.Markers()) != 0 {
		t.Fatalf("world view: %d clusters, %d markers", len(got), len(c.Markers()))
	}
	sum := uint64(0)
	ids := map[uint64]bool{}
	for _, cl := range got {
		sum += cl.Count
		ids[cl.ID] = true
		if cl.Z != 2 || cl.ExpansionZoom <= cl.Z || cl.ID > wire.MaxClusterID {
			t.Fatalf("cluster %+v: want zoom 2, a finer expansion zoom, an id below 2^53", cl)
		}
	}
	if sum != uint64(len(all)) || len(ids) != len(got) {
		t.Fatalf("clusters sum to %d markers, want %d; %d ids for %d clusters", sum, len(all), len(ids), len(got))
	}
	// 40 px on a map at zoom 2 (256-px tiles) is 40 / 1024 of the world.
	radius := 40.0 / (256 * 4)
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			if d := mercatorDistance(got[i].At, got[j].At); d < radius*(1-1e-6) {
				t.Fatalf("clusters %+v and %+v are %.1f px apart", got[i], got[j], d*1024)
			}
		}
	}
	t.Logf("world view at zoom %v: %d clusters", world.Zoom, len(got))

	city := geo.BBox(2, 48, 3, 49)
	if err := c.SetView(ctx, 0, city, 9); err != nil {
		t.Fatal(err)
	}
	want := bruteForce(toMap(srv.MarkersIn(geo.World, nil)), []geo.Box{city}, nil)
	if msg := diffCache(c.Markers(), want); msg != "" || len(c.Clusters()) != 0 {
		t.Fatalf("zoomed in: %d clusters left;%s", len(c.Clusters()), msg)
	}
	if err := c.SetView(ctx, 0, world.Box, world.Zoom); err != nil {
		t.Fatal(err)
	}
	if msg := sameClusters(c.Clusters(), got); len(c.Markers()) != 0 || msg != "" {
		t.Fatalf("zoomed out: %d markers; %s", len(c.Markers()), msg)
	}
}

func toMap(ms []wire.Marker) map[string]wire.Marker {
	out := make(map[string]wire.Marker, len(ms))
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// TestClustersExactAfterMoves: clients in cluster mode (a view of Europe,
// a view across the antimeridian, two views of one client at different
// zooms) while markers step, jump, appear and go in batches; once the feed
// is quiet, each client's clusters are exactly those a new connection is
// sent for the same view — counts, positions, ids and expansion zooms.
func TestClustersExactAfterMoves(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 50, ClusterInterval: 5 * time.Millisecond})
	rng := rand.New(rand.NewPCG(seed(t), 2))
	somewhere := func() geo.Point {
		if rng.IntN(2) == 0 {
			return wire.Quantize(geo.Pt(-10+rng.Float64()*40, 35+rng.Float64()*25)) // Europe
		}
		return wire.Quantize(geo.Pt(geo.WrapLon(170+rng.Float64()*20), -30+rng.Float64()*20)) // Fiji
	}
	all := map[string]wire.Marker{}
	var batch []wire.Marker
	for i := range 3000 {
		m := wire.Marker{ID: fmt.Sprint("m", i), Layer: []string{"a", "b"}[i%2], Pos: somewhere()}
		batch = append(batch, m)
		all[m.ID] = m
	}
	if err := srv.Apply(server.Upserts(batch...)); err != nil {
		t.Fatal(err)
	}
	views := []wire.View{
		{ID: 0, Box: geo.BBox(-10, 35, 30, 60), Zoom: 4},
		{ID: 1, Box: geo.BBox(165, -35, -165, -5), Zoom: 5},
		{ID: 2, Box: geo.BBox(-5, 40, 15, 55), Zoom: 6},
	}
	ctx := context.Background()
	one, two := dialRecorder(t, url, "one"), dialRecorder(t, url, "two", "a")
	for _, v := range views[:2] {
		if err := one.SetView(ctx, v.ID, v.Box, v.Zoom); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []wire.View{views[0], views[2]} {
		if err := two.SetView(ctx, v.ID, v.Box, v.Zoom); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 60 {
		us := randomChanges(rng, all, 50, 3500, func() string { return []string{"a", "b"}[rng.IntN(2)] }, 0.02, somewhere)
		if err := srv.Apply(us); err != nil {
			t.Fatal(err)
		}
		if round%10 == 0 {
			time.Sleep(2 * time.Millisecond) // let some flushes fall mid-feed
		}
	}
	check := func(r *recorder, token string, vs ...wire.View) {
		servertest.Eventually(t, 10*time.Second, func() string {
			for _, v := range vs {
				want := freshClusters(t, url, token, v)
				if msg := sameClusters(ofView(r.Clusters(), v.ID), want); msg != "" {
					return fmt.Sprintf("client %s, view %d: %s", r.name, v.ID, msg)
				}
			}
			return ""
		})
	}
	check(one, "", views[0], views[1])
	// The second client sees layer a only: a new connection of its own.
	checkLayer := func(v wire.View) {
		servertest.Eventually(t, 10*time.Second, func() string {
			c := dialRaw(t, url)
			defer c.ws.Close(websocket.StatusNormalClosure, "")
			c.helloWith("", "a")
			c.send(v)
			var want []wire.Cluster
			for _, op := range c.reply().(wire.ViewAck).Ops {
				want = append(want, *op.Cluster)
			}
			return sameClusters(ofView(two.Clusters(), v.ID), want)
		})
	}
	checkLayer(views[0])
	checkLayer(views[2])
}

// TestClustersExactShared: views of one group at one zoom whose regions
// overlap without being the same (sets whose merges in a flush share the
// cells of their common tiles), and one across the antimeridian, hold
// exactly a fresh reset's clusters once a feed of moves goes quiet.
func TestClustersExactShared(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 400, ClusterInterval: 5 * time.Millisecond})
	rng := rand.New(rand.NewPCG(seed(t), 7))
	somewhere := func() geo.Point {
		if rng.IntN(3) > 0 {
			return wire.Quantize(geo.Pt(-10+rng.Float64()*40, 35+rng.Float64()*25)) // Europe
		}
		return wire.Quantize(geo.Pt(geo.WrapLon(170+rng.Float64()*20), -30+rng.Float64()*20)) // Fiji
	}
	ms := make([]wire.Marker, 20000)
	for i := range ms {
		ms[i] = wire.Marker{ID: fmt.Sprint("m", i), Pos: somewhere()}
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	// Zoom 6: regions of tiles 5.6° wide; each box is a tile or two off
	// the previous one.
	views := []wire.View{
		{ID: 0, Box: geo.BBox(-8, 40, 12, 52), Zoom: 6},
		{ID: 1, Box: geo.BBox(-2, 42, 18, 54), Zoom: 6},
		{ID: 2, Box: geo.BBox(6, 38, 26, 50), Zoom: 6},
		{ID: 3, Box: geo.BBox(172, -28, -172, -12), Zoom: 6},
		{ID: 4, Box: geo.BBox(178, -24, -166, -8), Zoom: 6},
	}
	ctx := context.Background()
	a, b := dialRecorder(t, url, "a"), dialRecorder(t, url, "b")
	for i, v := range views {
		if err := []*recorder{a, b}[i%2].SetView(ctx, v.ID, v.Box, v.Zoom); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 40 {
		us := make([]server.Update, 0, 200)
		for range 200 {
			m := &ms[rng.IntN(len(ms))]
			if rng.IntN(10) == 0 {
				m.Pos = somewhere()
			} else {
				m.Pos = wire.Quantize(geo.Pt(geo.WrapLon(m.Pos.Lon+(rng.Float64()-0.5)*0.2), m.Pos.Lat+(rng.Float64()-0.5)*0.2))
			}
			us = append(us, server.Update{Marker: *m})
		}
		if err := srv.Apply(us); err != nil {
			t.Fatal(err)
		}
		if round%4 == 3 {
			time.Sleep(10 * time.Millisecond) // let flushes fall mid-feed
		}
	}
	for i, v := range views {
		r := []*recorder{a, b}[i%2]
		servertest.Eventually(t, 10*time.Second, func() string {
			want := freshClusters(t, url, "", v)
			if len(want) == 0 || want[0].Z != 6 {
				return fmt.Sprintf("view %d: %d clusters, want some at zoom 6", v.ID, len(want))
			}
			if msg := sameClusters(ofView(r.Clusters(), v.ID), want); msg != "" {
				return fmt.Sprintf("client %s, view %d: %s", r.name, v.ID, msg)
			}
			return ""
		})
	}
	// A reset reads the sets' clusters too: they must be a merge afresh.
	servertest.Eventually(t, 10*time.Second, srv.ClusterSetsMatchStore)
}

// TestClusterIDsStableAndQuiet: small steps (about 50 m) keep the ids of
// nearly every cluster a client holds (no flicker), and changes outside
// a view's region send it nothing.
func TestClusterIDsStableAndQuiet(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 50, ClusterInterval: time.Hour})
	rng := rand.New(rand.NewPCG(seed(t), 5))
	var ms []wire.Marker
	for i := range 5000 {
		ms = append(ms, wire.Marker{ID: fmt.Sprint("m", i), Pos: wire.Quantize(geo.Pt(-10+rng.Float64()*40, 35+rng.Float64()*25))})
	}
	for i := range 500 {
		ms = append(ms, wire.Marker{ID: fmt.Sprint("far", i), Pos: wire.Quantize(geo.Pt(100+rng.Float64()*10, -40+rng.Float64()*10))})
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	c := dialRecorder(t, url, "c")
	v := wire.View{Box: geo.BBox(-10, 35, 30, 60), Zoom: 5}
	if err := c.SetView(context.Background(), 0, v.Box, v.Zoom); err != nil {
		t.Fatal(err)
	}
	before := c.Clusters()
	delivered := srv.Stats().Delivered
	far := ms[5000:]
	for i := range far {
		far[i].Pos = wire.Quantize(geo.Pt(100+rng.Float64()*10, -40+rng.Float64()*10))
	}
	if err := srv.Apply(server.Upserts(far...)); err != nil {
		t.Fatal(err)
	}
	srv.FlushClusters()
	if d := srv.Stats().Delivered - delivered; d != 0 {
		t.Fatalf("moves outside the view's region delivered %d ops", d)
	}
	for i := range 1000 {
		m := &ms[i]
		m.Pos = wire.Quantize(geo.Pt(m.Pos.Lon+(rng.Float64()-0.5)*9e-4, m.Pos.Lat+(rng.Float64()-0.5)*9e-4))
	}
	if err := srv.Apply(server.Upserts(ms[:1000]...)); err != nil {
		t.Fatal(err)
	}
	srv.FlushClusters()
	want := freshClusters(t, url, "", v)
	servertest.Eventually(t, 5*time.Second, func() string { return sameClusters(c.Clusters(), want) })
	had := map[uint64]bool{}
	for _, cl := range before {
		had[cl.ID] = true
	}
	kept := 0
	for _, cl := range want {
		if had[cl.ID] {
			kept++
		}
	}
	t.Logf("%d of %d cluster ids kept after 1,000 steps of about 50 m", kept, len(want))
	if kept < len(want)*9/10 {
		t.Fatalf("only %d of %d cluster ids kept", kept, len(want))
	}
}

// TestClusterZoomInReplies: the server alone decides a cluster-mode view's
// cluster zoom and says it: every cluster op of the view_ack is at it, and
// a reset gives it in its view array. A grant's box smaller than the finest
// cells merged at its edge shows no cluster at all (its cells straddle the
// edge), though the client may see markers.
func TestClusterZoomInReplies(t *testing.T) {
	box := geo.BBox(2.3500, 48.8500, 2.3505, 48.8503)
	g := newGrants(map[string]auth.Grant{"tiny": {Box: boxPtr(box)}, "all": {}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize, Budget: 2})
	var ms []wire.Marker
	for i := range 5 {
		ms = append(ms, wire.Marker{ID: fmt.Sprint("m", i), Pos: geo.Pt(2.3501+float64(i)*5e-5, 48.8501)})
	}
	for i := range 20 {
		ms = append(ms, wire.Marker{ID: fmt.Sprint("n", i), Pos: geo.Pt(2.1+float64(i)*0.02, 48.7)})
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	view := wire.View{Box: geo.BBox(2, 48.5, 2.7, 49.2), Zoom: 9.5}
	c := dialRaw(t, url)
	c.helloWith("tiny")
	c.send(view)
	ack := c.reply().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 || len(ack.Ops) != 0 {
		t.Fatalf("restricted: ack flags %b with %d ops; want cluster mode, no cluster", ack.Flags, len(ack.Ops))
	}
	open := dialRaw(t, url)
	open.helloWith("all")
	open.send(view)
	ack = open.reply().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 || len(ack.Ops) == 0 {
		t.Fatalf("ack flags %b with %d ops; want cluster mode", ack.Flags, len(ack.Ops))
	}
	// The budget (2) lowers the zoom from the view's 9 until its clusters
	// are at most 2.
	cz := ack.Ops[0].Cluster.Z
	for _, op := range ack.Ops {
		if op.Cluster == nil || op.Cluster.Z != cz || op.Cluster.View != view.ID {
			t.Fatalf("ack op %+v; want clusters of view %d at one zoom", op, view.ID)
		}
	}
	if cz >= 9 || len(ack.Ops) > 2 {
		t.Fatalf("%d clusters at zoom %d; want at most the budget, 2, below the view's zoom 9", len(ack.Ops), cz)
	}
	open.send(wire.Layers{})
	reset := open.reply().(wire.Reset)
	if len(reset.Views) != 1 || !reset.Clustered[0] || reset.ClusterZooms[0] != int(cz) || len(reset.Ops) != len(ack.Ops) {
		t.Fatalf("reset views %+v clustered %v zooms %v with %d ops; want one in cluster mode at %d with %d", reset.Views, reset.Clustered, reset.ClusterZooms, len(reset.Ops), cz, len(ack.Ops))
	}
}
