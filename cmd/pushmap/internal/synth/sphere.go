package synth

import (
	"math"

	"github.com/pushmap/pushmap/geo"
)

const (
	degToRad = math.Pi / 180
	radToDeg = 180 / math.Pi
)

// A vec3 is a point or direction in Earth-centred coordinates on the unit
// sphere: x towards (0°, 0°), y towards (90° E, 0°), z towards the North Pole.
type vec3 struct{ x, y, z float64 }

// unitVec returns the unit vector of the point at lon, lat degrees.
func unitVec(lon, lat float64) vec3 {
	sinLon, cosLon := math.Sincos(lon * degToRad)
	sinLat, cosLat := math.Sincos(lat * degToRad)
	return vec3{cosLat * cosLon, cosLat * sinLon, sinLat}
}

func (a vec3) dot(b vec3) float64     { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec3) add(b vec3) vec3        { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec3) sub(b vec3) vec3        { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec3) scale(k float64) vec3   { return vec3{a.x * k, a.y * k, a.z * k} }
func (a vec3) norm() float64          { return math.Sqrt(a.dot(a)) }
func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

// point returns the longitude and latitude of the direction p (which need
// not be of unit length), longitude in [-180, 180], latitude in [-90, 90].
func (p vec3) point() geo.Point {
	lon := math.Atan2(p.y, p.x) * radToDeg
	lat := math.Atan2(p.z, math.Hypot(p.x, p.y)) * radToDeg
	return geo.Point{Lon: clamp(lon, -180, 180), Lat: clamp(lat, -90, 90)}
}

// bearing returns the compass direction, in degrees clockwise from north in
// [-180, 180], of the tangent t at the point p of the unit sphere. It reports
// false where that is undefined: at a pole or for a zero tangent.
func bearing(p, t vec3) (float64, bool) {
	rho := math.Hypot(p.x, p.y) // cos(latitude)
	if rho < 1e-9 {
		return 0, false
	}
	east := t.y*p.x/rho - t.x*p.y/rho
	north := t.z*rho - p.z*(t.x*p.x+t.y*p.y)/rho
	if east == 0 && north == 0 {
		return 0, false
	}
	return math.Atan2(east, north) * radToDeg, true
}

// normLon wraps a longitude in degrees into [-180, 180].
func normLon(lon float64) float64 {
	if lon >= -180 && lon <= 180 {
		return lon
	}
	lon = math.Mod(lon+180, 360)
	if lon < 0 {
		lon += 360
	}
	return lon - 180
}
