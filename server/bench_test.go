package server

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// region is about Île-de-France: 1.5° × 1°. 100k city-block views spread
// over it overlap about 40 deep, as a dense city's viewers would
// (BenchmarkViewSearch reports the depth as hits/op).
var region = geo.BBox(1.6, 48.3, 3.1, 49.3)

// cityBlockViews returns n view boxes of about a zoom-14 screen (0.03° ×
// 0.02°) spread uniformly over region.
func cityBlockViews(n int, rng *rand.Rand) []geo.Box {
	boxes := make([]geo.Box, n)
	for i := range boxes {
		lon := region.West + rng.Float64()*(region.East-region.West-0.03)
		lat := region.South + rng.Float64()*(region.North-region.South-0.02)
		boxes[i] = geo.BBox(lon, lat, lon+0.03, lat+0.02)
	}
	return boxes
}

// randomPoint returns a point in region.
func randomPoint(rng *rand.Rand) geo.Point {
	return geo.Pt(region.West+rng.Float64()*(region.East-region.West), region.South+rng.Float64()*(region.North-region.South))
}

// idleConn returns a connection with no socket whose outbox never starts a
// writer: benchmarks drain it by hand.
func idleConn(s *Server) *conn {
	c := &conn{s: s}
	c.out.Limit = 1 << 30
	c.out.Fill = c.fill
	c.out.Hold()
	return c
}

func benchServer(b testing.TB, views []geo.Box) (*Server, []*conn) {
	s, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]*conn, len(views))
	for i, box := range views {
		c := idleConn(s)
		c.views = []view{{cz: -1}}
		s.indexView(c, &c.views[0], view{v: wire.View{Box: box, Zoom: 14}, cz: -1})
		conns[i] = c
	}
	return s, conns
}

// BenchmarkViewSearch measures the viewport index's core query: which views
// hold a point. Goal: ≤ 5 µs and 0 allocs at 100k views.
func BenchmarkViewSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("views=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			s, _ := benchServer(b, cityBlockViews(n, rng))
			pts := make([][2]float64, 1024)
			for i := range pts {
				p := randomPoint(rng)
				pts[i] = [2]float64{p.Lon, p.Lat}
			}
			hits := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p := pts[i%len(pts)]
				s.views.Search(p, p, func(_, _ [2]float64, vp *viewPart) bool {
					hits++
					return true
				})
			}
			b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
		})
	}
}

// BenchmarkViewReplace measures a pan: one view's box replaced in the
// index. Goal: ≤ 6 µs and 0 allocs at 100k views.
func BenchmarkViewReplace(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("views=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			s, conns := benchServer(b, cityBlockViews(n, rng))
			moves := cityBlockViews(1024, rng)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c := conns[i%len(conns)]
				s.indexView(c, &c.views[0], view{v: wire.View{Box: moves[i%len(moves)], Zoom: 14}, cz: -1})
			}
		})
	}
}

// BenchmarkDeliver measures one marker move delivered, inside the server,
// to every view that holds it: encoding once, the index search and the
// outbox puts. allocs/op should be the shared encoding's alone.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("views=%d", n), func(b *testing.B) {
			views := make([]geo.Box, n)
			for i := range views {
				views[i] = geo.BBox(2.2+float64(i)*1e-4, 48.8, 2.5, 49)
			}
			s, conns := benchServer(b, views)
			// A store of 10k other markers, as in a real city.
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range 10_000 {
				if err := s.Upsert(wire.Marker{ID: fmt.Sprint("bg", i), Layer: "other", Pos: randomPoint(rng)}); err != nil {
					b.Fatal(err)
				}
			}
			m := wire.Marker{ID: "v1234", Layer: "vehicles", Pos: geo.Pt(2.35, 48.85)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.Pos.Lon = 2.35 + float64(i%1000)*1e-6
				if err := s.Upsert(m); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 0 {
					b.StopTimer()
					for _, c := range conns {
						c.out.Drain(func([]byte) error { return nil }, maxBatchBytes, nil)
						c.out.Hold()
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(n), "deliveries/op")
		})
	}
}

// BenchmarkWorldView measures what a world view of 1M markers costs: the
// bytes of its ViewAck (clusters, not a million markers) and the time to
// build it.
func BenchmarkWorldView(b *testing.B) {
	s, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	batch := make([]Update, 0, 10_000)
	for i := range 1_000_000 {
		batch = append(batch, Update{Marker: wire.Marker{ID: fmt.Sprint("v", i), Layer: "vehicles",
			Pos: geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85)}})
		if len(batch) == cap(batch) {
			if err := s.Apply(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	c := idleConn(s)
	world := wire.View{Box: geo.BBox(-180, -85, 180, 85), Zoom: 1}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		c.views, c.hadView = nil, false
		s.mu.Lock()
		frame, _ := s.viewAckLocked(c, world, nil)
		s.mu.Unlock()
		size = len(frame)
	}
	b.ReportMetric(float64(size), "bytes")
}
