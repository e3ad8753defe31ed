package synth

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// earthRadius is the mean Earth radius in metres.
const earthRadius = 6371008.8

// A city is an airport city: its code and the airport's position in degrees.
type city struct {
	code     string
	lon, lat float64
}

// cities are the airports flights fly between, on every inhabited continent.
var cities = [...]city{
	// Europe
	{"LHR", -0.4543, 51.4700}, {"CDG", 2.5479, 49.0097}, {"FRA", 8.5622, 50.0379},
	{"AMS", 4.7683, 52.3105}, {"MAD", -3.5676, 40.4983}, {"FCO", 12.2389, 41.8003},
	{"IST", 28.7519, 41.2753}, {"SVO", 37.4146, 55.9726},
	// Middle East and Africa
	{"DXB", 55.3644, 25.2532}, {"DOH", 51.6081, 25.2731}, {"CAI", 31.4056, 30.1219},
	{"JNB", 28.2460, -26.1392}, {"NBO", 36.9278, -1.3192}, {"LOS", 3.3211, 6.5774},
	{"ADD", 38.7993, 8.9779}, {"CMN", -7.5900, 33.3675},
	// Asia
	{"HND", 139.7798, 35.5494}, {"ICN", 126.4407, 37.4602}, {"PEK", 116.5975, 40.0799},
	{"PVG", 121.8083, 31.1443}, {"HKG", 113.9185, 22.3080}, {"SIN", 103.9915, 1.3644},
	{"BKK", 100.7501, 13.6900}, {"DEL", 77.1025, 28.5562}, {"BOM", 72.8679, 19.0896},
	{"MNL", 121.0198, 14.5086},
	// Oceania and the Pacific
	{"SYD", 151.1772, -33.9399}, {"MEL", 144.8410, -37.6690}, {"AKL", 174.7850, -37.0082},
	{"NAN", 177.4434, -17.7554}, {"HNL", -157.9225, 21.3187},
	// North America
	{"SFO", -122.3790, 37.6213}, {"LAX", -118.4085, 33.9416}, {"SEA", -122.3088, 47.4502},
	{"YVR", -123.1815, 49.1967}, {"ANC", -149.9961, 61.1743}, {"JFK", -73.7781, 40.6413},
	{"ORD", -87.9073, 41.9742}, {"ATL", -84.4277, 33.6407}, {"DFW", -97.0403, 32.8998},
	{"YYZ", -79.6248, 43.6777}, {"MEX", -99.0721, 19.4361},
	// South America
	{"GRU", -46.4731, -23.4356}, {"EZE", -58.5358, -34.8222}, {"BOG", -74.1469, 4.7016},
	{"LIM", -77.1143, -12.0219}, {"SCL", -70.7858, -33.3930},
}

// hubs are the cities with long-haul flights to one another; every city also
// has flights to its nearest neighbours.
var hubs = [...]string{
	"LHR", "FRA", "IST", "DXB", "JNB", "DEL", "SIN", "HKG", "HND",
	"SYD", "LAX", "JFK", "ATL", "GRU",
}

// showcase are trans-Pacific routes that cross the antimeridian (both ways
// included in the route network); flights f0 to f5 of every fleet start on
// them, part-way along, so the demo always shows such crossings.
var showcase = [...][2]string{
	{"HND", "SFO"}, {"SYD", "LAX"}, {"AKL", "HNL"},
	{"SFO", "HND"}, {"LAX", "SYD"}, {"HNL", "AKL"},
}

// The route network: each city's nearRoutes nearest neighbours (both ways),
// hub to hub, and the showcase routes, each between minRouteKm and
// maxRouteKm long: about 600 routes. Flying these rather than every pair of
// cities also bounds the distinct flight Props maps (route × heading) to about
// 15,000, a few MB, instead of 100,000.
const (
	minRouteKm = 400   // shorter hops are not worth a plane on a world map
	maxRouteKm = 15500 // the longest flights that exist
	nearRoutes = 8
)

// Flight timing, in simulated units.
const (
	minCruiseKmh = 750
	maxCruiseKmh = 950
	minWaitSec   = 20 * 60 // time on the ground between flights
	maxWaitSec   = 90 * 60
	pGrounded    = 0.1 // share of flights on the ground at New
)

var (
	cityVec [len(cities)]vec3
	// routes[c] lists the destinations of flights leaving city c, in
	// increasing index order.
	routes [len(cities)][]uint8
)

