package server_test

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// memoryMarkers is how many markers BenchmarkMemoryPerMarker stores.
const memoryMarkers = 1_000_000

// typicalProps are the properties of a vehicle of a fleet map: a name, a
// route, a speed and a heading (two short strings, two numbers), distinct
// per marker as real ones are.
func typicalProps(i int, rng *rand.Rand) map[string]any {
	return map[string]any{"name": "bus " + strconv.Itoa(i), "route": strconv.Itoa(1 + i%300),
		"speed": float64(rng.IntN(200)) / 10, "heading": float64(rng.IntN(360))}
}

// BenchmarkMemoryPerMarker reports the Go heap a server holds per marker
// with 1,000,000 markers stored (ids of 10 characters, one layer, version,
// time) spread over Île-de-France, with no properties and with typical
// ones: heap in use after a GC, less the empty server's, over the markers
// (B/marker). Every node of a cluster holds every marker this way
// (docs/cluster.md).
func BenchmarkMemoryPerMarker(b *testing.B) {
	for _, tc := range []struct {
		name  string
		props func(int, *rand.Rand) map[string]any
	}{
		{"props=none", func(int, *rand.Rand) map[string]any { return nil }},
		{"props=typical", typicalProps},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perMarker float64
			for range b.N {
				perMarker = heapPerMarker(b, tc.props)
			}
			b.ReportMetric(perMarker, "B/marker")
		})
	}
}

// heapPerMarker fills a new server with memoryMarkers markers and returns
// the heap it grew by, per marker.
func heapPerMarker(b *testing.B, props func(int, *rand.Rand) map[string]any) float64 {
	b.Helper()
	srv, err := server.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	before := memAfterGC().HeapAlloc
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 10_000
	us := make([]server.Update, 0, batch)
	for i := range memoryMarkers {
		us = append(us, server.Update{Marker: wire.Marker{ID: "veh-" + strconv.Itoa(100000+i), Layer: "vehicles",
			Pos:     geo.Pt(1.6+1.5*rng.Float64(), 48.3+rng.Float64()),
			Version: 1, Time: 1_790_000_000_000 + int64(i), Props: props(i, rng)}})
		if len(us) == batch {
			if err := srv.Apply(us); err != nil {
				b.Fatal(err)
			}
			us = us[:0]
		}
	}
	after := memAfterGC().HeapAlloc
	if n := srv.Stats().Markers; n != memoryMarkers {
		b.Fatalf("%d markers stored, want %d", n, memoryMarkers)
	}
	runtime.KeepAlive(srv)
	return float64(after-before) / memoryMarkers
}

// memAfterGC returns the memory statistics after two collections: the
// live heap, and the goroutine stacks shrunk where they can be.
func memAfterGC() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
