package wire

import "github.com/pushmap/pushmap/geo"

// A Marker is one point object on the map: a vehicle, a sensor, an incident.
//
// On the wire its position is quantised to 1e-7 degrees (about 1 cm); use
// Quantize so that server and client test containment on the very same
// numbers.
type Marker struct {
	ID      string         // unique among all markers, 1..MaxIDLen bytes
	Layer   string         // the layer it belongs to; clients subscribe to layers
	Pos     geo.Point      // longitude/latitude in degrees
	Version uint64         // increases with each change of this marker
	Time    int64          // when the feed saw it there (the observation), Unix milliseconds; 0 = unknown
	Props   map[string]any // small properties (strings, numbers, booleans); may be nil
}
