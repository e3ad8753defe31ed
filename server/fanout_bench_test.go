package server

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// BenchmarkFanOutCPU measures the CPU a feed's batch costs the server on
// one core, the store's half and the fan-out together, without a socket:
// a batch of 1,000 or 3,000 marker moves (a tick of the fleet at M =
// 10,000 and 30,000) over 2,000 zoom-14 views of the bench's Paris region
// (about 26 views hold each point), their outboxes held, as on the fleet
// of the load bench. It runs on one P, so the fan-out is inline on the
// benchmark's goroutine, locked to its thread: cpu-ns/op is that thread's
// CPU time per batch, what the work costs whatever else the machine runs
// (BenchmarkApplyFeedBatch has the wall times, writers and sockets
// included). Issue 13: the fan-out of a 3,000-update batch was most of
// what the fleet at M = 30,000 waited for before a writer started. With
// fanout=pull the batch is pulled (fanpull.go) and the pulls every writer
// would make are made on the same thread, counted in cpu-ns/op; with
// fanout=push it is fanned out by cells (fangrid.go).
func BenchmarkFanOutCPU(b *testing.B) {
	for _, markers := range []int{1000, 3000} {
		for _, mode := range []string{"push", "pull"} {
			b.Run(fmt.Sprintf("updates=%d/fanout=%s", markers, mode), func(b *testing.B) { benchFanOutCPU(b, markers, mode == "pull") })
		}
	}
}

func benchFanOutCPU(b *testing.B, markers int, pull bool) {
	const clients = 2000
	paris := geo.BBox(2.2, 48.8, 2.5, 48.95)
	rng := rand.New(rand.NewPCG(13, 2000))
	views := make([]geo.Box, clients)
	for i := range views {
		lon := paris.West + rng.Float64()*(paris.East-paris.West-0.03)
		lat := paris.South + rng.Float64()*(paris.North-paris.South-0.02)
		views[i] = geo.BBox(lon, lat, lon+0.03, lat+0.02)
	}
	s, conns := benchServer(b, views)
	s.fan.pushOnly = !pull
	var pulled []outbox.Entry
	apply := func(batch []Update) {
		if err := s.Apply(batch); err != nil {
			b.Fatal(err)
		}
		for _, c := range conns {
			pulled, _ = c.fill(pulled[:0]) // what each writer pulls before it writes
		}
	}
	batch := make([]Update, markers)
	for i := range batch {
		batch[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Layer: "fleet",
			Pos: geo.Pt(paris.West+rng.Float64()*(paris.East-paris.West), paris.South+rng.Float64()*(paris.North-paris.South))}
	}
	drain := func() {
		for _, c := range conns {
			c.out.Drain(func([]byte) error { return nil }, maxBatchBytes, nil)
			c.out.Hold()
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	apply(batch)
	drain()
	delivered := s.Stats().Delivered
	var cpu int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range batch {
			batch[j].Marker.Pos.Lon += 1e-5 * float64(1-2*(i&1))
		}
		start := threadCPU()
		apply(batch)
		cpu += threadCPU() - start
		b.StopTimer()
		drain()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(s.Stats().Delivered-delivered)/float64(b.N)/float64(markers), "deliveries/update")
}
