package server_test

import (
	"context"
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

// A watcher is a client of the delivery tests with its view and layers, as
// the brute-force computation sees it.
type watcher struct {
	*recorder
	view     geo.Box
	layers   []string
	sentinel wire.Marker // a marker only used to know the stream caught up
}

func (w *watcher) visible(m wire.Marker, exists bool) bool {
	return exists && (len(w.layers) == 0 || contains(w.layers, m.Layer)) && w.view.Contains(m.Pos)
}

// A step changes one marker: an upsert, or a remove when remove is set.
type step struct {
	m      wire.Marker
	remove bool
}

var (
	europe  = geo.BBox(-10, 35, 30, 60)
	pacific = geo.BBox(170, -30, -160, 30) // crosses the antimeridian
)

// threeWatchers connects the clients of the delivery tests: one over
// Europe, one over the Pacific across the antimeridian, and one over Europe
// that sees only the layer "other".
func threeWatchers(t *testing.T, url string) []*watcher {
	ws := []*watcher{
		{view: europe, sentinel: wire.Marker{ID: "~a", Layer: "cars", Pos: geo.Pt(0, 50)}},
		{view: pacific, sentinel: wire.Marker{ID: "~b", Layer: "cars", Pos: geo.Pt(-170, 0)}},
		{view: europe, layers: []string{"other"}, sentinel: wire.Marker{ID: "~c", Layer: "other", Pos: geo.Pt(10, 40)}},
	}
	for i, w := range ws {
		w.recorder = dialRecorder(t, url, fmt.Sprint("client-", i), w.layers...)
		if err := w.SetView(context.Background(), 0, w.view, 4); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// runSteps applies steps one at a time and checks after each that every
// client received exactly the change it should: the upsert if it sees the
// marker now, a remove if it saw it before and does not now, and nothing
// otherwise.
func runSteps(t *testing.T, steps []step) {
	srv, url := servertest.StartServer(t, nil)
	watchers := threeWatchers(t, url)
	state := map[string]wire.Marker{}
	for i, st := range steps {
		old, existed := state[st.m.ID]
		if st.remove {
			if err := srv.Remove(st.m.ID); err != nil {
				t.Fatal(err)
			}
			delete(state, st.m.ID)
		} else {
			if err := srv.Upsert(st.m); err != nil {
				t.Fatal(err)
			}
			state[st.m.ID], _ = srv.Marker(st.m.ID)
		}
		now, exists := state[st.m.ID]
		catchUp(t, srv, watchers, i)
		for _, w := range watchers {
			added, removed := w.take("~")
			unchanged := existed && exists && old.Version == now.Version // a stale upsert
			wantUpsert := !unchanged && w.visible(now, exists)
			wantRemove := !unchanged && !wantUpsert && w.visible(old, existed)
			got, gotUpsert := added[st.m.ID]
			switch {
			case wantUpsert && (!gotUpsert || got.Pos != now.Pos || got.Version != now.Version):
				t.Fatalf("step %d %+v: %s got upsert %v %+v, want %+v", i, st, w.name, gotUpsert, got, now)
			case !wantUpsert && gotUpsert:
				t.Fatalf("step %d %+v: %s got an upsert it cannot see: %+v", i, st, w.name, got)
			case wantRemove != removed[st.m.ID]:
				t.Fatalf("step %d %+v: %s got remove %v, want %v", i, st, w.name, removed[st.m.ID], wantRemove)
			case len(added) > 1 || len(removed) > 1 || (len(added) == 1 && !gotUpsert) || (len(removed) == 1 && !removed[st.m.ID]):
				t.Fatalf("step %d: %s got changes for other markers: %v %v", i, w.name, added, removed)
			}
			if msg := diffCache(withoutSentinels(w.Markers()), bruteForce(state, []geo.Box{w.view}, w.layers)); msg != "" {
				t.Fatalf("step %d: %s cache differs from brute force:%s", i, w.name, msg)
			}
		}
	}
}

// applyAndCatchUp applies updates, takes the markers' versions into state
// and waits until every watcher has received what the batch sent it.
func applyAndCatchUp(t *testing.T, srv *server.Server, updates []server.Update, state map[string]wire.Marker, ws []*watcher, round int) {
	t.Helper()
	if err := srv.Apply(updates); err != nil {
		t.Fatal(err)
	}
	for id := range state {
		state[id], _ = srv.Marker(id) // with its version
	}
	catchUp(t, srv, ws, round)
}

// catchUp bumps every watcher's sentinel and waits until each has received
// it: the stream of each connection is ordered, so whatever was sent before
// has then arrived.
func catchUp(t *testing.T, srv interface{ Upsert(wire.Marker) error }, ws []*watcher, round int) {
	t.Helper()
	for _, w := range ws {
		w.sentinel.Version = uint64(round) + 1
		if err := srv.Upsert(w.sentinel); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ws {
		servertest.Eventually(t, 5*time.Second, func() string {
			if m, ok := w.Markers()[w.sentinel.ID]; !ok || m.Version != w.sentinel.Version {
				return fmt.Sprintf("%s has sentinel %+v, want version %d", w.name, m, w.sentinel.Version)
			}
			return ""
		})
	}
}

func withoutSentinels(ms map[string]wire.Marker) map[string]wire.Marker {
	for id := range ms {
		if id[0] == '~' {
			delete(ms, id)
		}
	}
	return ms
}

func TestDeliveryScripted(t *testing.T) {
	car := func(lon, lat float64) step {
		return step{m: wire.Marker{ID: "m1", Layer: "cars", Pos: geo.Pt(lon, lat)}}
	}
	other := func(layer string, lon, lat float64) step {
		return step{m: wire.Marker{ID: "m2", Layer: layer, Pos: geo.Pt(lon, lat)}}
	}
	runSteps(t, []step{
		car(-40, 40),                             // nobody sees it
		car(2.35, 48),                            // into Europe: A gets it, C does not (layer)
		car(2.36, 48),                            // moves inside Europe
		car(30, 60),                              // onto Europe's corner: edges are inside
		car(30.1, 60),                            // out of Europe: A gets a remove
		car(175, 10),                             // into the Pacific, west of the antimeridian
		car(180, 10),                             // on the antimeridian
		car(-179, 10),                            // across it
		car(-160, -30),                           // the Pacific's corner
		car(-159, -30),                           // out
		car(-170, 0),                             // back in
		{m: wire.Marker{ID: "m1"}, remove: true}, // B gets a remove
		{m: wire.Marker{ID: "m1"}, remove: true}, // removing again tells nobody
		other("other", 5, 45),                    // A and C see it
		other("cars", 5, 45),                     // layer change: C gets a remove, A an upsert
		other("other", 175, 0),                   // jumps from Europe to the Pacific
		other("other", 5, 50),                    // and back
		{m: wire.Marker{ID: "m2", Layer: "other", Pos: geo.Pt(5, 50), Version: 1}}, // stale version: ignored
	})
}

func TestDeliveryRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 7))
	hot := []geo.Box{europe, pacific, geo.BBox(-60, -60, -20, 0)}
	var steps []step
	for range 300 {
		id := fmt.Sprint("r", rng.IntN(25))
		if rng.IntN(10) == 0 {
			steps = append(steps, step{m: wire.Marker{ID: id}, remove: true})
			continue
		}
		b := hot[rng.IntN(len(hot))]
		w := b.East - b.West
		if b.CrossesAntimeridian() {
			w += 360
		}
		// Points around a hot box, some outside it, some on its edges.
		lon := b.West - w*0.2 + rng.Float64()*w*1.4
		if rng.IntN(8) == 0 {
			lon = b.West
		}
		for lon > 180 {
			lon -= 360
		}
		lat := b.South - 5 + rng.Float64()*(b.North-b.South+10)
		lat = max(-90, min(90, lat))
		layer := []string{"cars", "other"}[rng.IntN(2)]
		steps = append(steps, step{m: wire.Marker{ID: id, Layer: layer, Pos: geo.Pt(lon, lat)}})
	}
	runSteps(t, steps)
}

// TestDeliveryLargeBatches: batches large enough for the fan-out to run
// on helper goroutines (three of them here, whatever the machine, each
// taking the markers whose id hashes to it), in which one marker changes
// several times — moves, layer changes, removals and re-creations — leave
// every client with exactly what it sees.
func TestDeliveryLargeBatches(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	srv, url := servertest.StartServer(t, nil)
	watchers := threeWatchers(t, url)
	rng := rand.New(rand.NewPCG(seed(t), 11))
	state := map[string]wire.Marker{}
	points := []geo.Box{europe, pacific, geo.BBox(-60, -60, -20, 0)}
	for round := range 6 {
		updates := make([]server.Update, 0, 2000)
		for range 2000 {
			id := fmt.Sprint("b", rng.IntN(500))
			if rng.IntN(8) == 0 {
				updates = append(updates, server.Update{Marker: wire.Marker{ID: id}, Remove: true})
				delete(state, id)
				continue
			}
			b := points[rng.IntN(len(points))]
			lon := b.West + rng.Float64()*10
			lat := b.South + rng.Float64()*(b.North-b.South)
			m := wire.Marker{ID: id, Layer: []string{"cars", "other"}[rng.IntN(2)], Pos: wire.Quantize(geo.Pt(lon, lat))}
			updates = append(updates, server.Update{Marker: m})
			state[id] = m
		}
		applyAndCatchUp(t, srv, updates, state, watchers, round)
		for _, w := range watchers {
			if msg := diffCache(withoutSentinels(w.Markers()), bruteForce(state, []geo.Box{w.view}, w.layers)); msg != "" {
				t.Fatalf("round %d: %s cache differs from brute force:%s", round, w.name, msg)
			}
		}
	}
}
