package synth

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A town is a city vehicles drive in: its centre in degrees, and its street
// grid, a square grid of blockM metres turned gridDeg clockwise from north.
type town struct {
	name     string
	lon, lat float64
	gridDeg  float64
	blockM   float64
}

var towns = [...]town{
	{"Paris", 2.3522, 48.8566, 17, 180},
	{"London", -0.1276, 51.5072, -8, 160},
	{"New York", -73.9855, 40.7580, 29, 120},
	{"Tokyo", 139.7671, 35.6812, 10, 140},
	{"São Paulo", -46.6333, -23.5505, 35, 150},
	{"Sydney", 151.2093, -33.8688, 5, 170},
	{"Mexico City", -99.1332, 19.4326, 0, 160},
	{"Berlin", 13.4050, 52.5200, 22, 190},
}

// townGeom holds what placing a vehicle in a town needs, derived from towns.
type townGeom struct {
	sinA, cosA float64 // of the grid angle
	degPerMLon float64 // degrees of longitude per metre east at the centre
	degPerMLat float64 // degrees of latitude per metre north
}

var townGeoms [len(towns)]townGeom

func init() {
	for i, t := range towns {
		s, c := math.Sincos(t.gridDeg * degToRad)
		townGeoms[i] = townGeom{
			sinA: s, cosA: c,
			degPerMLon: radToDeg / (earthRadius * math.Cos(t.lat*degToRad)),
			degPerMLat: radToDeg / earthRadius,
		}
	}
}

// Vehicle behaviour.
const (
	// softRadiusM is how far from its town's centre a vehicle roams: beyond
	// it, it turns towards the centre at the next crossing, so it never gets
	// more than about a block further.
	softRadiusM  = 9000
	pTurnLeft    = 0.2  // chance of turning left at a crossing
	pTurnRight   = 0.2  // chance of turning right at a crossing
	pSpeedChange = 0.15 // chance of picking a new speed at a crossing
)

// A vehicleKind is a share of the fleet and the speeds it drives at.
type vehicleKind struct {
	kind           uint8
	share          float64 // cumulative share of the fleet
	minKmh, maxKmh float64
}

var vehicleKinds = [...]vehicleKind{
	{kindCar, 0.7, 20, 60},
	{kindTaxi, 0.9, 20, 55},
	{kindBus, 1.0, 20, 40},
}

// gridDirs are the unit steps, in grid metres (x, y), of the four directions
// a vehicle drives in: grid north, east, south, west.
var gridDirs = [4][2]float64{{0, 1}, {1, 0}, {0, -1}, {-1, 0}}

// A vehicle drives along the streets of one town: a random walk on its grid
// that turns now and then at crossings.
type vehicle struct {
	id     string
	town   uint8
	kind   uint8   // index into vehicleKinds
	dir    uint8   // index into gridDirs
	x, y   float64 // grid metres from the town centre
	toNext float64 // metres to the next crossing
	speed  float64 // metres per simulated second
	key    propKey // of props
	pos    geo.Point
	props  map[string]any
	ms     int64 // Time of the last move, Unix ms
}

// init sets up vehicle number i of a new fleet.
func (v *vehicle) init(i int, rng *rand.Rand, props propCache) {
	v.id = "v" + strconv.Itoa(i)
	v.town = uint8(i % len(towns))
	k := rng.Float64()
	for int(v.kind) < len(vehicleKinds)-1 && k >= vehicleKinds[v.kind].share {
		v.kind++
	}
	v.newSpeed(rng)
	b := towns[v.town].blockM
	r := softRadiusM * math.Sqrt(rng.Float64())
	sin, cos := math.Sincos(2 * math.Pi * rng.Float64())
	v.x, v.y = r*cos, r*sin
	v.dir = uint8(rng.IntN(4))
	// Put it on a street running its way, and find the next crossing.
	along := &v.y
	if v.dir%2 == 1 {
		along = &v.x
		v.y = math.Round(v.y/b) * b
	} else {
		v.x = math.Round(v.x/b) * b
	}
	if v.dir < 2 {
		v.toNext = math.Ceil(*along/b)*b - *along
	} else {
		v.toNext = *along - math.Floor(*along/b)*b
	}
	if v.toNext < 1e-6 {
		v.toNext = b
	}
	v.place(props)
}

func (v *vehicle) newSpeed(rng *rand.Rand) {
	k := vehicleKinds[v.kind]
	v.speed = (k.minKmh + rng.Float64()*(k.maxKmh-k.minKmh)) / 3.6
}

// advance drives the vehicle for s simulated seconds, turning at crossings,
// and reports whether it moved.
func (v *vehicle) advance(s float64, rng *rand.Rand, props propCache) bool {
	if !(s > 0) {
		return false
	}
	b := towns[v.town].blockM
	d := v.speed * s
	for {
		step := gridDirs[v.dir]
		if d < v.toNext {
			v.x += step[0] * d
			v.y += step[1] * d
			v.toNext -= d
			break
		}
		d -= v.toNext
		// At a crossing: snap onto the grid so rounding never drifts.
		v.x = math.Round((v.x+step[0]*v.toNext)/b) * b
		v.y = math.Round((v.y+step[1]*v.toNext)/b) * b
		v.turn(rng)
		v.toNext = b
	}
	v.place(props)
	return true
}

// turn picks the direction to leave a crossing in: mostly straight on, now
// and then left or right, and back towards the centre once too far out.
func (v *vehicle) turn(rng *rand.Rand) {
	if rng.Float64() < pSpeedChange {
		v.newSpeed(rng)
	}
	if v.x*v.x+v.y*v.y > softRadiusM*softRadiusM {
		var inward [4]uint8
		n := 0
		for k, g := range gridDirs {
			if g[0]*v.x+g[1]*v.y < 0 {
				inward[n] = uint8(k)
				n++
			}
		}
		v.dir = inward[rng.IntN(n)] // n ≥ 1: (x, y) is not the origin
		return
	}
	switch p := rng.Float64(); {
	case p < pTurnLeft:
		v.dir = (v.dir + 3) % 4
	case p < pTurnLeft+pTurnRight:
		v.dir = (v.dir + 1) % 4
	}
}

// place computes pos and props from the vehicle's state.
func (v *vehicle) place(props propCache) {
	t, g := &towns[v.town], &townGeoms[v.town]
	east := v.x*g.cosA + v.y*g.sinA
	north := -v.x*g.sinA + v.y*g.cosA
	v.pos = geo.Point{
		Lon: normLon(t.lon + east*g.degPerMLon),
		Lat: clamp(t.lat+north*g.degPerMLat, -90, 90),
	}
	key := propKey{
		kind:    vehicleKinds[v.kind].kind,
		from:    noCity,
		to:      noCity,
		heading: headingInt(t.gridDeg + 90*float64(v.dir)),
	}
	if key != v.key || v.props == nil {
		v.key = key
		v.props = props.get(key)
	}
}

func (v *vehicle) marker() wire.Marker {
	return wire.Marker{ID: v.id, Layer: LayerVehicles, Pos: v.pos, Time: v.ms, Props: v.props}
}
