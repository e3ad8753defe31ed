package feeditem

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

type decoder func([]byte, int) ([]server.Update, error)

// wantKind checks that err is an *Error of kind k whose text holds text.
func wantKind(t *testing.T, name string, err error, k Kind, text string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != k || !strings.Contains(e.Error(), text) {
		t.Errorf("%s: %v, want kind %d with %q", name, err, k, text)
	}
}

// TestDepthLimit: every format takes wire.MaxDepth levels of nesting in a
// body and refuses one more as malformed, naming the limit; 8 million
// levels (which overflowed the stack of msgpack's Skip and killed the
// process) are refused the same way.
func TestDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decode decoder
		body   func(n int) []byte
		around int // levels around the nested prop value
	}{
		{"json", DecodeJSON, jsonDeepProp, 3},
		{"geojson", DecodeGeoJSON, geoJSONDeepProp, 4},
		{"msgpack arrays", DecodeMsgpack, func(n int) []byte { return msgpackDeepProp(n, 0x91) }, 3},
		{"msgpack maps", DecodeMsgpack, func(n int) []byte { return msgpackDeepProp(n, 0x81, 0xa1, 'k') }, 3},
		{"msgpack single item", DecodeMsgpack, func(n int) []byte { return msgpackDeepProp(n, 0x91)[1:] }, 2},
		{"msgpack unknown key", DecodeMsgpack, func(n int) []byte {
			return append(append([]byte{0x91, 0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, n)...), 0xc0)
		}, 2},
		{"msgpack item not a map", DecodeMsgpack, func(n int) []byte {
			return append(append([]byte{0x91}, bytes.Repeat([]byte{0x91}, n)...), 0xc0)
		}, 1},
	} {
		// At the limit: the nested value is refused as a prop (not a
		// scalar), but the body is well formed.
		_, err := tc.decode(tc.body(wire.MaxDepth-tc.around), 0)
		var e *Error
		if !errors.As(err, &e) || e.Kind == Malformed {
			t.Errorf("%s at %d levels: %v, want a well-formed body", tc.name, wire.MaxDepth, err)
		}
		for _, n := range []int{wire.MaxDepth - tc.around + 1, 8 << 20} {
			_, err := tc.decode(tc.body(n), 0)
			wantKind(t, tc.name, err, Malformed, "nested deeper than 32 levels")
		}
	}
	deepJSON := []byte(`[{"id": "d", "lon": 1, "lat": 1, "props": {"x": ` + strings.Repeat("[", 8<<20))
	_, err := DecodeJSON(deepJSON, 0)
	wantKind(t, "json, 8M open arrays", err, Malformed, "arrays and objects nested deeper than 32 levels")
	_, err = DecodeJSONIDs([]byte(strings.Repeat("[", 40)), 0)
	wantKind(t, "json ids", err, Malformed, "nested deeper than 32 levels")
}

