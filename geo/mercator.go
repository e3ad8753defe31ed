package geo

import "math"

// ClampLat returns lat, in degrees, limited to the Web Mercator range
// [-MaxMercatorLat, MaxMercatorLat]. A NaN stays NaN.
func ClampLat(lat float64) float64 {
	switch {
	case lat > MaxMercatorLat:
		return MaxMercatorLat
	case lat < -MaxMercatorLat:
		return -MaxMercatorLat
	}
	return lat
}

// MercatorY returns the Web Mercator y of latitude lat (degrees) in the
// normalised world square: 0 at the north edge (MaxMercatorLat), 0.5 at the
// equator, 1 at the south edge. lat is clamped with ClampLat first, so the
// result is always in [0, 1]; a NaN gives NaN. A slippy-map tile row at zoom z
// is floor(MercatorY(lat) * 2^z).
func MercatorY(lat float64) float64 {
	lat = ClampLat(lat)
	switch lat {
	case MaxMercatorLat:
		return 0
	case -MaxMercatorLat:
		return 1
	}
	y := 0.5 - math.Atanh(math.Sin(lat*math.Pi/180))/(2*math.Pi)
	return min(max(y, 0), 1) // guard rounding at the ends; NaN stays NaN
}

// LatFromMercatorY is the inverse of MercatorY: it returns the latitude, in
// degrees, of the normalised Web Mercator y (0 north, 1 south). y is clamped
// to [0, 1], so the result is always in [-MaxMercatorLat, MaxMercatorLat],
// exactly ±MaxMercatorLat at the ends and 0 at y = 0.5; a NaN gives NaN.
func LatFromMercatorY(y float64) float64 {
	switch {
	case y <= 0:
		return MaxMercatorLat
	case y >= 1:
		return -MaxMercatorLat
	case math.IsNaN(y):
		return y
	}
	return ClampLat(math.Atan(math.Sinh(math.Pi*(1-2*y))) * 180 / math.Pi)
}
