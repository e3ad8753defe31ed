package synth

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A town is a city vehicles drive in: its centre in degrees, and its
// streets, a square grid of blockM metres turned gridDeg clockwise from
// north, within an outline of radiusM metres on average that bulges and
// narrows with the angle (phase lobe), so that towns are not discs.
type town struct {
	name     string
	lon, lat float64
	gridDeg  float64
	blockM   float64
	radiusM  float64
	lobe     float64 // radians
}

var towns = [...]town{
	{"Paris", 2.3522, 48.8566, 17, 180, 8000, 0.3},
	{"London", -0.1276, 51.5072, -8, 160, 8500, 2.1},
	{"New York", -73.9855, 40.7580, 29, 120, 7500, 4.0},
	{"Tokyo", 139.7671, 35.6812, 10, 140, 8500, 1.2},
	{"São Paulo", -46.6333, -23.5505, 35, 150, 8000, 5.1},
	{"Sydney", 151.2093, -33.8688, 5, 170, 7500, 3.3},
	{"Mexico City", -99.1332, 19.4326, 0, 160, 8000, 0.9},
	{"Berlin", 13.4050, 52.5200, 22, 190, 8000, 2.7},
}

// The outline of a town: radiusM × (1 + outlineA3·sin(3θ + lobe) +
// outlineA5·sin(5θ + 2·lobe)) at angle θ on its grid; at most
// (1 + outlineA3 + outlineA5) × radiusM from the centre.
const (
	outlineA3 = 0.22
	outlineA5 = 0.12
)

// townGeom holds what placing a vehicle in a town needs, derived from towns:
// the projection of its grid and which crossings of the grid lie inside its
// outline (the streets are the grid's edges between two such crossings).
type townGeom struct {
	sinA, cosA float64 // of the grid angle
	degPerMLon float64 // degrees of longitude per metre east at the centre
	degPerMLat float64 // degrees of latitude per metre north
	n          int     // crossings run from -n to n blocks on each axis
	inside     []bool  // crossing (i, j) at inside[(j+n)*(2n+1) + i+n]
}

var townGeoms [len(towns)]townGeom

func init() {
	for k, t := range towns {
		s, c := math.Sincos(t.gridDeg * degToRad)
		g := townGeom{
			sinA: s, cosA: c,
			degPerMLon: radToDeg / (earthRadius * math.Cos(t.lat*degToRad)),
			degPerMLat: radToDeg / earthRadius,
			n:          int(math.Ceil((1+outlineA3+outlineA5)*t.radiusM/t.blockM)) + 1,
		}
		w := 2*g.n + 1
		g.inside = make([]bool, w*w)
		for j := -g.n; j <= g.n; j++ {
			for i := -g.n; i <= g.n; i++ {
				x, y := float64(i)*t.blockM, float64(j)*t.blockM
				th := math.Atan2(y, x)
				r := t.radiusM * (1 + outlineA3*math.Sin(3*th+t.lobe) + outlineA5*math.Sin(5*th+2*t.lobe))
				g.inside[(j+g.n)*w+i+g.n] = x*x+y*y <= r*r
			}
		}
		townGeoms[k] = g
	}
}

// crossing reports whether crossing (i, j) of the grid lies inside the outline.
func (g *townGeom) crossing(i, j int) bool {
	if i < -g.n || i > g.n || j < -g.n || j > g.n {
		return false
	}
	return g.inside[(j+g.n)*(2*g.n+1)+i+g.n]
}

// street reports whether a street leaves crossing (i, j) in direction dir
// (an index into gridDirs): both ends of the block are inside the outline.
func (g *townGeom) street(i, j int, dir uint8) bool {
	d := gridDirs[dir]
	return g.crossing(i, j) && g.crossing(i+int(d[0]), j+int(d[1]))
}

// lonLat projects grid metres (x, y) of town t onto the map.
func (g *townGeom) lonLat(t *town, x, y float64) geo.Point {
	east := x*g.cosA + y*g.sinA
	north := -x*g.sinA + y*g.cosA
	return geo.Point{
		Lon: normLon(t.lon + east*g.degPerMLon),
		Lat: clamp(t.lat+north*g.degPerMLat, -90, 90),
	}
}

// Vehicle behaviour.
const (
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

// A vehicle drives along the streets of one town: a random walk on its
// grid's streets that turns now and then at crossings, and where a street
// ends at the town's outline, turns along another or back.
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
	t, g := &towns[v.town], &townGeoms[v.town]
	b := t.blockM
	// A crossing inside the town with a street leaving it (the centre's
	// has four), a street from there, and a point along it.
	ci, cj := 0, 0
	for range 100 {
		r := t.radiusM * math.Sqrt(rng.Float64())
		sin, cos := math.Sincos(2 * math.Pi * rng.Float64())
		i, j := int(math.Round(r*cos/b)), int(math.Round(r*sin/b))
		if len(v.exits(g, i, j, nil)) > 0 {
			ci, cj = i, j
			break
		}
	}
	exits := v.exits(g, ci, cj, nil)
	v.dir = exits[rng.IntN(len(exits))]
	along := rng.Float64() * b
	step := gridDirs[v.dir]
	v.x, v.y = float64(ci)*b+step[0]*along, float64(cj)*b+step[1]*along
	v.toNext = b - along
	if v.toNext < 1e-6 {
		v.toNext = b
	}
	v.place(props)
}

// exits appends to buf the directions of the streets leaving crossing (i, j).
func (v *vehicle) exits(g *townGeom, i, j int, buf []uint8) []uint8 {
	for d := range uint8(len(gridDirs)) {
		if g.street(i, j, d) {
			buf = append(buf, d)
		}
	}
	return buf
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

// turn picks the street to leave a crossing by: mostly straight on, now
// and then left or right; where the way it picked has no street, another
// that is not back, and back only at a dead end.
func (v *vehicle) turn(rng *rand.Rand) {
	if rng.Float64() < pSpeedChange {
		v.newSpeed(rng)
	}
	t, g := &towns[v.town], &townGeoms[v.town]
	i, j := int(math.Round(v.x/t.blockM)), int(math.Round(v.y/t.blockM))
	want := v.dir
	switch p := rng.Float64(); {
	case p < pTurnLeft:
		want = (v.dir + 3) % 4
	case p < pTurnLeft+pTurnRight:
		want = (v.dir + 1) % 4
	}
	if g.street(i, j, want) {
		v.dir = want
		return
	}
	var exits, others [4]uint8
	ahead := others[:0]
	for _, d := range v.exits(g, i, j, exits[:0]) {
		if d != (v.dir+2)%4 {
			ahead = append(ahead, d)
		}
	}
	if len(ahead) > 0 {
		v.dir = ahead[rng.IntN(len(ahead))]
		return
	}
	v.dir = (v.dir + 2) % 4 // a dead end: the street it came by
}

// place computes pos and props from the vehicle's state.
func (v *vehicle) place(props propCache) {
	t, g := &towns[v.town], &townGeoms[v.town]
	v.pos = g.lonLat(t, v.x, v.y)
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
