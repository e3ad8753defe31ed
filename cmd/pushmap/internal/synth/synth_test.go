package synth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// testSeed returns the seed for a randomised test: $SYNTH_SEED when set,
// otherwise a fresh one. It is logged so that a failure can be replayed.
func testSeed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("SYNTH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SYNTH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (replay with SYNTH_SEED=%d)", seed, seed)
	return seed
}

// distanceM returns the great-circle distance in metres between a and b.
func distanceM(a, b geo.Point) float64 {
	va, vb := unitVec(a.Lon, a.Lat), unitVec(b.Lon, b.Lat)
	cross := vec3{va.y*vb.z - va.z*vb.y, va.z*vb.x - va.x*vb.z, va.x*vb.y - va.y*vb.x}
	return math.Atan2(cross.norm(), va.dot(vb)) * earthRadius
}

// index returns the number in a marker id such as "f12" or "v3".
func index(t testing.TB, id string) int {
	t.Helper()
	n, err := strconv.Atoi(id[1:])
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	return n
}

// checkMarker reports what is wrong with m, a marker stamped at ms.
func checkMarker(m wire.Marker, ms int64) error {
	if err := m.Pos.Validate(); err != nil {
		return fmt.Errorf("%s: %w", m.ID, err)
	}
	if m.Time != ms || m.Version != 0 {
		return fmt.Errorf("%s: time %d version %d, want %d and 0", m.ID, m.Time, m.Version, ms)
	}
	h, ok := m.Props["heading"].(int)
	if !ok || h < 0 || h >= 360 {
		return fmt.Errorf("%s: heading %#v", m.ID, m.Props["heading"])
	}
	kind, _ := m.Props["kind"].(string)
	switch m.Layer {
	case LayerFlights:
		from, _ := m.Props["from"].(string)
		to, _ := m.Props["to"].(string)
		if !strings.HasPrefix(m.ID, "f") || kind != "plane" || len(from) != 3 || len(to) != 3 || from == to || len(m.Props) != 4 {
			return fmt.Errorf("%s: flight with props %v", m.ID, m.Props)
		}
	case LayerVehicles:
		if !strings.HasPrefix(m.ID, "v") || (kind != "car" && kind != "bus" && kind != "taxi") || len(m.Props) != 2 {
			return fmt.Errorf("%s: vehicle with props %v", m.ID, m.Props)
		}
	default:
		return fmt.Errorf("%s: layer %q", m.ID, m.Layer)
	}
	return nil
}

// dts is a mix of step durations, mostly a second, some much longer so that
// flights land and take off within a single step.
func dts(i int) time.Duration {
	switch {
	case i%500 == 499:
		return 3 * time.Hour
	case i%100 == 99:
		return 10 * time.Minute
	case i%10 == 9:
		return 20 * time.Second
	case i%2 == 1:
		return 100 * time.Millisecond
	}
	return time.Second
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name                  string
		opts                  Options
		flights, vehicles     int
		speedup, vehicleSpeed float64
	}{
		{"zero", Options{}, DefaultFlights, DefaultVehicles, DefaultSpeedup, DefaultVehicleSpeedup},
		{"none", Options{Flights: -1, Vehicles: -5}, 0, 0, DefaultSpeedup, DefaultVehicleSpeedup},
		{"set", Options{Flights: 7, Vehicles: 9, Speedup: 2, VehicleSpeedup: 3}, 7, 9, 2, 3},
		{"bad speedups", Options{Speedup: math.NaN(), VehicleSpeedup: -1}, DefaultFlights, DefaultVehicles, DefaultSpeedup, DefaultVehicleSpeedup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(tt.opts)
			ms := f.Markers()
			var nf, nv int
			ids := map[string]bool{}
			for _, m := range ms {
				if err := checkMarker(m, 0); err != nil {
					t.Fatal(err)
				}
				if ids[m.ID] {
					t.Fatalf("duplicate id %s", m.ID)
				}
				ids[m.ID] = true
				if m.Layer == LayerFlights {
					nf++
				} else {
					nv++
				}
			}
			if nf != tt.flights || nv != tt.vehicles {
				t.Errorf("got %d flights and %d vehicles, want %d and %d", nf, nv, tt.flights, tt.vehicles)
			}
			if f.flightSpeedup != tt.speedup || f.vehicleSpeedup != tt.vehicleSpeed {
				t.Errorf("speedups %v, %v, want %v, %v", f.flightSpeedup, f.vehicleSpeedup, tt.speedup, tt.vehicleSpeed)
			}
			if got := f.Step(time.Now(), 0); len(got) != 0 {
				t.Errorf("Step with dt 0 moved %d markers", len(got))
			}
			if got := f.Step(time.Now(), -time.Second); len(got) != 0 {
				t.Errorf("Step with a negative dt moved %d markers", len(got))
			}
		})
	}
}

