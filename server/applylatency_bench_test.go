package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// BenchmarkApplyFeedBatch measures what a feed waits for, and when the
// batch's fan-out is done (fanned-out-ns/op: every op in its outbox, the
// server lock about to be unlocked and the writers started): Apply of a batch
// of 1,000 marker moves (updates=1000; updates=3000 is a tick of the
// fleet at M = 30,000) with 2,000 real WebSocket clients connected, each
// watching a zoom-14 box of the bench's Paris region (issue 13: a
// 1,000-marker feed POST answered in ≤ 5 ms when a core is free). The
// clients read and discard what they get, on their own goroutines. Apply
// returns once the store has the batch, its fan-out handed to helpers that
// end it after (see fanout.go), so the figure is the store's half and the
// hand-over; BenchmarkFeedPOST (server/ingest) times the whole POST.
//
// What the clients wait for: first-read-ns/op is when the first client
// read a frame of the batch, all-read-ns/op when the last one did, both
// from Apply's call. fanout=push fans the batch out by cells (the writers
// start once every op is in its outbox: fanned-out-ns/op); fanout=pull
// gives it to the writers to pull (fanpull.go: fanned-out-ns/op is then
// when the batch was given out). apply-ns/op is what the feed waits for;
// ns/op is a batch's whole round, from Apply to the clients having read
// every frame (timed, so that go test runs a few dozen batches rather
// than thousands: outputs from before 2026-12-04 have Apply's time as
// ns/op and no apply-ns/op).
func BenchmarkApplyFeedBatch(b *testing.B) {
	for _, markers := range []int{1000, 3000} {
		for _, mode := range []string{"push", "pull"} {
			b.Run(fmt.Sprintf("updates=%d/fanout=%s", markers, mode), func(b *testing.B) { benchApplyFeedBatch(b, markers, mode == "push") })
		}
	}
}

func benchApplyFeedBatch(b *testing.B, markers int, push bool) {
	const clients = 2000
	paris := geo.BBox(2.2, 48.8, 2.5, 48.95)
	s, err := server.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	s.PushOnly(push)
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	rng := rand.New(rand.NewPCG(13, 2000))
	var read atomic.Int64 // frames the clients read, welcome and ack included
	// When the batch's first and last frames were read (Unix ns).
	var firstRead, lastRead atomic.Int64
	for range clients {
		c := dialRaw(b, url)
		c.hello()
		lon := paris.West + rng.Float64()*(paris.East-paris.West-0.03)
		lat := paris.South + rng.Float64()*(paris.North-paris.South-0.02)
		c.send(wire.View{Box: geo.BBox(lon, lat, lon+0.03, lat+0.02), Zoom: 14})
		c.recv() // the ViewAck
		read.Add(2)
		go func() {
			for {
				if _, _, err := c.ws.Read(context.Background()); err != nil {
					return
				}
				now := time.Now().UnixNano()
				firstRead.CompareAndSwap(0, now)
				storeMax(&lastRead, now)
				read.Add(1)
			}
		}()
	}
	batch := make([]server.Update, markers)
	for i := range batch {
		batch[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Layer: "fleet",
			Pos: geo.Pt(paris.West+rng.Float64()*(paris.East-paris.West), paris.South+rng.Float64()*(paris.North-paris.South))}
	}
	if err := s.Apply(batch); err != nil {
		b.Fatal(err)
	}
	settle(s, &read)
	var ended atomic.Int64 // when the last batch's fan-out was done
	s.OnFanOutEnd(func() { ended.Store(time.Now().UnixNano()) })
	b.ReportAllocs()
	b.ResetTimer()
	var applied, fannedOut, first, all time.Duration
	for i := range b.N {
		for j := range batch {
			batch[j].Marker.Pos.Lon += 1e-5 * float64(1-2*(i&1))
		}
		firstRead.Store(0)
		start := time.Now()
		if err := s.Apply(batch); err != nil {
			b.Fatal(err)
		}
		applied += time.Since(start)
		// Stats takes the server lock, which the batch holds until its
		// fan-out is done: every op is in its outbox, the writers start.
		s.Stats()
		fannedOut += time.Unix(0, ended.Load()).Sub(start)
		// The next batch comes once the writes of this one are done, as
		// the bench's feed does a tick later: the figure is a batch's own.
		settle(s, &read)
		for firstRead.Load() == 0 {
			// The writers had not started when settle found the frames
			// written all read and none for a millisecond.
			settle(s, &read)
		}
		first += time.Unix(0, firstRead.Load()).Sub(start)
		all += time.Unix(0, lastRead.Load()).Sub(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(applied.Nanoseconds())/float64(b.N), "apply-ns/op")
	b.ReportMetric(float64(fannedOut.Nanoseconds())/float64(b.N), "fanned-out-ns/op")
	b.ReportMetric(float64(first.Nanoseconds())/float64(b.N), "first-read-ns/op")
	b.ReportMetric(float64(all.Nanoseconds())/float64(b.N), "all-read-ns/op")
	b.ReportMetric(float64(s.Stats().Delivered)/float64(b.N+1)/float64(markers), "deliveries/update")
}

// settle waits until the clients have read every frame the server wrote
// (read counts them) and the server wrote none for a millisecond: the
// clients run in this process, and a batch while they read would share
// the cores with them.
func settle(s *server.Server, read *atomic.Int64) {
	for last := int64(-1); ; time.Sleep(time.Millisecond) {
		n := s.Stats().Frames
		if n == last && read.Load() == n {
			return
		}
		last = n
	}
}

// storeMax makes v x if x is larger.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if old >= x || v.CompareAndSwap(old, x) {
			return
		}
	}
}