func init() {
	for i, c := range cities {
		cityVec[i] = unitVec(c.lon, c.lat)
	}
	var link [len(cities)][len(cities)]bool
	ok := func(i, j int) bool {
		km := math.Acos(clamp(cityVec[i].dot(cityVec[j]), -1, 1)) * earthRadius / 1000
		return i != j && km >= minRouteKm && km <= maxRouteKm
	}
	for i := range cities {
		// The nearRoutes closest cities, by selection: the table is small.
		var taken [len(cities)]bool
		for range nearRoutes {
			best := -1
			for j := range cities {
				if ok(i, j) && !taken[j] && (best < 0 || cityVec[i].dot(cityVec[j]) > cityVec[i].dot(cityVec[best])) {
					best = j
				}
			}
			if best >= 0 {
				taken[best] = true
				link[i][best], link[best][i] = true, true
			}
		}
	}
	for _, a := range hubs {
		for _, b := range hubs {
			if i, j := int(cityIndex(a)), int(cityIndex(b)); ok(i, j) {
				link[i][j] = true
			}
		}
	}
	for _, r := range showcase {
		link[cityIndex(r[0])][cityIndex(r[1])] = true
	}
	for i := range cities {
		for j := range cities {
			if link[i][j] {
				routes[i] = append(routes[i], uint8(j))
			}
		}
	}
}

func cityIndex(code string) uint8 {
	for i, c := range cities {
		if c.code == code {
			return uint8(i)
		}
	}
	panic("synth: unknown city " + code) // only reached through the static tables
}

// A flight is one aircraft flying great circles between cities, or waiting on
// the ground at its destination before its next departure.
type flight struct {
	id       string
	from, to uint8   // indexes into cities
	u, v     vec3    // orthonormal: u is from, the route is cos θ·u + sin θ·v
	omega    float64 // angular length of the route, radians
	theta    float64 // angular distance flown, radians, in [0, omega]
	speed    float64 // radians per simulated second
	grounded bool    // waiting at to
	wait     float64 // simulated seconds left on the ground when grounded

	key   propKey // of props
	pos   geo.Point
	props map[string]any
	ms    int64 // Time of the last move, Unix ms
}

// init sets up flight number i of a new fleet.
func (fl *flight) init(i int, rng *rand.Rand, props propCache) {
	fl.id = "f" + strconv.Itoa(i)
	if i < len(showcase) {
		fl.route(cityIndex(showcase[i][0]), cityIndex(showcase[i][1]), rng)
		fl.theta = rng.Float64() * fl.omega
	} else {
		from := uint8(rng.IntN(len(cities)))
		fl.route(from, pickDest(from, rng), rng)
		if rng.Float64() < pGrounded {
			fl.theta = fl.omega
			fl.grounded = true
			fl.wait = rng.Float64() * maxWaitSec
		} else {
			fl.theta = rng.Float64() * fl.omega
		}
	}
	fl.place(props)
}

// pickDest chooses where a flight leaving from goes next.
func pickDest(from uint8, rng *rand.Rand) uint8 {
	list := routes[from]
	return list[rng.IntN(len(list))]
}

// route puts the flight at the start of the great circle from a to b.
func (fl *flight) route(a, b uint8, rng *rand.Rand) {
	fl.from, fl.to = a, b
	u, w := cityVec[a], cityVec[b]
	cos := u.dot(w)
	v := w.sub(u.scale(cos))
	sin := v.norm()
	fl.u, fl.v = u, v.scale(1/sin)
	fl.omega = math.Atan2(sin, cos)
	fl.theta = 0
	kmh := minCruiseKmh + rng.Float64()*(maxCruiseKmh-minCruiseKmh)
	fl.speed = kmh / 3.6 / earthRadius
	fl.grounded = false
	fl.wait = 0
}

// advance runs the flight for s simulated seconds, through landings and
// departures, and reports whether its position or props changed.
func (fl *flight) advance(s float64, rng *rand.Rand, props propCache) bool {
	moved := false
	for s > 0 {
		if fl.grounded {
			if fl.wait > s {
				fl.wait -= s
				break
			}
			s -= fl.wait
			fl.route(fl.to, pickDest(fl.to, rng), rng)
			moved = true
			continue
		}
		moved = true
		rest := (fl.omega - fl.theta) / fl.speed // seconds to landing
		if rest > s {
			fl.theta += s * fl.speed
			break
		}
		s -= rest
		fl.theta = fl.omega
		fl.grounded = true
		fl.wait = minWaitSec + rng.Float64()*(maxWaitSec-minWaitSec)
	}
	if moved {
		fl.place(props)
	}
	return moved
}

// place computes pos, heading and props from the flight's state. On the
// ground the flight stands exactly at its destination city, facing the way it
// arrived.
func (fl *flight) place(props propCache) {
	sin, cos := math.Sincos(fl.theta)
	p := fl.u.scale(cos).add(fl.v.scale(sin))
	t := fl.v.scale(cos).sub(fl.u.scale(sin)) // direction of motion
	heading := fl.key.heading                 // kept where undefined
	if h, ok := bearing(p, t); ok {
		heading = headingInt(h)
	}
	if fl.grounded {
		c := cities[fl.to]
		fl.pos = geo.Point{Lon: c.lon, Lat: c.lat}
	} else {
		fl.pos = p.point()
	}
	key := propKey{kind: kindPlane, from: fl.from, to: fl.to, heading: heading}
	if key != fl.key || fl.props == nil {
		fl.key = key
		fl.props = props.get(key)
	}
}

func (fl *flight) marker() wire.Marker {
	return wire.Marker{ID: fl.id, Layer: LayerFlights, Pos: fl.pos, Time: fl.ms, Props: fl.props}
}
