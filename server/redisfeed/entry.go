package redisfeed

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/internal/feeditem"
	"github.com/vmihailenco/msgpack/v5"
)

// maxJSONItems caps the items of one entry's json or msgpack field.
const maxJSONItems = 10000

// wholeBatchFields are the fields that hold a whole batch of items alone
// in an entry, with their decoders: msgpack (what cluster nodes write) and
// json.
var wholeBatchFields = []struct {
	name   string
	decode func([]byte, int) ([]server.Update, error)
}{{"msgpack", feeditem.DecodeMsgpack}, {"json", feeditem.DecodeJSON}}

// decodeEntry turns the fields of one stream entry into the updates it
// stands for, or an error saying why the entry is bad.
func decodeEntry(fields map[string]string) ([]server.Update, error) {
	for _, whole := range wholeBatchFields {
		if v, ok := fields[whole.name]; ok {
			if len(fields) > 1 {
				return nil, fmt.Errorf("an entry with a %s field must have no other field, has %s", whole.name, fieldList(fields))
			}
			updates, err := whole.decode([]byte(v), maxJSONItems)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", whole.name, err)
			}
			return updates, nil
		}
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
			return nil, fmt.Errorf("unknown field %.40q (fields are id, layer, lon, lat, version, time, ttl, props, op, or json or msgpack alone)", k)
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

// encodeItems encodes updates as the msgpack field of a stream
// entry: an array of items with the keys of the HTTP ingest's MessagePack
// format (docs/feeds.md), which every node decodes several times faster
// than the same items in JSON.
func encodeItems(updates []server.Update) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(updates) * 96)
	enc := msgpack.NewEncoder(&buf)
	err := enc.EncodeArrayLen(len(updates))
	for i := 0; i < len(updates) && err == nil; i++ {
		err = encodeItem(enc, &updates[i])
	}
	if err != nil {
		return nil, fmt.Errorf("redisfeed: encoding %d updates: %w", len(updates), err)
	}
	return buf.Bytes(), nil
}

func encodeItem(enc *msgpack.Encoder, u *server.Update) error {
	m := &u.Marker
	if u.Remove {
		return first(enc.EncodeMapLen(2), enc.EncodeString("id"), enc.EncodeString(m.ID),
			enc.EncodeString("remove"), enc.EncodeBool(true))
	}
	n := 5
	hasVersion := u.HasVersion || m.Version != 0
	if hasVersion {
		n++
	}
	if u.TTL > 0 {
		n++
	}
	if len(m.Props) > 0 {
		n++
	}
	err := first(enc.EncodeMapLen(n), enc.EncodeString("id"), enc.EncodeString(m.ID),
		enc.EncodeString("layer"), enc.EncodeString(m.Layer),
		enc.EncodeString("lon"), enc.EncodeFloat64(m.Pos.Lon),
		enc.EncodeString("lat"), enc.EncodeFloat64(m.Pos.Lat),
		enc.EncodeString("time"), enc.EncodeInt(m.Time))
	if err == nil && hasVersion {
		err = first(enc.EncodeString("version"), enc.EncodeUint(m.Version))
	}
	if err == nil && u.TTL > 0 {
		err = first(enc.EncodeString("ttl"), enc.EncodeFloat64(u.TTL.Seconds()))
	}
	if err == nil && len(m.Props) > 0 {
		err = first(enc.EncodeString("props"), enc.Encode(m.Props))
	}
	return err
}

// first returns the first non-nil error of errs.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
