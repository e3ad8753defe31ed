package wire

import (
	"math"

	"github.com/pushmap/pushmap/geo"
)

// CoordScale is the number of wire units per degree: marker coordinates
// travel as integers of 1e-7 degrees (about 1.1 cm at the equator), which
// fit in 32 bits and cost 5 bytes each instead of a float64's 9.
const CoordScale = 1e7

// Quantize returns p rounded to the wire's resolution. A marker's position
// after Quantize survives encoding exactly, so the server and every client
// decide "is this marker in that box" on identical numbers.
func Quantize(p geo.Point) geo.Point {
	return geo.Point{Lon: fromE7(ToE7(p.Lon)), Lat: fromE7(ToE7(p.Lat))}
}

// ToE7 returns deg in wire units (1e-7 degrees), rounded to the nearest:
// the integer a marker's coordinate travels as.
func ToE7(deg float64) int64 { return int64(math.Round(deg * CoordScale)) }

func fromE7(e7 int64) float64 { return float64(e7) / CoordScale }
