// Package synth is a synthetic marker feed: aircraft flying great circles
// between world cities and vehicles driving street grids in a few cities. It
// gives the demo map life and load tests a steady, reproducible stream of
// marker moves.
//
// A Fleet is deterministic: two fleets made with the same Options and stepped
// with the same sequence of durations produce the same markers. The wall-clock
// time given to Step only stamps Marker.Time.
//
// Flights live in layer LayerFlights and vehicles in layer LayerVehicles.
// Every marker carries a few small Props: "kind" ("plane", "car", "bus" or
// "taxi"), "heading" (int degrees clockwise from north, 0..359) and, for
// flights, "from" and "to" (IATA-like city codes such as "HND" and "SFO").
package synth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pushmap/pushmap/wire"
)

// Layer names used by a Fleet.
const (
	LayerFlights  = "flights"  // aircraft flying between world cities
	LayerVehicles = "vehicles" // cars, taxis and buses driving inside cities
)

// Defaults applied by New for zero (or, for speedups, non-positive) Options
// fields.
const (
	DefaultFlights        = 1500 // flights when Options.Flights is 0
	DefaultVehicles       = 3000 // vehicles when Options.Vehicles is 0
	DefaultSpeedup        = 60   // simulated seconds per real second for flights
	DefaultVehicleSpeedup = 1    // simulated seconds per real second for vehicles
)

// Options configure a Fleet. The zero value means the defaults: 1500 flights
// at 60x real time and 3000 vehicles in real time, seed 0.
type Options struct {
	// Flights is the number of aircraft: DefaultFlights when 0, none when
	// negative.
	Flights int
	// Vehicles is the number of road vehicles: DefaultVehicles when 0, none
	// when negative.
	Vehicles int
	// Seed makes the fleet reproducible: the same seed and the same sequence
	// of Step durations give the same markers.
	Seed int64
	// Speedup is the number of simulated seconds per real second for
	// flights; DefaultSpeedup (60) when not positive, so that an aircraft
	// cruising at ~850 km/h visibly crosses a world map (a 12-hour flight
	// takes 12 real minutes).
	Speedup float64
	// VehicleSpeedup is the number of simulated seconds per real second for
	// vehicles; DefaultVehicleSpeedup (1, real time) when not positive, so
	// that 20–60 km/h look right at street zoom.
	VehicleSpeedup float64
}

// A Fleet is a set of simulated flights and vehicles. Make one with New.
//
// All methods may be called concurrently, but the slice returned by Step is
// reused by the next call to Step, whoever makes it.
//
// The Props maps of the markers it returns are shared between markers and
// between calls, and are never modified once returned: receivers may keep
// them but must not modify them. A fleet builds one such map per distinct
// property set it meets, up to about 15,000 (a few MB) for the flights'
// routes and headings; after that, Step allocates nothing.
type Fleet struct {
	mu sync.Mutex // guards every field below

	flightSpeedup  float64
	vehicleSpeedup float64
	frng           *rand.Rand // drives flights only
	vrng           *rand.Rand // drives vehicles only
	flights        []flight
	vehicles       []vehicle
	props          propCache
	out            []wire.Marker // Step's result, reused
}

// New returns a fleet set up as opts asks (see Options for the defaults),
// with every flight and vehicle already placed: flights part-way along their
// routes (a few on the ground), vehicles spread over their cities.
func New(opts Options) *Fleet {
	nf := count(opts.Flights, DefaultFlights)
	nv := count(opts.Vehicles, DefaultVehicles)
	seed := uint64(opts.Seed)
	f := &Fleet{
		flightSpeedup:  speedup(opts.Speedup, DefaultSpeedup),
		vehicleSpeedup: speedup(opts.VehicleSpeedup, DefaultVehicleSpeedup),
		frng:           rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		vrng:           rand.New(rand.NewPCG(seed, 0xd1b54a32d192ed03)),
		flights:        make([]flight, nf),
		vehicles:       make([]vehicle, nv),
		props:          propCache{},
		out:            make([]wire.Marker, 0, nf+nv),
	}
	for i := range f.flights {
		f.flights[i].init(i, f.frng, f.props)
	}
	for i := range f.vehicles {
		f.vehicles[i].init(i, f.vrng, f.props)
	}
	return f
}

func count(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

func speedup(s, def float64) float64 {
	if !(s > 0) || math.IsInf(s, 0) { // also catches NaN
		return def
	}
	return s
}

// Step advances the simulation by dt of real time (scaled by the speedups)
// and returns the markers that moved or changed, each with its new Pos,
// Layer, ID ("f0", "f1", ... for flights, "v0", "v1", ... for vehicles),
// Time (now in Unix milliseconds) and Props; Version is left 0 for the
// server to assign. A flight waiting on the ground does not move and is not
// returned. A non-positive dt moves nothing.
//
// The returned slice is owned by the Fleet and reused by the next call to
// Step: use or copy it before then.
func (f *Fleet) Step(now time.Time, dt time.Duration) []wire.Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = f.out[:0]
	if dt <= 0 {
		return f.out
	}
	ms := now.UnixMilli()
	sec := dt.Seconds()
	fs, vs := sec*f.flightSpeedup, sec*f.vehicleSpeedup
	for i := range f.flights {
		fl := &f.flights[i]
		if fl.advance(fs, f.frng, f.props) {
			fl.ms = ms
			f.out = append(f.out, fl.marker())
		}
	}
	for i := range f.vehicles {
		v := &f.vehicles[i]
		if v.advance(vs, f.vrng, f.props) {
			v.ms = ms
			f.out = append(f.out, v.marker())
		}
	}
	return f.out
}

// Markers returns the current state of every flight and vehicle in a new
// slice the caller owns. Each marker's Time is when Step last moved it, 0 if
// it has not moved since New.
func (f *Fleet) Markers() []wire.Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := make([]wire.Marker, 0, len(f.flights)+len(f.vehicles))
	for i := range f.flights {
		ms = append(ms, f.flights[i].marker())
	}
	for i := range f.vehicles {
		ms = append(ms, f.vehicles[i].marker())
	}
	return ms
}

// Run calls f.Step every interval, with the real time elapsed since the
// previous call, until ctx ends, and hands each non-empty batch to sink. The
// batch is valid only until sink returns. Run returns ctx.Err() once ctx
// ends, the first error sink returns, or an error for a non-positive
// interval or a nil f or sink.
func Run(ctx context.Context, f *Fleet, interval time.Duration, sink func([]wire.Marker) error) error {
	switch {
	case f == nil:
		return errors.New("synth: Run with a nil Fleet")
	case sink == nil:
		return errors.New("synth: Run with a nil sink")
	case interval <= 0:
		return fmt.Errorf("synth: Run interval %v is not positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			batch := f.Step(now, now.Sub(last))
			last = now
			if len(batch) == 0 {
				continue
			}
			if err := sink(batch); err != nil {
				return err
			}
		}
	}
}
