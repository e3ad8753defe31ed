package server_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestExpiry: a marker with a TTL is removed when it runs out, and only the
// clients that could see it are told; an upsert in time keeps it.
func TestExpiry(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	sees := dialRecorder(t, url, "sees")
	blind := dialRecorder(t, url, "blind")
	ctx := context.Background()
	if err := sees.SetView(ctx, 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	if err := blind.SetView(ctx, 0, geo.BBox(20, 20, 30, 30), 5); err != nil {
		t.Fatal(err)
	}
	err := srv.Apply([]server.Update{
		{Marker: wire.Marker{ID: "short", Pos: geo.Pt(1, 1)}, TTL: time.Second},
		{Marker: wire.Marker{ID: "kept", Pos: geo.Pt(2, 2)}, TTL: time.Second},
		{Marker: wire.Marker{ID: "forever", Pos: geo.Pt(3, 3)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Renewed before it runs out, with a longer TTL.
	if err := srv.Apply([]server.Update{{Marker: wire.Marker{ID: "kept", Pos: geo.Pt(2, 2)}, TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	// The client must hold short before it runs out: an upsert still in
	// the outbox when its removal comes is replaced by it (coalesced by
	// id), and the client then never hears of either. A loaded machine
	// once took longer than a 100 ms TTL to deliver it.
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := sees.Markers()["short"]; !ok {
			return "the client does not hold short yet"
		}
		return ""
	})
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := srv.Marker("short"); ok {
			return "short did not expire"
		}
		if _, ok := sees.Markers()["short"]; ok {
			return "the client still holds short"
		}
		return ""
	})
	if _, ok := srv.Marker("kept"); !ok {
		t.Fatal("kept expired although renewed")
	}
	_, removed := sees.take("~")
	if !removed["short"] || len(removed) != 1 {
		t.Fatalf("sees got removes %v, want short", removed)
	}
	if added, removed := blind.take("~"); len(added)+len(removed) != 0 {
		t.Fatalf("blind got %v %v", added, removed)
	}
	if st := srv.Stats(); st.Expired != 1 {
		t.Fatalf("expired %d, want 1", st.Expired)
	}
	if err := srv.Apply([]server.Update{{Marker: wire.Marker{ID: "x", Pos: geo.Pt(1, 1)}, TTL: -time.Second}}); err == nil {
		t.Fatal("negative TTL accepted")
	}
}

func TestInterest(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	ctx := context.Background()
	a := dialRecorder(t, url, "a")
	b := dialRecorder(t, url, "b", "other")
	// Two clients over Paris, one of them also over the Pacific.
	a.SetView(ctx, 0, geo.BBox(2.2, 48.8, 2.4, 48.9), 12)
	a.SetView(ctx, 1, geo.BBox(179, -1, -179, 1), 6)
	b.SetView(ctx, 0, geo.BBox(2.3, 48.85, 2.35, 48.86), 14)

	got, err := srv.Interest(4, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"4/8/5": 2, "4/15/7": 1, "4/0/7": 1, "4/15/8": 1, "4/0/8": 1}
	if len(got) != len(want) {
		t.Fatalf("interest %v, want %v", got, want)
	}
	for _, w := range got {
		if want[w.Tile.String()] != w.Viewers {
			t.Fatalf("interest %v, want %v", got, want)
		}
	}
	onlyCars, _ := srv.Interest(4, "cars") // b sees only "other"
	if len(onlyCars) != 5 || onlyCars[len(onlyCars)-1].Viewers != 1 {
		t.Fatalf("interest in cars: %v", onlyCars)
	}
	if _, err := srv.Interest(25, ""); err == nil {
		t.Fatal("zoom 25 accepted")
	}
}

// TestInvalidateTiles: a tile change reaches exactly the views that show
// the tile at the zoom they display.
func TestInvalidateTiles(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	ctx := context.Background()
	paris := geo.TileOf(geo.Pt(2.35, 48.85), 10) // 10/518/352
	type client struct {
		r    *recorder
		box  geo.Box
		zoom float64
		want bool
	}
	clients := []client{
		{box: paris.Bounds(), zoom: 10.7, want: true},               // shows it at zoom 10
		{box: geo.BBox(2.3, 48.8, 2.4, 48.9), zoom: 10, want: true}, // overlaps it
		{box: paris.Bounds(), zoom: 11, want: false},                // another zoom
		{box: paris.Bounds(), zoom: 9.6, want: true},                // rounds to 10 (MapLibre)
		{box: paris.Bounds(), zoom: 9.4, want: false},               // shows zoom 9
		{box: geo.BBox(10, 10, 11, 11), zoom: 10, want: false},      // elsewhere
		{box: geo.BBox(170, 40, -170, 60), zoom: 10, want: false},   // elsewhere, across 180
	}
	for i := range clients {
		clients[i].r = dialRecorder(t, url, fmt.Sprint("c", i))
		if err := clients[i].r.SetView(ctx, 0, clients[i].box, clients[i].zoom); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.InvalidateTiles("density", paris); err != nil {
		t.Fatal(err)
	}
	// A marker every client sees afterwards closes the round.
	for i := range clients {
		c := clients[i]
		if err := srv.Upsert(wire.Marker{ID: fmt.Sprint("~", i), Pos: geo.Pt(c.box.West, c.box.South)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		servertest.Eventually(t, 5*time.Second, func() string {
			if _, ok := c.r.Markers()[fmt.Sprint("~", i)]; !ok {
				return "no sentinel"
			}
			return ""
		})
		tiles := c.r.tiles()
		got := len(tiles) == 1 && tiles[0].Z == 10 && tiles[0].X == paris.X && tiles[0].Y == paris.Y && tiles[0].Layer == "density"
		if got != c.want || len(tiles) > 1 {
			t.Fatalf("client %d (%v z%v): tiles %v, want %v", i, c.box, c.zoom, tiles, c.want)
		}
	}
	if err := srv.InvalidateTiles("", paris); err == nil {
		t.Fatal("empty layer accepted")
	}
	if err := srv.InvalidateTiles("d", geo.Tile{Z: 1, X: 5}); err == nil {
		t.Fatal("invalid tile accepted")
	}
}

// TestInvalidateBox: views get the tiles at their own zoom covering the
// part of the box they show.
func TestInvalidateBox(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	c := dialRecorder(t, url, "c")
	if err := c.SetView(context.Background(), 0, geo.BBox(0, 0, 10, 10), 6.2); err != nil {
		t.Fatal(err)
	}
	box := geo.BBox(5, 5, 20, 20)
	if err := srv.InvalidateBox("density", box); err != nil {
		t.Fatal(err)
	}
	want := geo.TilesCovering(geo.BBox(5, 5, 10, 10), 6)
	servertest.Eventually(t, 5*time.Second, func() string {
		if got := c.tiles(); len(got) != len(want) {
			return fmt.Sprintf("%d tiles, want %d", len(got), len(want))
		}
		return ""
	})
}

// TestMarkersInNearEdges: markers a few metres either side of a box's
// edges, before and after small steps (which the point index follows only
// once a marker leaves its slack box), are found exactly when inside.
func TestMarkersInNearEdges(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	box := geo.BBox(2.3, 48.8, 2.31, 48.81)
	rng := rand.New(rand.NewPCG(seed(t), 5))
	all := map[string]wire.Marker{}
	for i := range 2000 {
		// Within 0.002° of an edge of the box, inside or out.
		lon := 2.3 + (rng.Float64()*0.014 - 0.002)
		lat := []float64{48.8, 48.81}[i%2] + (rng.Float64()-0.5)*0.004
		if i%4 >= 2 {
			lon, lat = []float64{2.3, 2.31}[i%2]+(rng.Float64()-0.5)*0.004, 48.8+(rng.Float64()*0.014-0.002)
		}
		m := wire.Marker{ID: fmt.Sprint("e", i), Pos: wire.Quantize(geo.Pt(lon, lat))}
		all[m.ID] = m
	}
	for step := range 30 {
		batch := make([]wire.Marker, 0, len(all))
		for id, m := range all {
			if step > 0 { // a step of up to about 20 m
				m.Pos = wire.Quantize(geo.Pt(m.Pos.Lon+(rng.Float64()-0.5)*0.0004, m.Pos.Lat+(rng.Float64()-0.5)*0.0004))
				m.Version = 0
			}
			all[id] = m
			batch = append(batch, m)
		}
		if err := srv.Apply(server.Upserts(batch...)); err != nil {
			t.Fatal(err)
		}
		got := map[string]wire.Marker{}
		for _, m := range srv.MarkersIn(box, nil) {
			got[m.ID] = m
		}
		want := bruteForce(all, []geo.Box{box}, nil)
		if len(got) != len(want) {
			t.Fatalf("step %d: %d markers found in the box, want %d", step, len(got), len(want))
		}
		for id := range want {
			if _, ok := got[id]; !ok {
				t.Fatalf("step %d: marker %s at %v not found", step, id, all[id].Pos)
			}
		}
	}
}

// TestLargeBatchAnsweredBeforeFanOut: Apply of a batch large enough for its
// fan-out to run on helpers returns once the store has the batch, while the
// fan-out still runs (held here until released). The server lock stays
// held until the fan-out ends, so whatever takes it next (Stats here, then
// the next batch) finds every op of the batch in its outbox, and the client
// ends with the second batch's states.
func TestLargeBatchAnsweredBeforeFanOut(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3)) // two helpers
	srv, url := servertest.StartServer(t, nil)
	c := dialRecorder(t, url, "world")
	if err := c.SetView(context.Background(), 0, geo.BBox(-10, -10, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	release := srv.HoldFanOut()
	defer release()
	const n = 1000
	batch := make([]server.Update, n)
	for i := range batch {
		batch[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Pos: geo.Pt(-5+float64(i)/100, 1)}
	}
	before := srv.Stats().Delivered
	done := make(chan error, 1)
	go func() { done <- srv.Apply(batch) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("Apply of a large batch did not return while its fan-out was held")
	}
	if srv.Unlocked() {
		t.Fatal("the server lock is free while the batch's fan-out is still running")
	}
	release()
	if got := srv.Stats().Delivered - before; got != n {
		t.Fatalf("Stats after the batch: %d ops delivered, want %d (its whole fan-out)", got, n)
	}
	for i := range batch {
		batch[i].Marker.Pos.Lat = 2
	}
	if err := srv.Apply(batch); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		got := c.Markers()
		if len(got) != n {
			return fmt.Sprintf("the client holds %d markers, want %d", len(got), n)
		}
		for id, m := range got {
			if m.Pos.Lat != 2 {
				return fmt.Sprintf("the client holds %s at %v, want latitude 2", id, m.Pos)
			}
		}
		return ""
	})
}

// TestApplyLayersThenReadsBeforeFanOut: ApplyLayersThen reads the batch's
// states under the lock it applied the batch with, without waiting for
// the batch's fan-out (held here), as a write-ahead log reads back what it
// logs; then is not called for a batch that was refused.
func TestApplyLayersThenReadsBeforeFanOut(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // one helper
	srv, url := servertest.StartServer(t, nil)
	c := dialRecorder(t, url, "world")
	if err := c.SetView(context.Background(), 0, geo.BBox(-10, -10, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	release := srv.HoldFanOut()
	defer release()
	batch := make([]server.Update, 600)
	for i := range batch {
		batch[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Layer: "cars", Pos: geo.Pt(1, 1), Version: 7}
	}
	done := make(chan error, 1)
	read := 0
	go func() {
		done <- srv.ApplyLayersThen([]string{"cars"}, batch, func(stored func(string) (server.StoredMarker, bool)) {
			for i := range batch {
				if m, ok := stored(batch[i].Marker.ID); ok && m.Marker.Version == 7 {
					read++
				}
			}
			if _, ok := stored("never"); ok {
				t.Error("stored finds a marker never written")
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("ApplyLayersThen of a large batch did not return while its fan-out was held")
	}
	if read != len(batch) {
		t.Fatalf("then read %d of the batch's %d states", read, len(batch))
	}
	release()
	called := false
	err := srv.ApplyLayersThen([]string{"bikes"}, batch, func(func(string) (server.StoredMarker, bool)) { called = true })
	var le *server.LayerError
	if !errors.As(err, &le) || called {
		t.Fatalf("a batch outside the feed's layers: err %v, then called %v; want a LayerError and no call", err, called)
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		if n := len(c.Markers()); n != len(batch) {
			return fmt.Sprintf("the client holds %d markers, want %d", n, len(batch))
		}
		return ""
	})
}