// TestVersionPresence: "version": 0 is a version, an absent one is not,
// in every format; the largest uint64 version is kept exact.
func TestVersionPresence(t *testing.T) {
	mp := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	feature := func(props string) []byte {
		return []byte(`{"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": ` + props + `}`)
	}
	for _, tc := range []struct {
		name    string
		decode  decoder
		body    []byte
		has     bool
		version uint64
	}{
		{"json 0", DecodeJSON, []byte(`{"id": "a", "lon": 1, "lat": 2, "version": 0}`), true, 0},
		{"json absent", DecodeJSON, []byte(`{"id": "a", "lon": 1, "lat": 2}`), false, 0},
		{"json null", DecodeJSON, []byte(`{"id": "a", "lon": 1, "lat": 2, "version": null}`), false, 0},
		{"json max", DecodeJSON, []byte(`{"id": "a", "lon": 1, "lat": 2, "version": 18446744073709551615}`), true, math.MaxUint64},
		{"geojson 0", DecodeGeoJSON, feature(`{"version": 0}`), true, 0},
		{"geojson absent", DecodeGeoJSON, feature(`{"line": 3}`), false, 0},
		{"geojson max", DecodeGeoJSON, feature(`{"version": 18446744073709551615}`), true, math.MaxUint64},
		{"geojson 3.0", DecodeGeoJSON, feature(`{"version": 3.0}`), true, 3},
		{"msgpack 0", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2, "version": 0}), true, 0},
		{"msgpack int64 0", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2, "version": int64(0)}), true, 0},
		{"msgpack absent", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2}), false, 0},
		{"msgpack max", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2, "version": uint64(math.MaxUint64)}), true, math.MaxUint64},
	} {
		us, err := tc.decode(tc.body, 0)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if u := us[0]; u.HasVersion != tc.has || u.Marker.Version != tc.version {
			t.Errorf("%s: version %d, has %v; want %d, %v", tc.name, u.Marker.Version, u.HasVersion, tc.version, tc.has)
		}
	}
	_, err := DecodeGeoJSON(feature(`{"version": "5"}`), 0)
	wantKind(t, "geojson string version", err, Invalid, "properties.version must be an integer ≥ 0")
	_, err = DecodeGeoJSON(feature(`{"version": -1}`), 0)
	wantKind(t, "geojson negative version", err, Invalid, "properties.version must be an integer ≥ 0")
}

// TestExactIntegers: integer props that fit int64 (or uint64) come out of
// every format exactly, as int64 (uint64 only beyond int64); JSON used to
// round 1764102345123456789 to a float64.
func TestExactIntegers(t *testing.T) {
	want := map[string]any{"t": int64(1764102345123456789), "n": int64(-9223372036854775808),
		"u": uint64(math.MaxUint64), "small": int64(7), "f": 1.5}
	const props = `{"t": 1764102345123456789, "n": -9223372036854775808, "u": 18446744073709551615, "small": 7, "f": 1.5}`
	mp, err := msgpack.Marshal(map[string]any{"id": "a", "lon": 1, "lat": 2, "props": map[string]any{
		"t": int64(1764102345123456789), "n": int64(math.MinInt64), "u": uint64(math.MaxUint64), "small": uint8(7), "f": float32(1.5)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		decode decoder
		body   []byte
	}{
		{"json", DecodeJSON, []byte(`{"id": "a", "lon": 1, "lat": 2, "props": ` + props + `}`)},
		{"geojson", DecodeGeoJSON, []byte(`{"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": ` + props + `}`)},
		{"msgpack", DecodeMsgpack, mp},
	} {
		us, err := tc.decode(tc.body, 0)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := us[0].Marker.Props; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: props %#v\nwant %#v", tc.name, got, want)
		}
	}
	props2, err := DecodeProps([]byte(props))
	if err != nil || !reflect.DeepEqual(props2, want) {
		t.Errorf("DecodeProps: %#v, %v", props2, err)
	}
	_, err = DecodeJSON([]byte(`{"id": "a", "lon": 1, "lat": 2, "props": {"x": 1e400}}`), 0)
	wantKind(t, "json 1e400", err, Invalid, "props.x is +Inf, want a finite number")
}

// TestInvalidUTF8: ids, layers and props that are not UTF-8 are refused
// by every format, not turned into U+FFFD; a \u escape of half a
// surrogate pair too, while a whole pair passes.
func TestInvalidUTF8(t *testing.T) {
	mp := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		decode decoder
		body   []byte
		kind   Kind
		text   string
	}{
		{"json id", DecodeJSON, []byte("{\"id\": \"a\xff\", \"lon\": 1, \"lat\": 2}"), Malformed, "at byte 9: invalid UTF-8"},
		{"json lone high surrogate", DecodeJSON, []byte(`{"id": "a\ud800", "lon": 1, "lat": 2}`), Malformed, `byte 9: \ud800 is half of a UTF-16 surrogate pair`},
		{"json lone low surrogate", DecodeJSON, []byte(`{"id": "\udc00x", "lon": 1, "lat": 2}`), Malformed, "surrogate"},
		{"json high then other escape", DecodeJSON, []byte(`{"id": "\ud800\u0041", "lon": 1, "lat": 2}`), Malformed, "surrogate"},
		{"json ids", DecodeJSONIDs, []byte("[\"a\xff\"]"), Malformed, "invalid UTF-8"},
		{"geojson props", DecodeGeoJSON, []byte("{\"type\": \"Feature\", \"id\": \"a\", \"geometry\": {\"type\": \"Point\", \"coordinates\": [1, 2]}, \"properties\": {\"k\xff\": 1}}"), Malformed, "invalid UTF-8"},
		{"msgpack id", DecodeMsgpack, mp(map[string]any{"id": "a\xff", "lon": 1, "lat": 2}), Invalid, "not valid UTF-8"},
		{"msgpack layer", DecodeMsgpack, mp(map[string]any{"id": "a", "layer": "\xc3", "lon": 1, "lat": 2}), Invalid, "not valid UTF-8"},
		{"msgpack prop name", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2, "props": map[string]any{"\xfe": 1}}), Invalid, "not valid UTF-8"},
		{"msgpack prop value", DecodeMsgpack, mp(map[string]any{"id": "a", "lon": 1, "lat": 2, "props": map[string]any{"k": "\xfe"}}), Invalid, "not valid UTF-8"},
		{"msgpack remove", DecodeMsgpack, mp(map[string]any{"id": "a\xff", "remove": true}), Invalid, "not valid UTF-8"},
	} {
		_, err := tc.decode(tc.body, 0)
		wantKind(t, tc.name, err, tc.kind, tc.text)
	}
	us, err := DecodeJSON([]byte(`{"id": "\ud83d\ude00 \"\\", "lon": 1, "lat": 2}`), 0)
	if err != nil || us[0].Marker.ID != "😀 \"\\" {
		t.Fatalf("a whole surrogate pair: %v, %v", us, err)
	}
}

