package synth

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite web/demo/streets.json from StreetsGeoJSON")

// streetsFile is the demo's copy of StreetsGeoJSON, from this package's
// directory.
var streetsFile = filepath.Join("..", "..", "..", "..", "web", "demo", "streets.json")

// TestStreetsFile checks that the demo's basemap draws the streets the
// vehicles drive on: web/demo/streets.json is StreetsGeoJSON's output.
// After a change to the towns: go test ./cmd/pushmap/internal/synth -run
// TestStreetsFile -update.
func TestStreetsFile(t *testing.T) {
	want, err := StreetsGeoJSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(streetsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(streetsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s (%d B) is not StreetsGeoJSON's output (%d B): run go test -run TestStreetsFile -update in this package", streetsFile, len(got), len(want))
	}
	t.Logf("%s: %d B", streetsFile, len(got))
}

// TestVehiclesOnStreets drives vehicles for hours and checks that each is
// always on a street of its town: on a line of the grid, within a block
// both of whose crossings are inside the town's outline.
func TestVehiclesOnStreets(t *testing.T) {
	f := New(Options{Flights: -1, Vehicles: 400, Seed: testSeed(t)})
	check := func(step int) {
		for k := range f.vehicles {
			v := &f.vehicles[k]
			tw, g := &towns[v.town], &townGeoms[v.town]
			b := tw.blockM
			onX := math.Abs(v.x/b-math.Round(v.x/b)) < 1e-6 // on a column
			onY := math.Abs(v.y/b-math.Round(v.y/b)) < 1e-6 // on a row
			var ok bool
			switch {
			case onX && onY: // at a crossing with a street
				ok = len(v.exits(g, int(math.Round(v.x/b)), int(math.Round(v.y/b)), nil)) > 0
			case onX: // along a column, between rows j and j+1
				i, j := int(math.Round(v.x/b)), int(math.Floor(v.y/b))
				ok = g.street(i, j, 0) && (v.dir == 0 || v.dir == 2)
			case onY:
				i, j := int(math.Floor(v.x/b)), int(math.Round(v.y/b))
				ok = g.street(i, j, 1) && (v.dir == 1 || v.dir == 3)
			}
			if !ok {
				t.Fatalf("step %d: %s at grid %.1f, %.1f m of %s (direction %d) is off its streets", step, v.id, v.x, v.y, tw.name, v.dir)
			}
		}
	}
	check(0)
	now := time.Unix(0, 0)
	for i := range 2000 {
		dt := 3 * time.Second
		if i%200 == 199 {
			dt = time.Hour
		}
		now = now.Add(dt)
		f.Step(now, dt)
		check(i + 1)
	}
}
