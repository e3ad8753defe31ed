package server_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// dialDeclutter is dialRecorder for a client with Options.Declutter.
func dialDeclutter(t testing.TB, url, name string) *recorder {
	t.Helper()
	r := &recorder{name: name, added: map[string]wire.Marker{}, removed: map[string]bool{}}
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{
		Declutter: true, Throttle: time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnChange: r.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Client = c
	t.Cleanup(func() { c.Close() })
	return r
}

// freshDecluttered returns the clusters a new decluttering connection is
// sent for view, sorted by id.
func freshDecluttered(t *testing.T, url string, view wire.View) []wire.Cluster {
	t.Helper()
	c := dialRaw(t, url)
	defer c.ws.Close(websocket.StatusNormalClosure, "")
	c.send(wire.Hello{Version: wire.Version, Declutter: true})
	if _, ok := c.recv().(wire.Welcome); !ok {
		t.Fatal("no welcome")
	}
	c.send(view)
	ack := c.reply().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 {
		t.Fatalf("decluttered view %+v is not in cluster mode", view)
	}
	ops := ack.Ops
	for more := ack.Flags&wire.FlagContinued != 0; more; {
		m := c.recv().(wire.More)
		ops = append(ops, m.Ops...)
		more = m.Remaining > 0
	}
	var out []wire.Cluster
	for _, op := range ops {
		if op.Cluster == nil {
			t.Fatalf("decluttered view %+v was sent marker %q", view, op.Marker.ID)
		}
		out = append(out, *op.Cluster)
	}
	slices.SortFunc(out, func(a, b wire.Cluster) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// TestDeclutterExactAfterMoves: a decluttering client's city view, far
// below the budget, holds clusters — the dense centre grouped (count ≥ 2),
// isolated markers clusters of count 1 carrying their marker — and no
// marker; a client without the option holds the markers themselves.
// After markers step, jump, appear, go and change their props alone, once
// the feed is quiet the decluttering client holds exactly what a fresh
// decluttering connection is sent (isolated markers with their latest
// props: sameClusters), and the counts add up to the markers in view. At
// DeclutterMaxZoom the view holds markers again.
func TestDeclutterExactAfterMoves(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 1000, ClusterInterval: 5 * time.Millisecond})
	rng := rand.New(rand.NewPCG(seed(t), 14))
	paris := geo.Pt(2.35, 48.85)
	somewhere := func() geo.Point {
		if rng.IntN(4) > 0 { // the centre: overlapping at zoom 11
			return wire.Quantize(geo.Pt(paris.Lon+(rng.Float64()-0.5)*0.04, paris.Lat+(rng.Float64()-0.5)*0.03))
		}
		return wire.Quantize(geo.Pt(paris.Lon+(rng.Float64()-0.5)*0.8, paris.Lat+(rng.Float64()-0.5)*0.5))
	}
	all := map[string]wire.Marker{}
	var batch []wire.Marker
	for i := range 400 {
		m := wire.Marker{ID: fmt.Sprint("m", i), Layer: "cars", Pos: somewhere(), Props: map[string]any{"round": int64(-1)}}
		batch = append(batch, m)
		all[m.ID] = m
	}
	if err := srv.Apply(server.Upserts(batch...)); err != nil {
		t.Fatal(err)
	}
	// The view holds every marker, a few cells from its edges.
	view := wire.View{ID: 0, Box: geo.BBox(paris.Lon-1, paris.Lat-0.6, paris.Lon+1, paris.Lat+0.6), Zoom: 11}
	ctx := context.Background()
	plain, dec := dialRecorder(t, url, "plain"), dialDeclutter(t, url, "declutter")
	for _, c := range []*recorder{plain, dec} {
		if err := c.SetView(ctx, view.ID, view.Box, view.Zoom); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(plain.Markers()); n != len(all) || len(plain.Clusters()) != 0 {
		t.Fatalf("without declutter: %d markers and %d clusters, want %d markers and none", n, len(plain.Clusters()), len(all))
	}
	check := func(when string) {
		t.Helper()
		servertest.Eventually(t, 10*time.Second, func() string {
			want := freshDecluttered(t, url, view)
			got := ofView(dec.Clusters(), view.ID)
			if msg := sameClusters(got, want); msg != "" {
				return when + ": " + msg
			}
			if ms := dec.Markers(); len(ms) != 0 {
				return fmt.Sprintf("%s: the decluttered view holds %d markers besides its clusters", when, len(ms))
			}
			var sum uint64
			grouped, single := 0, 0
			for _, c := range got {
				sum += c.Count
				if c.Count >= 2 {
					grouped++
				} else {
					single++
				}
			}
			if sum != uint64(len(all)) || grouped == 0 || single == 0 {
				return fmt.Sprintf("%s: %d clusters of 2 or more and %d of 1 hold %d markers, want some of each holding %d", when, grouped, single, sum, len(all))
			}
			return ""
		})
	}
	check("at first")
	for round := range 40 {
		us := randomChanges(rng, all, 20, 450, func() string { return "cars" }, 0.002, somewhere)
		// Props-only changes: an isolated marker's reach its cluster.
		for range 5 {
			id := fmt.Sprint("m", rng.IntN(450))
			if m, ok := all[id]; ok {
				m.Props = map[string]any{"round": int64(round)}
				all[id] = m
				us = append(us, server.Update{Marker: m})
			}
		}
		if err := srv.Apply(us); err != nil {
			t.Fatal(err)
		}
		if round%10 == 0 {
			time.Sleep(2 * time.Millisecond) // let some flushes fall mid-feed
		}
	}
	check("after the moves")

	// At DeclutterMaxZoom the markers themselves, as without the option.
	street := wire.View{ID: 0, Box: geo.BBox(paris.Lon-0.01, paris.Lat-0.006, paris.Lon+0.01, paris.Lat+0.006), Zoom: wire.DeclutterMaxZoom}
	if err := dec.SetView(ctx, street.ID, street.Box, street.Zoom); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, m := range all {
		if street.Box.Contains(m.Pos) {
			want++
		}
	}
	if n := len(dec.Markers()); n != want || want == 0 || len(dec.Clusters()) != 0 {
		t.Fatalf("decluttering at zoom %d: %d markers and %d clusters, want %d markers and none", wire.DeclutterMaxZoom, n, len(dec.Clusters()), want)
	}
}

// TestDeclutterLoneMarker: in a decluttered view an isolated marker
// reaches the client as itself — a cluster of count 1 carrying its id,
// position and props — never as a marker of the view besides; a second
// marker coming within the radius turns the two into one cluster of 2
// with no marker (the isolated one gone), its leaving gives both back as
// isolated markers, and a change of props alone reaches the client. After
// each step the client holds what a fresh connection is sent.
func TestDeclutterLoneMarker(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 1000, ClusterInterval: 5 * time.Millisecond})
	paris := geo.Pt(2.35, 48.85)
	view := wire.View{ID: 0, Box: geo.BBox(paris.Lon-0.5, paris.Lat-0.3, paris.Lon+0.5, paris.Lat+0.3), Zoom: 11}
	a := wire.Marker{ID: "a", Layer: "cars", Pos: paris, Props: map[string]any{"name": "Alice", "heading": 45.0}}
	b := wire.Marker{ID: "b", Layer: "cars", Pos: geo.Pt(paris.Lon+0.3, paris.Lat), Props: map[string]any{"name": "Bob"}}
	if err := srv.Apply(server.Upserts(a, b)); err != nil {
		t.Fatal(err)
	}
	dec := dialDeclutter(t, url, "declutter")
	if err := dec.SetView(context.Background(), view.ID, view.Box, view.Zoom); err != nil {
		t.Fatal(err)
	}
	// state waits until the client's clusters are those a fresh
	// connection gets, and are want: cluster counts, and the props of
	// the isolated markers by id.
	state := func(when string, counts []uint64, lone map[string]string) {
		t.Helper()
		servertest.Eventually(t, 10*time.Second, func() string {
			got := ofView(dec.Clusters(), view.ID)
			if msg := sameClusters(got, freshDecluttered(t, url, view)); msg != "" {
				return when + ": " + msg
			}
			if ms := dec.Markers(); len(ms) != 0 {
				return fmt.Sprintf("%s: the view holds %d markers besides its clusters", when, len(ms))
			}
			var gotCounts []uint64
			gotLone := map[string]string{}
			for _, c := range got {
				gotCounts = append(gotCounts, c.Count)
				if c.Marker != nil {
					gotLone[c.Marker.ID] = fmt.Sprint(c.Marker.Props["name"])
					if c.Count != 1 || c.Marker.Pos != c.At {
						return fmt.Sprintf("%s: cluster %+v carries marker %+v", when, c, *c.Marker)
					}
				}
			}
			slices.Sort(gotCounts)
			if !slices.Equal(gotCounts, counts) || fmt.Sprint(gotLone) != fmt.Sprint(lone) {
				return fmt.Sprintf("%s: counts %v and isolated markers %v, want %v and %v", when, gotCounts, gotLone, counts, lone)
			}
			return ""
		})
	}
	state("apart", []uint64{1, 1}, map[string]string{"a": "Alice", "b": "Bob"})
	for _, c := range dec.Clusters() {
		if c.Marker != nil && c.Marker.ID == "a" && c.Marker.Props["heading"] != 45.0 {
			t.Fatalf("isolated marker a arrived with props %v, want its heading 45", c.Marker.Props)
		}
	}

	b.Pos = geo.Pt(paris.Lon+0.005, paris.Lat) // about 7 px from a at zoom 11
	if err := srv.Apply(server.Upserts(b)); err != nil {
		t.Fatal(err)
	}
	state("b joined a", []uint64{2}, map[string]string{})

	b.Pos = geo.Pt(paris.Lon-0.3, paris.Lat+0.1) // about 400 px away
	if err := srv.Apply(server.Upserts(b)); err != nil {
		t.Fatal(err)
	}
	state("b left", []uint64{1, 1}, map[string]string{"a": "Alice", "b": "Bob"})

	a.Props = map[string]any{"name": "Alice2", "heading": 90.0} // props alone
	if err := srv.Apply(server.Upserts(a)); err != nil {
		t.Fatal(err)
	}
	state("a's props changed", []uint64{1, 1}, map[string]string{"a": "Alice2", "b": "Bob"})
}
