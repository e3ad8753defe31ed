package feeditem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/pushmap/pushmap/server"
)

// geoTop is the top of a GeoJSON body: a Feature or a FeatureCollection.
type geoTop struct {
	Type     string            `json:"type"`
	Features []json.RawMessage `json:"features"`
}

// geoFeature is a GeoJSON Feature (RFC 7946 §3.2). Foreign members are
// ignored, as GeoJSON allows.
type geoFeature struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

// DecodeGeoJSON decodes a GeoJSON body: a Feature or a FeatureCollection of
// Point Features. A Feature's id (a string or a number) is the marker id
// and its properties become the marker's props, except the reserved members
// "layer", "version", "time" and "ttl", which set those fields as in the
// JSON format. Errors are those of DecodeJSON.
func DecodeGeoJSON(body []byte, maxItems int) ([]server.Update, error) {
	if firstByte(body) != '{' {
		return nil, malformed(0, "the body must be a GeoJSON Feature or FeatureCollection object")
	}
	if err := CheckJSON(body); err != nil {
		return nil, err
	}
	var top geoTop
	if err := json.Unmarshal(body, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, syntaxError(se)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, malformed(te.Offset, "GeoJSON member %q must be %s, got %s", te.Field, geoWant(te.Field), te.Value)
		}
		return nil, malformed(-1, "malformed GeoJSON: %v", err)
	}
	var c collector
	switch top.Type {
	case "Feature":
		c.updates = make([]server.Update, 0, 1)
		var f geoFeature
		if err := decodeNumbers(body, &f); err != nil {
			c.fail(0, "", geoReason(err))
		} else {
			decodeFeature(&f, 0, &c)
		}
	case "FeatureCollection":
		if maxItems > 0 && len(top.Features) > maxItems {
			return nil, tooMany(maxItems)
		}
		c.updates = make([]server.Update, 0, len(top.Features))
		for i, raw := range top.Features {
			var f geoFeature
			if err := decodeNumbers(raw, &f); err != nil {
				id := ""
				if len(f.ID) > 0 {
					id, _ = jsonID(f.ID)
				}
				c.fail(i, id, geoReason(err))
				continue
			}
			decodeFeature(&f, i, &c)
		}
	default:
		return nil, malformed(-1, "GeoJSON type is %q; send a Feature or a FeatureCollection of Point features", top.Type)
	}
	return c.result()
}

// decodeNumbers decodes the JSON value doc into v with numbers in interface
// values as json.Number, for exactNumber.
func decodeNumbers(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return dec.Decode(v)
}

func geoWant(field string) string {
	switch field {
	case "type":
		return "a string"
	case "features":
		return "an array of Features"
	}
	return "something else"
}

func geoReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch te.Field {
		case "":
			return fmt.Sprintf("the feature must be a JSON object, got a %s", te.Value)
		case "type":
			return fmt.Sprintf("type must be \"Feature\", got %s", te.Value)
		case "geometry":
			return fmt.Sprintf("geometry must be a Point object, got %s", te.Value)
		case "geometry.type":
			return fmt.Sprintf("geometry type must be a string, got %s", te.Value)
		case "properties":
			return fmt.Sprintf("properties must be an object or null, got %s", te.Value)
		}
		return fmt.Sprintf("%s: cannot use a %s", te.Field, te.Value)
	}
	return err.Error()
}

// decodeFeature checks one feature and adds it to c.
func decodeFeature(f *geoFeature, i int, c *collector) {
	id, err := jsonID(f.ID)
	if err != nil {
		c.fail(i, "", err.Error())
		return
	}
	if f.Type != "Feature" {
		c.fail(i, id, fmt.Sprintf("type is %q, want \"Feature\"", f.Type))
		return
	}
	if id == "" {
		c.fail(i, "", "missing id: give each Feature an \"id\" member (a string or a number)")
		return
	}
	g := f.Geometry
	if g == nil {
		c.fail(i, id, "geometry is null, want a Point")
		return
	}
	if g.Type != "Point" {
		c.fail(i, id, fmt.Sprintf("geometry type is %q, want \"Point\"", g.Type))
		return
	}
	var coords []float64
	if err := json.Unmarshal(g.Coordinates, &coords); err != nil || len(coords) < 2 || len(coords) > 3 {
		c.fail(i, id, fmt.Sprintf("coordinates must be [lon, lat] or [lon, lat, altitude], got %.40s", g.Coordinates))
		return
	}
	it := Item{ID: id, Lon: coords[0], Lat: coords[1], HasLon: true, HasLat: true}
	if reason := reserved(f.Properties, &it); reason != "" {
		c.fail(i, id, reason)
		return
	}
	c.add(i, &it)
}

// reserved moves the reserved members out of props into it, and the rest
// into it.Props. It returns a reason when one has the wrong type.
func reserved(props map[string]any, it *Item) string {
	var bad string
	n := 0
	for k, v := range props {
		switch k {
		case "layer":
			s, ok := v.(string)
			if !ok && v != nil {
				bad = "properties.layer must be a string"
			}
			it.Layer = s
		case "version":
			var x any
			if n, ok := v.(json.Number); ok {
				x = exactNumber(n)
			}
			switch x := x.(type) {
			case int64:
				if x >= 0 {
					it.Version, it.HasVersion = uint64(x), true
					continue
				}
			case uint64:
				it.Version, it.HasVersion = x, true
				continue
			case float64: // 3.0 or 3e2, as this decoder took before
				if x >= 0 && x == math.Trunc(x) && x <= 1<<53 {
					it.Version, it.HasVersion = uint64(x), true
					continue
				}
			}
			bad = fmt.Sprintf("properties.version must be an integer ≥ 0, got %v", v)
		case "time":
			var x any
			if n, ok := v.(json.Number); ok {
				x = exactNumber(n)
			}
			switch x := x.(type) {
			case int64:
				it.Time = x
				continue
			case float64:
				if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
					it.Time = int64(x)
					continue
				}
			}
			bad = fmt.Sprintf("properties.time must be an integer (Unix milliseconds), got %v", v)
		case "ttl":
			n, ok := v.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil {
				bad = fmt.Sprintf("properties.ttl must be a number of seconds, got %v", v)
			}
			it.TTL = f
		default:
			n++
		}
	}
	if bad != "" {
		return bad
	}
	if n == 0 {
		return ""
	}
	if n == len(props) {
		it.Props = props
	} else {
		it.Props = make(map[string]any, n)
		for k, v := range props {
			switch k {
			case "layer", "version", "time", "ttl":
			default:
				it.Props[k] = v
			}
		}
	}
	exactNumbers(it.Props)
	return ""
}
