package redisfeed

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/internal/feeditem"
)

// maxJSONItems caps the items of one entry's json field.
const maxJSONItems = 10000

// decodeEntry turns the fields of one stream entry into the updates it
// stands for, or an error saying why the entry is bad.
func decodeEntry(fields map[string]string) ([]server.Update, error) {
	if js, ok := fields["json"]; ok {
		if len(fields) > 1 {
			return nil, fmt.Errorf("an entry with a json field must have no other field, has %s", fieldList(fields))
		}
		updates, err := feeditem.DecodeJSON([]byte(js), maxJSONItems)
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		return updates, nil
	}
	var it feeditem.Item
	for k, v := range fields {
		var err error
		switch k {
		case "id":
			it.ID = v
		case "layer":
			it.Layer = v
		case "lon":
			it.Lon, err = parseFloat(v)
			it.HasLon = true
		case "lat":
			it.Lat, err = parseFloat(v)
			it.HasLat = true
		case "version":
			it.Version, err = strconv.ParseUint(v, 10, 64)
			it.HasVersion = true
		case "time":
			it.Time, err = strconv.ParseInt(v, 10, 64)
		case "ttl":
			it.TTL, err = parseFloat(v)
		case "props":
			// Checked for depth and UTF-8, numbers kept exact, as in the
			// json field and the HTTP feed.
			if it.Props, err = feeditem.DecodeProps([]byte(v)); err != nil {
				err = fmt.Errorf("want a JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
			}
		case "op":
			switch v {
			case "upsert", "":
			case "remove":
				it.Remove = true
			default:
				err = errors.New(`want "upsert" or "remove"`)
			}
		default:
			return nil, fmt.Errorf("unknown field %.40q (fields are id, layer, lon, lat, version, time, ttl, props, op, or json alone)", k)
		}
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) {
				err = fmt.Errorf("want %s", numberWant(k))
			}
			return nil, fmt.Errorf("%s %.40q: %v", k, v, err)
		}
	}
	if len(it.Props) == 0 {
		it.Props = nil
	}
	u, err := it.Update()
	if err != nil {
		return nil, err
	}
	return []server.Update{u}, nil
}

// parseFloat parses a decimal number; NaN and infinities parse, to be
// refused by validation with a clear reason.
func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

func numberWant(field string) string {
	switch field {
	case "version":
		return "an integer ≥ 0"
	case "time":
		return "an integer (Unix milliseconds)"
	case "ttl":
		return "a number of seconds"
	}
	return "a number of degrees"
}

func fieldList(fields map[string]string) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, strconv.Quote(k))
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], "…")
	}
	return strings.Join(names, ", ")
}
