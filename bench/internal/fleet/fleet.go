// Package fleet is the workload of pushmap's load benchmark: markers that
// drive straight at a constant speed inside a region, bouncing off its
// edges, each moving one step per period, published in feed batches (ticks).
//
// Everything about the workload is a pure function of its Options and
// stages: where marker m is at version v (Pos), which tick publishes that
// version (Tick), which version is current after a tick (Version) and which
// markers a tick publishes (Due). So the load generator that publishes the
// moves and the audit that judges what clients received compute the same
// numbers without sharing a log, and a 100,000-marker run keeps no per-move
// record.
//
// Ticks are numbered from 0. Tick 0 creates the markers of the first stage
// (version 1, the preload); from tick 1 on, marker m moves in the ticks t
// with (t-1) mod P == m mod P, P being Period/Tick, so that each tick
// publishes about 1/P of the markers. A later stage adds markers, created
// (version 1) in their first tick of the stage and moving every period
// after it.
package fleet

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// Paris is the default region: Paris and its inner suburbs, about 29 km
// east–west by 22 km north–south.
var Paris = geo.BBox(2.15, 48.75, 2.55, 48.95)

// Layer is the layer of every marker of a fleet.
const Layer = "fleet"

// Options describe the workload. Zero fields take the defaults documented
// on each.
type Options struct {
	Region geo.Box       // where markers drive; default Paris
	Speed  float64       // metres per second; default 10 (36 km/h)
	Period time.Duration // between two moves of one marker; default 1s
	Tick   time.Duration // between two feed batches; default 100ms; Period must be a multiple of it
	Seed   uint64        // start points and headings
}

// A Stage is a part of a run: from its first tick on, Markers markers exist
// (a stage may add markers, never remove them), for Ticks ticks.
type Stage struct {
	Markers int
	Ticks   int64 // a multiple of Fleet.P
}

// A Fleet is the workload of one run. It is immutable: all methods are safe
// for concurrent use.
type Fleet struct {
	o      Options
	p      int64   // ticks per period
	stepM  float64 // metres per move
	counts []int   // cumulative markers per stage
	starts []int64 // first tick of each stage; starts[0] == 1
	end    int64   // first tick after the last stage
	tracks []track // per marker: where it starts and its step
}

// A track is a marker's straight line: its start and its step per move, in
// degrees.
type track struct{ x0, y0, dx, dy float64 }

// New returns the fleet of o run through stages. Each stage's Ticks must
// be a positive multiple of P and its Markers at least the previous
// stage's.
func New(o Options, stages []Stage) (*Fleet, error) {
	if o.Region == (geo.Box{}) {
		o.Region = Paris
	}
	if o.Speed == 0 {
		o.Speed = 10
	}
	if o.Period == 0 {
		o.Period = time.Second
	}
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	switch {
	case o.Region.Validate() != nil || o.Region.CrossesAntimeridian() || o.Region.West == o.Region.East || o.Region.South == o.Region.North:
		return nil, fmt.Errorf("fleet: region %v must be a valid box with an area, not crossing the antimeridian", o.Region)
	case o.Speed < 0 || math.IsNaN(o.Speed):
		return nil, fmt.Errorf("fleet: speed %v m/s is negative", o.Speed)
	case o.Tick <= 0 || o.Period < o.Tick || o.Period%o.Tick != 0:
		return nil, fmt.Errorf("fleet: period %v must be a positive multiple of tick %v", o.Period, o.Tick)
	case len(stages) == 0:
		return nil, fmt.Errorf("fleet: no stage")
	}
	f := &Fleet{o: o, p: int64(o.Period / o.Tick), stepM: o.Speed * o.Period.Seconds()}
	t, prev := int64(1), 0
	for i, s := range stages {
		if s.Ticks <= 0 || s.Ticks%f.p != 0 {
			return nil, fmt.Errorf("fleet: stage %d lasts %d ticks, not a positive multiple of %d", i, s.Ticks, f.p)
		}
		if s.Markers < prev || s.Markers >= math.MaxUint32 {
			return nil, fmt.Errorf("fleet: stage %d has %d markers, fewer than the stage before (%d) or too many", i, s.Markers, prev)
		}
		f.counts = append(f.counts, s.Markers)
		f.starts = append(f.starts, t)
		t += s.Ticks
		prev = s.Markers
	}
	f.end = t
	f.tracks = make([]track, prev)
	for m := range f.tracks {
		f.tracks[m] = f.track(uint32(m))
	}
	return f, nil
}

func (f *Fleet) track(m uint32) track {
	r := f.o.Region
	h := splitmix(f.o.Seed ^ uint64(m)*0x9e3779b97f4a7c15)
	x0 := r.West + unit(h)*(r.East-r.West)
	h = splitmix(h)
	y0 := r.South + unit(h)*(r.North-r.South)
	h = splitmix(h)
	heading := unit(h) * 2 * math.Pi
	const metresPerDegLat = 111_320.0
	return track{x0: x0, y0: y0,
		dx: f.stepM * math.Cos(heading) / (metresPerDegLat * math.Cos(y0*math.Pi/180)),
		dy: f.stepM * math.Sin(heading) / metresPerDegLat}
}

