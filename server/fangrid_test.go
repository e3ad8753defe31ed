package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestDeliveryByCells checks the fan-out of large batches by cells
// (fangrid.go) against brute force: many small views over a region, so
// that a batch falls in many cells and a view in several, clients with two
// views, a layer filter, and a view across the antimeridian; batches where
// most markers appear once and jump across cells (the upsert comes from
// one cell, the removal from another), change layer, or are removed, and
// some appear two or three times, moved across cells each time (their ops
// must reach each outbox in the batch's order). Pushed (fangrid.go:
// inline on one core, inline with a batch too small for helpers, on
// helpers) and pulled by the writers (fanpull.go), each client's sentinel
// then pushed on its own (a push settles what a writer has not pulled
// yet). After each batch every client's cache must be what a brute-force
// search of its views gives.
func TestDeliveryByCells(t *testing.T) {
	for _, tc := range []struct {
		procs, batch int
	}{{1, 1200}, {4, 100}, {4, 1200}} {
		for _, pull := range []bool{false, true} {
			t.Run(fmt.Sprintf("procs=%d,batch=%d,pull=%v", tc.procs, tc.batch, pull), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
				deliveryByCells(t, tc.batch, pull)
			})
		}
	}
}

// region is where the markers of TestDeliveryByCells move: a 12°×6° area,
// and a strip across the antimeridian.
var (
	cellsRegion  = geo.BBox(0, 40, 12, 46)
	cellsPacific = geo.BBox(178, 40, -178, 42)
)

func deliveryByCells(t *testing.T, batch int, pull bool) {
	srv, url := servertest.StartServer(t, nil)
	srv.PushOnly(!pull)
	rng := rand.New(rand.NewPCG(seed(t), 13))
	type client struct {
		*watcher
		views []geo.Box
	}
	var clients []*client
	for i := range 24 {
		var layers []string
		if i%5 == 4 {
			layers = []string{"other"}
		}
		lon := cellsRegion.West + rng.Float64()*(cellsRegion.East-cellsRegion.West-2)
		lat := cellsRegion.South + rng.Float64()*(cellsRegion.North-cellsRegion.South-1)
		views := []geo.Box{geo.BBox(lon, lat, lon+2, lat+1)}
		switch {
		case i%6 == 1: // a second view elsewhere, overlapping the first or not
			lon2 := cellsRegion.West + rng.Float64()*(cellsRegion.East-cellsRegion.West-2)
			views = append(views, geo.BBox(lon2, lat, lon2+2, lat+1.5))
		case i%8 == 2:
			views = append(views, cellsPacific)
		}
		sentinelLayer := "cars"
		if layers != nil {
			sentinelLayer = "other"
		}
		c := &client{watcher: &watcher{view: views[0], layers: layers,
			sentinel: wire.Marker{ID: fmt.Sprint("~", i), Layer: sentinelLayer, Pos: wire.Quantize(geo.Pt(lon+1, lat+0.5))}}, views: views}
		c.recorder = dialRecorder(t, url, fmt.Sprint("client-", i), layers...)
		for id, v := range views {
			if err := c.SetView(context.Background(), id, v, 7); err != nil {
				t.Fatal(err)
			}
		}
		clients = append(clients, c)
	}
	watchers := make([]*watcher, len(clients))
	for i, c := range clients {
		watchers[i] = c.watcher
	}
	randomPos := func() geo.Point {
		if rng.IntN(10) == 0 {
			return wire.Quantize(geo.Pt(geo.WrapLon(cellsPacific.West+rng.Float64()*4), cellsPacific.South+rng.Float64()*2))
		}
		return wire.Quantize(geo.Pt(cellsRegion.West+rng.Float64()*(cellsRegion.East-cellsRegion.West), cellsRegion.South+rng.Float64()*(cellsRegion.North-cellsRegion.South)))
	}
	state := map[string]wire.Marker{}
	ids := batch + batch/4 // some markers idle in a batch, some appear twice
	for round := range 8 {
		updates := make([]server.Update, 0, batch)
		for _, k := range rng.Perm(ids)[:batch] {
			id := fmt.Sprint("c", k)
			if k%23 == 0 {
				// Appears two or three times, across cells each time.
				for range 2 + k%2 {
					m := wire.Marker{ID: id, Layer: "cars", Pos: randomPos()}
					updates = append(updates, server.Update{Marker: m})
					state[id] = m
				}
				continue
			}
			if rng.IntN(10) == 0 {
				updates = append(updates, server.Update{Marker: wire.Marker{ID: id}, Remove: true})
				delete(state, id)
				continue
			}
			pos := randomPos()
			if old, ok := state[id]; ok && rng.IntN(2) == 0 {
				// A short move, within a view mostly.
				pos = wire.Quantize(geo.Pt(geo.WrapLon(old.Pos.Lon+rng.Float64()*0.6-0.3), min(max(old.Pos.Lat+rng.Float64()*0.6-0.3, -85), 85)))
			}
			m := wire.Marker{ID: id, Layer: []string{"cars", "other"}[rng.IntN(2)], Pos: pos}
			updates = append(updates, server.Update{Marker: m})
			state[id] = m
		}
		applyAndCatchUp(t, srv, updates, state, watchers, round)
		for _, c := range clients {
			if msg := diffCache(withoutSentinels(c.Markers()), bruteForce(state, c.views, c.layers)); msg != "" {
				t.Fatalf("round %d: %s (views %v, layers %v) cache differs from brute force:%s", round, c.name, c.views, c.layers, msg)
			}
		}
		// Views change between batches: a second view is added, panned
		// or dropped (the first holds the sentinel), so that what the
		// writers pull with follows the views.
		for i, c := range clients {
			var err error
			switch {
			case len(c.views) == 1 && (i+round)%7 == 0:
				c.views = append(c.views, geo.BBox(c.views[0].West+1, c.views[0].South-0.5, c.views[0].East+1, c.views[0].North-0.5))
				err = c.SetView(context.Background(), 1, c.views[1], 7)
			case len(c.views) == 2 && (i+round)%3 == 0:
				c.views[1] = geo.BBox(c.views[1].West+0.4, c.views[1].South+0.2, c.views[1].East+0.4, c.views[1].North+0.2)
				err = c.SetView(context.Background(), 1, c.views[1], 7)
			case len(c.views) == 2 && (i+round)%5 == 0:
				c.views = c.views[:1]
				err = c.RemoveView(context.Background(), 1)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// With pull, a batch whose repeated markers pass pullDupShare (one
	// in eight updates; here about one in ten) is pushed all the same.
	if got := srv.PulledBatches(); pull != (got > 0) || got > 8 {
		t.Fatalf("%d of the 8 batches were pulled by the writers; pull %v", got, pull)
	}
}
