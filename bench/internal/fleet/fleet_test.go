package fleet

import (
	"math"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func testFleet(t *testing.T) *Fleet {
	t.Helper()
	f, err := New(Options{Tick: 100 * time.Millisecond, Seed: 7},
		[]Stage{{Markers: 25, Ticks: 30}, {Markers: 25, Ticks: 10}, {Markers: 48, Ticks: 20}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestScheduleConsistent checks Due, Tick and Version against each other:
// each tick publishes exactly the versions that it makes current.
func TestScheduleConsistent(t *testing.T) {
	f := testFleet(t)
	if f.P() != 10 || f.End() != 61 {
		t.Fatalf("P %d End %d, want 10 and 61", f.P(), f.End())
	}
	published := map[uint32][]int64{} // marker → ticks of its versions 1, 2, ...
	for tick := range f.End() {
		seen := map[uint32]bool{}
		f.Due(tick, func(m, v uint32) {
			if seen[m] {
				t.Errorf("tick %d publishes marker %d twice", tick, m)
			}
			seen[m] = true
			if got := f.Tick(m, v); got != tick {
				t.Errorf("Due(%d) gives marker %d version %d, whose Tick is %d", tick, m, v, got)
			}
			if got := f.Version(m, tick); got != v {
				t.Errorf("Version(%d, %d) = %d, Due says %d", m, tick, got, v)
			}
			if got := f.Version(m, tick-1); got != v-1 {
				t.Errorf("Version(%d, %d) = %d before tick publishing version %d", m, tick-1, got, v)
			}
			if int(v) != len(published[m])+1 {
				t.Errorf("marker %d: version %d published after %d versions", m, v, len(published[m]))
			}
			published[m] = append(published[m], tick)
			if int(m) >= f.Bound(tick) {
				t.Errorf("tick %d publishes marker %d, beyond Bound %d", tick, m, f.Bound(tick))
			}
		})
		for m := range uint32(50) {
			if v := f.Version(m, tick); v > 0 && int(m) >= f.Bound(tick) {
				t.Errorf("marker %d exists at tick %d beyond Bound %d", m, tick, f.Bound(tick))
			}
		}
	}
	if len(published) != 48 {
		t.Fatalf("%d markers published, want 48", len(published))
	}
	for m, ticks := range published {
		for i := 2; i < len(ticks); i++ {
			if ticks[i]-ticks[i-1] != f.P() {
				t.Errorf("marker %d: versions at ticks %v, not one a period apart", m, ticks)
				break
			}
		}
		if m < 25 && ticks[0] != 0 {
			t.Errorf("marker %d of the first stage created at tick %d, want 0", m, ticks[0])
		}
		if m >= 25 && (ticks[0] < 41 || ticks[0] >= 51) {
			t.Errorf("marker %d of the third stage created at tick %d, want in its first period [41, 51)", m, ticks[0])
		}
	}
}

func TestPosInsideAndStepped(t *testing.T) {
	f, err := New(Options{Speed: 12, Seed: 3}, []Stage{{Markers: 200, Ticks: 10}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Options().Region
	for m := range uint32(200) {
		prev := f.Pos(m, 1)
		for v := uint32(2); v < 400; v++ {
			p := f.Pos(m, v)
			if !r.Contains(p) {
				t.Fatalf("marker %d version %d at %v, outside %v", m, v, p, r)
			}
			// A step is 12 m; a bounce can only shorten it.
			dx := (p.Lon - prev.Lon) * 111320 * math.Cos(p.Lat*math.Pi/180)
			dy := (p.Lat - prev.Lat) * 111320
			if d := math.Hypot(dx, dy); d > 12.1 {
				t.Fatalf("marker %d moved %.2f m from version %d to %d, want at most 12", m, d, v-1, v)
			}
			prev = p
		}
		if f.Pos(m, 5) != f.Pos(m, 5) {
			t.Fatal("Pos is not deterministic")
		}
	}
	g, _ := New(Options{Speed: 12, Seed: 4}, []Stage{{Markers: 1, Ticks: 10}})
	if g.Pos(0, 1) == f.Pos(0, 1) {
		t.Error("seeds 3 and 4 start marker 0 at the same place")
	}
}

func TestIDs(t *testing.T) {
	for _, m := range []uint32{0, 7, 123456, math.MaxUint32 - 1} {
		got, ok := Index([]byte(ID(m)))
		if !ok || got != m {
			t.Errorf("Index(ID(%d)) = %d, %v", m, got, ok)
		}
		if string(AppendID([]byte("x"), m)) != "x"+ID(m) {
			t.Errorf("AppendID(%d) differs from ID", m)
		}
	}
	for _, bad := range []string{"", "v", "x1", "v1a", "v99999999999", "v4294967295"} {
		if _, ok := Index([]byte(bad)); ok {
			t.Errorf("Index(%q) accepted", bad)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name   string
		o      Options
		stages []Stage
	}{
		{"no stage", Options{}, nil},
		{"ticks not a multiple of P", Options{}, []Stage{{Markers: 1, Ticks: 15}}},
		{"markers shrink", Options{}, []Stage{{Markers: 5, Ticks: 10}, {Markers: 4, Ticks: 10}}},
		{"period not a multiple of tick", Options{Tick: 300 * time.Millisecond}, []Stage{{Markers: 1, Ticks: 10}}},
		{"empty region", Options{Region: geo.BBox(2, 48, 2, 49)}, []Stage{{Markers: 1, Ticks: 10}}},
		{"antimeridian", Options{Region: geo.BBox(179, 0, -179, 1)}, []Stage{{Markers: 1, Ticks: 10}}},
		{"negative speed", Options{Speed: -1}, []Stage{{Markers: 1, Ticks: 10}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o, tc.stages); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