// TestMarkersValid steps a fleet many times with mixed durations and checks
// every marker it returns, and that each moved within its top speed.
func TestMarkersValid(t *testing.T) {
	f := New(Options{Flights: 400, Vehicles: 800, Seed: testSeed(t)})
	last := map[string]geo.Point{}
	for _, m := range f.Markers() {
		last[m.ID] = m.Pos
	}
	now := time.UnixMilli(1_700_000_000_000)
	for i := range 2000 {
		dt := dts(i)
		now = now.Add(dt)
		batch := f.Step(now, dt)
		if len(batch) == 0 {
			t.Fatalf("step %d: nothing moved", i)
		}
		for _, m := range batch {
			if err := checkMarker(m, now.UnixMilli()); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			top := 60 / 3.6 * dt.Seconds() // vehicles, metres; 1% slack below for the local projection
			if m.Layer == LayerFlights {
				top = maxCruiseKmh / 3.6 * dt.Seconds() * DefaultSpeedup
			}
			if d := distanceM(last[m.ID], m.Pos); d > top*1.01+0.01 {
				t.Fatalf("step %d: %s moved %.0f m in %v, faster than %.0f m", i, m.ID, d, dt, top)
			}
			last[m.ID] = m.Pos
		}
	}
	for _, m := range f.Markers() {
		if m.Pos != last[m.ID] {
			t.Errorf("Markers has %s at %v, Step last put it at %v", m.ID, m.Pos, last[m.ID])
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed int64) [][]wire.Marker {
		f := New(Options{Flights: 200, Vehicles: 300, Seed: seed})
		out := [][]wire.Marker{f.Markers()}
		now := time.UnixMilli(0)
		for i := range 600 {
			now = now.Add(dts(i))
			out = append(out, append([]wire.Marker(nil), f.Step(now, dts(i))...))
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if !reflect.DeepEqual(a, b) {
		t.Error("two fleets with seed 42 differ")
	}
	if reflect.DeepEqual(a[0], c[0]) {
		t.Error("fleets with seeds 42 and 43 start alike")
	}
}

// TestAntimeridian flies the trans-Pacific showcase routes from take-off to
// landing and checks that each crosses ±180 once and never jumps elsewhere.
func TestAntimeridian(t *testing.T) {
	f := New(Options{Flights: len(showcase), Vehicles: -1, Seed: testSeed(t)})
	for i := range f.flights {
		fl := &f.flights[i]
		fl.theta = 0
		fl.place(f.props)
	}
	start := f.Markers()
	prev := make([]geo.Point, len(start))
	for i, m := range start {
		prev[i] = m.Pos
		if from := m.Props["from"].(string); from != showcase[i][0] || m.Props["to"] != showcase[i][1] {
			t.Fatalf("%s flies %v→%v, want %v", m.ID, from, m.Props["to"], showcase[i])
		}
	}
	crossings := make([]int, len(start))
	landed := make([]bool, len(start))
	now := time.Unix(0, 0)
	for step := 0; step < 10000 && !allTrue(landed); step++ {
		now = now.Add(time.Second)
		for _, m := range f.Step(now, time.Second) {
			i := index(t, m.ID)
			if landed[i] {
				continue // on a new leg
			}
			d := math.Abs(m.Pos.Lon - prev[i].Lon)
			switch {
			case d > 180 && 360-d < 3 && math.Abs(m.Pos.Lon) > 170:
				crossings[i]++
			case d > 3:
				t.Fatalf("step %d: %s jumped from %v to %v", step, m.ID, prev[i], m.Pos)
			}
			prev[i] = m.Pos
			if f.flights[i].grounded {
				landed[i] = true
				c := cities[cityIndex(showcase[i][1])]
				if m.Pos != geo.Pt(c.lon, c.lat) {
					t.Errorf("%s landed at %v, not at %s", m.ID, m.Pos, c.code)
				}
			}
		}
	}
	for i, n := range crossings {
		if !landed[i] || n != 1 {
			t.Errorf("%s %v: landed %v after %d antimeridian crossings, want 1", f.flights[i].id, showcase[i], landed[i], n)
		}
	}
}

// TestHeading checks that the "heading" property of flights and vehicles
// points the way they actually move.
func TestHeading(t *testing.T) {
	f := New(Options{Flights: 300, Vehicles: 300, Seed: testSeed(t)})
	prev := map[string]geo.Point{}
	now := time.Unix(0, 0)
	checked := 0
	crossing := make([]bool, len(f.vehicles))
	for i := range 500 {
		for j, v := range f.vehicles {
			crossing[j] = v.speed*1 >= v.toNext // in the next one-second step
		}
		now = now.Add(time.Second)
		for _, m := range f.Step(now, time.Second) {
			p, ok := prev[m.ID]
			prev[m.ID] = m.Pos
			if m.Layer == LayerFlights && f.flights[index(t, m.ID)].grounded {
				delete(prev, m.ID) // landed: its next move starts a new leg
				continue
			}
			if !ok || distanceM(p, m.Pos) < 1 {
				continue
			}
			want := m.Props["heading"].(int)
			got := bearingDeg(p, m.Pos)
			d := math.Abs(math.Mod(got-float64(want)+540, 360) - 180)
			// A great circle turns faster near the poles (the heading is that
			// at the end of the move); a vehicle that turned at a crossing
			// moved along two streets.
			lat := max(math.Abs(p.Lat), math.Abs(m.Pos.Lat)) * degToRad
			tol := 1 + math.Tan(lat)*distanceM(p, m.Pos)/earthRadius*radToDeg
			if d > tol && !(m.Layer == LayerVehicles && crossing[index(t, m.ID)]) {
				t.Fatalf("step %d: %s moved from %v to %v, bearing %.1f°, but its heading is %d°", i, m.ID, p, m.Pos, got, want)
			}
			checked++
		}
	}
	if checked < 100000 {
		t.Errorf("checked only %d moves", checked)
	}
}

// bearingDeg returns the initial bearing from a to b in degrees, [0, 360).
func bearingDeg(a, b geo.Point) float64 {
	la, lb, dl := a.Lat*degToRad, b.Lat*degToRad, (b.Lon-a.Lon)*degToRad
	y := math.Sin(dl) * math.Cos(lb)
	x := math.Cos(la)*math.Sin(lb) - math.Sin(la)*math.Cos(lb)*math.Cos(dl)
	return math.Mod(math.Atan2(y, x)*radToDeg+360, 360)
}

func TestRoutes(t *testing.T) {
	n := 0
	for i, list := range routes {
		if len(list) == 0 {
			t.Errorf("no flights leave %s", cities[i].code)
		}
		for _, j := range list {
			n++
			km := distanceM(geo.Pt(cities[i].lon, cities[i].lat), geo.Pt(cities[j].lon, cities[j].lat)) / 1000
			if int(j) == i || km < minRouteKm || km > maxRouteKm {
				t.Errorf("route %s→%s is %.0f km long", cities[i].code, cities[j].code, km)
			}
		}
	}
	for _, r := range showcase {
		if !slices.Contains(routes[cityIndex(r[0])], cityIndex(r[1])) {
			t.Errorf("no route %s→%s", r[0], r[1])
		}
	}
	t.Logf("%d routes between %d cities", n, len(cities))
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// TestVehiclesStayInTown drives vehicles for hours and checks that they stay
// within 15 km of their town centre, yet roam across it.
func TestVehiclesStayInTown(t *testing.T) {
	f := New(Options{Flights: -1, Vehicles: 400, Seed: testSeed(t)})
	far := make([]float64, 400)
	now := time.Unix(0, 0)
	for i := range 2000 {
		dt := 10 * time.Second
		if i%200 == 199 {
			dt = time.Hour
		}
		now = now.Add(dt)
		for _, m := range f.Step(now, dt) {
			n := index(t, m.ID)
			tw := towns[n%len(towns)]
			d := distanceM(geo.Pt(tw.lon, tw.lat), m.Pos)
			if d > 15000 {
				t.Fatalf("step %d: %s is %.0f m from %s", i, m.ID, d, tw.name)
			}
			far[n] = max(far[n], d)
		}
	}
	roamers := 0
	for _, d := range far {
		if d > 5000 {
			roamers++
		}
	}
	if roamers < len(far)/2 {
		t.Errorf("only %d of %d vehicles ever got 5 km from their town centre", roamers, len(far))
	}
}

// TestPropsImmutable checks that Props maps, once returned, never change.
func TestPropsImmutable(t *testing.T) {
	f := New(Options{Flights: 100, Vehicles: 100, Seed: testSeed(t)})
	now := time.Unix(0, 0)
	type kept struct {
		m    map[string]any
		copy map[string]any
	}
	var all []kept
	for i := range 300 {
		now = now.Add(dts(i))
		for _, m := range f.Step(now, dts(i)) {
			if i%30 == 0 {
				all = append(all, kept{m.Props, maps.Clone(m.Props)})
			}
		}
	}
	for _, k := range all {
		if !maps.Equal(k.m, k.copy) {
			t.Fatalf("props changed from %v to %v", k.copy, k.m)
		}
	}
}

func TestRun(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		f := New(Options{Flights: 10, Vehicles: 10})
		ctx, cancel := context.WithCancel(context.Background())
		batches := make(chan int, 100)
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, f, time.Millisecond, func(ms []wire.Marker) error {
				for _, m := range ms {
					if err := checkMarker(m, m.Time); err != nil {
						return err
					}
				}
				select {
				case batches <- len(ms):
				default:
				}
				return nil
			})
		}()
		for range 3 {
			select {
			case <-batches:
			case err := <-done:
				t.Fatalf("Run returned early: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("no batch within 5 s")
			}
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5 s of cancel")
		}
	})
	t.Run("sink error", func(t *testing.T) {
		boom := errors.New("boom")
		err := Run(context.Background(), New(Options{Flights: 1, Vehicles: 1}), time.Millisecond,
			func([]wire.Marker) error { return boom })
		if err != boom {
			t.Errorf("Run returned %v, want the sink's error", err)
		}
	})
	bad := []struct {
		name     string
		f        *Fleet
		interval time.Duration
		sink     func([]wire.Marker) error
	}{
		{"nil fleet", nil, time.Second, func([]wire.Marker) error { return nil }},
		{"nil sink", New(Options{Flights: -1, Vehicles: -1}), time.Second, nil},
		{"zero interval", New(Options{Flights: -1, Vehicles: -1}), 0, func([]wire.Marker) error { return nil }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if err := Run(context.Background(), tt.f, tt.interval, tt.sink); err == nil {
				t.Error("Run returned nil")
			}
		})
	}
}

func TestNormLon(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0, 0}, {180, 180}, {-180, -180}, {181, -179}, {-181, 179}, {540, 180 - 360}, {725, 5},
	}
	for _, tt := range tests {
		if got := normLon(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("normLon(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func BenchmarkStep(b *testing.B) {
	for _, scale := range []int{1, 10} {
		opts := Options{Flights: DefaultFlights * scale, Vehicles: DefaultVehicles * scale, Seed: 1}
		b.Run(fmt.Sprintf("markers=%d", opts.Flights+opts.Vehicles), func(b *testing.B) {
			f := New(opts)
			now := time.Unix(0, 0)
			for range 1000 { // fly a week or so, to build the shared Props maps
				now = now.Add(10 * time.Second)
				f.Step(now, 10*time.Second)
			}
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(100 * time.Millisecond)
				f.Step(now, 100*time.Millisecond)
			}
		})
	}
}
