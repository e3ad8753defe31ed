package loadgen

import (
	"math/rand/v2"
	"testing"

	"github.com/pushmap/pushmap/bench/internal/baseline"
	"github.com/pushmap/pushmap/bench/internal/fleet"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

func sampleOps(r *rand.Rand, n int) []wire.Op {
	ops := make([]wire.Op, n)
	for i := range ops {
		m := wire.Marker{ID: fleet.ID(uint32(r.IntN(1 << 30))), Layer: fleet.Layer,
			Pos:     wire.Quantize(geo.Pt(r.Float64()*360-180, r.Float64()*170-85)),
			Version: uint64(r.IntN(1 << 20)), Time: r.Int64N(1 << 42)}
		switch r.IntN(8) {
		case 0:
			ops[i] = wire.Op{Remove: true, Marker: wire.Marker{ID: m.ID}}
		case 1:
			m.Props = map[string]any{"kind": "bus", "heading": r.IntN(360), "n": []any{1, "x"}}
			ops[i] = wire.Op{Marker: m}
		case 2:
			ops[i] = wire.Op{Tile: &wire.TileChange{Layer: "density", Z: 12, X: 5, Y: 6, Version: 7}}
		case 3:
			m.ID = "not-a-fleet-id"
			ops[i] = wire.Op{Marker: m}
		default:
			ops[i] = wire.Op{Marker: m}
		}
	}
	return ops
}

// TestFrameMatchesWire checks the load generator's scanner against the
// wire package on every frame type that carries ops.
func TestFrameMatchesWire(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 200 {
		ops := sampleOps(r, r.IntN(40))
		view := wire.View{ID: 2, Box: geo.BBox(2.1, 48.7, 2.2345678, 48.8), Zoom: 14}
		frames := []struct {
			name string
			b    []byte
			typ  int
		}{
			{"batch", must(wire.Marshal(wire.Batch{Ops: ops})), int(wire.TypeBatch)},
			{"view_ack", must(wire.Marshal(wire.ViewAck{View: view, Flags: wire.FlagSnapshot, Ops: ops})), int(wire.TypeViewAck)},
			{"reset", must(wire.Marshal(wire.Reset{Flags: wire.FlagBehind, Views: []wire.View{view}, Ops: ops})), int(wire.TypeReset)},
		}
		sub := baseline.AppendSubAckHeader(nil, uint64(i), len(ops))
		body := must(wire.Marshal(wire.Batch{Ops: ops}))
		hdr := wire.AppendBatchHeader(nil, len(ops))
		frames = append(frames, struct {
			name string
			b    []byte
			typ  int
		}{"sub_ack", append(sub, body[len(hdr):]...), baseline.TypeSubAck})
		for _, fr := range frames {
			f, err := parseFrame(fr.b)
			if err != nil || f.typ != fr.typ || f.ops != len(ops) {
				t.Fatalf("%s: parseFrame = type %d, %d ops, %v; want %d, %d", fr.name, f.typ, f.ops, err, fr.typ, len(ops))
			}
			if fr.typ == int(wire.TypeViewAck) && f.view != view.Box {
				t.Errorf("view_ack box %v, want %v", f.view, view.Box)
			}
			if fr.typ == baseline.TypeSubAck && f.seq != uint64(i) {
				t.Errorf("sub_ack seq %d, want %d", f.seq, i)
			}
			for k, want := range ops {
				got, ok, err := f.next()
				if !ok || err != nil {
					t.Fatalf("%s: op %d: %v %v", fr.name, k, ok, err)
				}
				m, isFleet := fleet.Index([]byte(want.Marker.ID))
				switch {
				case want.Tile != nil:
					if !got.other {
						t.Errorf("%s op %d: a tile op read as %+v", fr.name, k, got)
					}
				case want.Remove:
					if !got.remove || got.fleet != isFleet || isFleet && got.m != m {
						t.Errorf("%s op %d: remove %q read as %+v", fr.name, k, want.Marker.ID, got)
					}
				default:
					wm := want.Marker
					if got.remove || got.other || got.fleet != isFleet || isFleet && got.m != m || uint64(got.v) != wm.Version ||
						got.lon != int64(wm.Pos.Lon*wire.CoordScale+0.5*sign(wm.Pos.Lon)) ||
						got.lat != int64(wm.Pos.Lat*wire.CoordScale+0.5*sign(wm.Pos.Lat)) {
						t.Errorf("%s op %d: upsert %+v read as %+v", fr.name, k, wm, got)
					}
				}
			}
			if _, ok, err := f.next(); ok || err != nil {
				t.Errorf("%s: after the last op: %v %v", fr.name, ok, err)
			}
		}
	}
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestFrameRefusesGarbage(t *testing.T) {
	good := must(wire.Marshal(wire.Batch{Ops: sampleOps(rand.New(rand.NewPCG(1, 2)), 5)}))
	for n := range len(good) {
		f, err := parseFrame(good[:n])
		for err == nil {
			var ok bool
			if _, ok, err = f.next(); !ok {
				break
			}
		}
		if err == nil {
			t.Errorf("a frame cut to %d of %d bytes read without error", n, len(good))
		}
	}
}

// BenchmarkFrame compares the scanner with wire.Decoder on a batch of 10
// marker moves, what a client of the default workload receives per frame.
func BenchmarkFrame(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	ops := make([]wire.Op, 10)
	for i := range ops {
		ops[i] = wire.Op{Marker: wire.Marker{ID: fleet.ID(uint32(r.IntN(10000))), Layer: fleet.Layer,
			Pos: wire.Quantize(geo.Pt(2.3, 48.8)), Version: 100, Time: 1700000000000}}
	}
	frame := must(wire.Marshal(wire.Batch{Ops: ops}))
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, _ := parseFrame(frame)
			for {
				if _, ok, _ := f.next(); !ok {
					break
				}
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		d := wire.NewDecoder()
		for b.Loop() {
			if _, err := d.Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
