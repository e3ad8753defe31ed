// Package geo holds the geometry pushmap works in: longitude/latitude points
// and boxes in GeoJSON order (longitude first, degrees), boxes that cross the
// antimeridian, the Web Mercator latitude limit and slippy-map tiles z/x/y.
//
// It uses the standard library only and carries no build tags, so the server
// and the WebAssembly client share exactly the same arithmetic.
package geo

import (
	"errors"
	"math"
	"strconv"
)

// ErrInvalid is wrapped by every validation error of this package, so callers
// can test errors.Is(err, geo.ErrInvalid).
var ErrInvalid = errors.New("geo: invalid")

// MaxMercatorLat is the latitude, in degrees, at which Web Mercator (and so
// every slippy map) stops: the square world map ends at ±MaxMercatorLat.
const MaxMercatorLat = 85.05112877980659

// A Point is a position in degrees: Lon in [-180, 180], Lat in [-90, 90].
type Point struct {
	Lon float64 // longitude, degrees east
	Lat float64 // latitude, degrees north
}

// Pt returns the point at longitude lon and latitude lat (GeoJSON order).
func Pt(lon, lat float64) Point { return Point{Lon: lon, Lat: lat} }

// Validate reports why p is not a usable position: a NaN or infinite
// coordinate, a longitude outside [-180, 180] or a latitude outside [-90, 90].
// The error names the bad value and wraps ErrInvalid.
func (p Point) Validate() error {
	if err := checkLon("longitude", p.Lon); err != nil {
		return err
	}
	return checkLat("latitude", p.Lat)
}

// String returns p as "(lon, lat)" in degrees, for logs and test messages.
func (p Point) String() string { return "(" + g(p.Lon) + ", " + g(p.Lat) + ")" }

// g formats f as fmt's %g and %v do. The package does without fmt so that
// the browser client, which links it, leaves fmt and reflect out.
func g(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// invalidError wraps ErrInvalid with the text of what was wrong.
type invalidError string

func (e invalidError) Error() string { return ErrInvalid.Error() + ": " + string(e) }
func (e invalidError) Unwrap() error { return ErrInvalid }

func checkLon(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < -180 || v > 180 {
		return invalidError(name + " " + g(v) + " is outside [-180, 180]")
	}
	return nil
}

func checkLat(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < -90 || v > 90 {
		return invalidError(name + " " + g(v) + " is outside [-90, 90]")
	}
	return nil
}

// A Box is a longitude/latitude rectangle in degrees, edges included, in
// GeoJSON bbox order (west, south, east, north). A box whose West is greater
// than its East crosses the antimeridian: it runs east from West to 180 and
// on from -180 to East. South must not be above North.
type Box struct {
	West, South, East, North float64
}

// BBox returns the box with the given edges, in GeoJSON bbox order.
func BBox(west, south, east, north float64) Box {
	return Box{West: west, South: south, East: east, North: north}
}

// World is the box that holds every point.
var World = Box{West: -180, South: -90, East: 180, North: 90}

// Validate reports why b is not a usable box: a NaN or infinite edge, an edge
// out of range, or a South above its North. The error names the bad value and
// wraps ErrInvalid. West > East is valid: the box crosses the antimeridian.
func (b Box) Validate() error {
	if err := checkLon("west", b.West); err != nil {
		return err
	}
	if err := checkLat("south", b.South); err != nil {
		return err
	}
	if err := checkLon("east", b.East); err != nil {
		return err
	}
	if err := checkLat("north", b.North); err != nil {
		return err
	}
	if b.South > b.North {
		return invalidError("south " + g(b.South) + " is above north " + g(b.North))
	}
	return nil
}

// CrossesAntimeridian reports whether b runs across longitude ±180
// (West > East).
func (b Box) CrossesAntimeridian() bool { return b.West > b.East }

// Split returns b as boxes that do not cross the antimeridian: b itself, or
// its western part [West, 180] and its eastern part [-180, East].
// The second result is meaningful only when n is 2.
func (b Box) Split() (parts [2]Box, n int) {
	if !b.CrossesAntimeridian() {
		return [2]Box{b}, 1
	}
	return [2]Box{
		{West: b.West, South: b.South, East: 180, North: b.North},
		{West: -180, South: b.South, East: b.East, North: b.North},
	}, 2
}

// Contains reports whether p lies inside b, edges included. It is false when
// p or b has a NaN coordinate. Longitudes are compared as given: -180 and 180
// are both inside only a box that crosses the antimeridian or spans the world.
func (b Box) Contains(p Point) bool {
	// Written so that a NaN on either side makes the test fail.
	if !(p.Lat >= b.South && p.Lat <= b.North) {
		return false
	}
	if b.CrossesAntimeridian() {
		return p.Lon >= b.West || p.Lon <= b.East
	}
	return p.Lon >= b.West && p.Lon <= b.East
}

// WrapLon returns lon, in degrees, brought into [-180, 180] by the fewest
// whole turns: 190 is -170, -200 is 160, 540 is 180; a longitude already
// in range (180 and -180 included) is returned as given, and so are NaN
// and infinities.
func WrapLon(lon float64) float64 {
	switch {
	case lon > 180 && !math.IsInf(lon, 0):
		return lon - 360*math.Ceil((lon-180)/360)
	case lon < -180 && !math.IsInf(lon, 0):
		return lon + 360*math.Ceil((-180-lon)/360)
	}
	return lon
}

// String returns b as "[west, south, east, north]" in degrees, GeoJSON bbox
// order.
func (b Box) String() string {
	return "[" + g(b.West) + ", " + g(b.South) + ", " + g(b.East) + ", " + g(b.North) + "]"
}