// Options returns the fleet's options with defaults filled in.
func (f *Fleet) Options() Options { return f.o }

// P is the number of ticks in a period: each marker moves once every P
// ticks.
func (f *Fleet) P() int64 { return f.p }

// End is the first tick after the last stage: ticks run from 0 to End-1.
func (f *Fleet) End() int64 { return f.end }

// Stages returns the number of stages.
func (f *Fleet) Stages() int { return len(f.counts) }

// StageStart returns the first tick of stage i; StageStart(Stages()) is
// End.
func (f *Fleet) StageStart(i int) int64 {
	if i >= len(f.starts) {
		return f.end
	}
	return f.starts[i]
}

// StageMarkers returns the number of markers in stage i.
func (f *Fleet) StageMarkers(i int) int { return f.counts[i] }

// Bound returns how many markers may exist once tick t was applied: the
// markers of t's stage, numbered 0 to Bound(t)-1. A marker the stage adds
// exists from its first tick in the stage on (Version(m, t) > 0).
func (f *Fleet) Bound(t int64) int {
	if t < 0 {
		return 0
	}
	n := f.counts[0]
	for i := 1; i < len(f.starts) && f.starts[i] <= t; i++ {
		n = f.counts[i]
	}
	return n
}

// first returns the tick that publishes version 1 of marker m, or, for a
// marker of the first stage, the tick before its first move minus a period
// (zero or negative): its version 1 was published in tick 0.
func (f *Fleet) first(m uint32) int64 {
	slot := int64(m) % f.p
	if int(m) < f.counts[0] {
		return 1 + slot - f.p
	}
	for i := 1; i < len(f.counts); i++ {
		if int(m) < f.counts[i] {
			return f.starts[i] + slot
		}
	}
	return math.MaxInt64 // never created
}

// Exists reports whether marker m is part of the run (created at some tick).
func (f *Fleet) Exists(m uint32) bool { return int(m) < f.counts[len(f.counts)-1] }

// Tick returns the tick that publishes version v (≥ 1) of marker m.
func (f *Fleet) Tick(m, v uint32) int64 {
	first := f.first(m)
	if v <= 1 {
		return max(first, 0)
	}
	return first + int64(v-1)*f.p
}

// Version returns the version of marker m once tick t was applied: 0 when
// it does not exist yet.
func (f *Fleet) Version(m uint32, t int64) uint32 {
	first := f.first(m)
	if t < 0 || t < max(first, 0) {
		return 0
	}
	// For a marker of the first stage, first is at most 0 and less than a
	// period before its first move, so tick 0 gives version 1.
	return 1 + uint32((t-first)/f.p)
}

// Due calls fn for every marker version that tick t publishes: the
// creation of the first stage's markers in tick 0, then moves and
// creations.
func (f *Fleet) Due(t int64, fn func(m, v uint32)) {
	if t == 0 {
		for m := range f.counts[0] {
			fn(uint32(m), 1)
		}
		return
	}
	if t < 1 || t >= f.end {
		return
	}
	n := f.Bound(t)
	slot := (t - 1) % f.p
	for m := slot; m < int64(n); m += f.p {
		if v := f.Version(uint32(m), t); v > 0 && f.Tick(uint32(m), v) == t {
			fn(uint32(m), v)
		}
	}
}

// Pos returns where marker m (< the last stage's Markers) is at version v
// (≥ 1), quantised to the
// wire's resolution so that everyone tests containment on the same
// numbers.
func (f *Fleet) Pos(m, v uint32) geo.Point {
	r := &f.o.Region
	tr := &f.tracks[m]
	n := float64(v - 1)
	return wire.Quantize(geo.Pt(bounce(tr.x0+n*tr.dx, r.West, r.East), bounce(tr.y0+n*tr.dy, r.South, r.North)))
}

// bounce folds x into [lo, hi] as a ball bouncing between two walls.
func bounce(x, lo, hi float64) float64 {
	w := hi - lo
	d := math.Mod(x-lo, 2*w)
	if d < 0 {
		d += 2 * w
	}
	if d > w {
		d = 2*w - d
	}
	return lo + d
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps h to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// ID returns the marker id of marker m: "v" and its number.
func ID(m uint32) string { return "v" + strconv.FormatUint(uint64(m), 10) }

// AppendID appends the id of marker m to dst.
func AppendID(dst []byte, m uint32) []byte {
	return strconv.AppendUint(append(dst, 'v'), uint64(m), 10)
}

// Index returns the marker number of id, or false if id is not a fleet id.
func Index(id []byte) (uint32, bool) {
	if len(id) < 2 || len(id) > 11 || id[0] != 'v' {
		return 0, false
	}
	var n uint64
	for _, c := range id[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}
