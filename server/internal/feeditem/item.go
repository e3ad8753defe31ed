// Package feeditem holds what pushmap's feed front ends share: the item a
// feed sends (one marker upsert or remove), its validation with reasons a
// feed author can act on, and the decoders of the ingest body formats
// (JSON, GeoJSON, MessagePack). server/ingest serves them over HTTP and
// server/redisfeed reads them from a Redis stream.
package feeditem

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// An Item is one update as a feed writes it, before validation.
type Item struct {
	ID     string
	Layer  string
	Lon    float64 // degrees; meaningful when HasLon
	Lat    float64 // degrees; meaningful when HasLat
	HasLon bool
	HasLat bool
	// Version, when HasVersion, orders the updates of one marker: one not
	// above the stored version is ignored. Without one, an update takes the
	// stored version + 1.
	Version    uint64
	HasVersion bool
	Time       int64          // Unix milliseconds, 0 for unknown
	TTL        float64        // seconds; 0 means the marker never expires
	Props      map[string]any // nil when none
	Remove     bool           // remove the marker ID; only ID matters
}

// maxTTLSeconds keeps a TTL within time.Duration.
const maxTTLSeconds = float64(math.MaxInt64/int64(time.Second)) - 1

// Update checks it and returns the server update it stands for, or an error
// whose text says what is wrong, naming the field and the value.
func (it *Item) Update() (server.Update, error) {
	var u server.Update
	err := it.updateInto(&u)
	return u, err
}

// updateInto is Update writing into *u, which must be zero: the decoders
// fill their batch's slice in place rather than copy each update into it.
// On an error *u stays zero but for a remove, which Update returns with
// its error.
func (it *Item) updateInto(u *server.Update) error {
	if it.ID == "" {
		return fmt.Errorf("missing id")
	}
	if it.Remove {
		u.Marker.ID, u.Remove = it.ID, true
		if len(it.ID) > wire.MaxIDLen {
			return fmt.Errorf("id is %d bytes, at most %d allowed", len(it.ID), wire.MaxIDLen)
		}
		if !utf8.ValidString(it.ID) {
			return fmt.Errorf("id %q is not valid UTF-8", it.ID)
		}
		return nil
	}
	switch {
	case !it.HasLon && !it.HasLat:
		return fmt.Errorf("missing lon and lat")
	case !it.HasLon:
		return fmt.Errorf("missing lon")
	case !it.HasLat:
		return fmt.Errorf("missing lat")
	}
	if err := checkCoord("lon", it.Lon, 180); err != nil {
		return err
	}
	if err := checkCoord("lat", it.Lat, 90); err != nil {
		return err
	}
	if math.IsNaN(it.TTL) || math.IsInf(it.TTL, 0) || it.TTL < 0 {
		return fmt.Errorf("ttl %v is not a number of seconds ≥ 0", it.TTL)
	}
	if it.TTL > maxTTLSeconds {
		return fmt.Errorf("ttl %v is too large, at most %.0f seconds", it.TTL, maxTTLSeconds)
	}
	if err := CheckProps(it.Props); err != nil {
		return err
	}
	m := &u.Marker
	*m = wire.Marker{
		ID: it.ID, Layer: it.Layer, Pos: geo.Pt(it.Lon, it.Lat),
		Version: it.Version, Time: it.Time, Props: it.Props,
	}
	if err := m.Validate(); err != nil {
		*m = wire.Marker{}
		if we, ok := err.(wire.Error); ok {
			return errors.New(strings.TrimPrefix(we.Message, fmt.Sprintf("marker %q: ", it.ID)))
		}
		return err
	}
	u.HasVersion, u.TTL = it.HasVersion, time.Duration(it.TTL*float64(time.Second))
	return nil
}

func checkCoord(name string, v, limit float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s %v is not a number", name, v)
	}
	if v < -limit || v > limit {
		return fmt.Errorf("%s %v is outside [%v, %v]", name, v, -limit, limit)
	}
	return nil
}

// CheckProps reports why props cannot go on the wire (docs/protocol.md):
// more than wire.MaxPropsSize entries, a name that is empty or longer than
// wire.MaxLayerLen bytes, or a value that is not a string, a number, a
// boolean or null.
func CheckProps(props map[string]any) error {
	if len(props) == 0 {
		return nil
	}
	if len(props) > wire.MaxPropsSize {
		return fmt.Errorf("props has %d entries, at most %d allowed", len(props), wire.MaxPropsSize)
	}
	for k, v := range props {
		if k == "" || len(k) > wire.MaxLayerLen {
			return fmt.Errorf("props name %.20q is %d bytes, want 1 to %d", k, len(k), wire.MaxLayerLen)
		}
		switch v := v.(type) {
		case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		case float32:
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("props.%s is %v, want a finite number", k, v)
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("props.%s is %v, want a finite number", k, v)
			}
		default:
			return fmt.Errorf("props.%s is a %s; values must be strings, numbers, booleans or null", k, kindOf(v))
		}
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "nested object"
	case []any:
		return "list"
	case []byte:
		return "binary value"
	}
	return fmt.Sprintf("%T", v)
}