// TestPropSizeLimits: a prop value over wire.MaxPropLen bytes, or props
// over wire.MaxPropsBytes, make the item invalid with the sizes named.
func TestPropSizeLimits(t *testing.T) {
	big := strings.Repeat("a", 5<<20)
	_, err := DecodeJSON([]byte(`[{"id": "ok", "lon": 1, "lat": 2}, {"id": "big", "lon": 1, "lat": 2, "props": {"x": "`+big+`"}}]`), 0)
	wantKind(t, "json 5 MB prop", err, Invalid, `item 1 ("big"): prop "x" is 5242880 bytes, at most 4096 allowed`)
	many := map[string]any{}
	for i := range 3 {
		many[string(rune('a'+i))] = strings.Repeat("v", 4000)
	}
	b, _ := msgpack.Marshal(map[string]any{"id": "many", "lon": 1, "lat": 2, "props": many})
	_, err = DecodeMsgpack(b, 0)
	wantKind(t, "msgpack props", err, Invalid, "props are 12016 bytes as MessagePack, at most 8192 allowed")
}

// TestCheckJSONCutEscapes: escapes cut short at the end of a string or of
// the body do not make CheckJSON read past the body (found by
// FuzzDecodeJSON: `0"\u"0` panicked); the decoder reports the syntax.
func TestCheckJSONCutEscapes(t *testing.T) {
	for _, doc := range []string{`0"\u"0`, `"\u`, `"\u12`, `"\ud800`, `"\ud800\u`, `"\ud800\udc0`, `"\`, `"\\`, `["\u00zz"]`} {
		_ = CheckJSON([]byte(doc))
		_, err := DecodeJSON([]byte(doc), 0)
		wantKind(t, doc, err, Malformed, "")
	}
}
