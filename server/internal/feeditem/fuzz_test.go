package feeditem

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// checkDecoded is what every decoder promises, whatever its input: either
// an *Error of a known kind with at most MaxItemErrors items, or updates
// that the server accepts.
func checkDecoded(t *testing.T, updates []server.Update, err error, maxItems int) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is a %T, not an *Error", err, err)
		}
		switch e.Kind {
		case Malformed, TooMany:
		case Invalid:
			if len(e.Items) == 0 || len(e.Items) > MaxItemErrors || e.Bad < len(e.Items) {
				t.Fatalf("invalid with %d items listed of %d bad", len(e.Items), e.Bad)
			}
			for _, it := range e.Items {
				if it.Reason == "" || len(it.ID) > 64+len("…") {
					t.Fatalf("item error %+v", it)
				}
			}
		default:
			t.Fatalf("error kind %d", e.Kind)
		}
		if e.Detail == "" || updates != nil {
			t.Fatalf("error %v with updates %v", e, updates)
		}
		return
	}
	if maxItems > 0 && len(updates) > maxItems {
		t.Fatalf("%d updates, at most %d allowed", len(updates), maxItems)
	}
	for i, u := range updates {
		if u.TTL < 0 || u.Marker.ID == "" {
			t.Fatalf("update %d: %+v", i, u)
		}
		if !u.Remove {
			if err := u.Marker.Validate(); err != nil {
				t.Fatalf("update %d passed decoding but not validation: %v", i, err)
			}
			if err := CheckProps(u.Marker.Props); err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
		}
	}
	// The server takes every batch a decoder passes.
	srv, _ := server.New(nil)
	defer srv.Close()
	if err := srv.Apply(updates); err != nil {
		t.Fatalf("the server refused a decoded batch: %v", err)
	}
}

var jsonSeeds = []string{
	`{"id": "bus-1", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566, "time": 1700000000000, "props": {"line": "42", "full": true}}`,
	`[{"id": "bus-1", "lon": 2.3, "lat": 48.8, "version": 3, "ttl": 0.5}, {"id": 7, "lon": 4.8, "lat": 45.7}, {"id": "x", "remove": true}]`,
	`[{"id": "b" "lon": 1}]`,
	`[{"lon": 1, "lat": 2}, {"id": "", "lon": 1, "lat": 2}, {"id": "far", "lon": 181, "lat": -91}]`,
	`[{"id": "t", "lon": 1, "lat": 1, "ttl": -5}, {"id": "v", "lon": 1, "lat": 1, "version": -1}, {"id": "h", "lon": 1e400, "lat": 0}]`,
	`[{"id": "typo", "lng": 1}, {"id": "p", "lon": 1, "lat": 1, "props": {"a": {"b": 1}}}, 5, null, "s", []]`,
	`{"id": "a", "lon": 1, "lat": 1} x`, `[`, `]`, ``, `   `, `"bus"`, `{"id": {"x": 1}}`,
}

func FuzzDecodeJSON(f *testing.F) {
	// Nesting just within wire.MaxDepth, just past it, far past it; invalid
	// UTF-8 and a lone surrogate.
	for _, n := range []int{wire.MaxDepth - 3, wire.MaxDepth - 2, 1000} {
		f.Add(jsonDeepProp(n), 0)
	}
	f.Add([]byte(strings.Repeat("[", wire.MaxDepth)+strings.Repeat("]", wire.MaxDepth)), 0)
	f.Add([]byte(strings.Repeat("[", wire.MaxDepth+1)+strings.Repeat("]", wire.MaxDepth+1)), 0)
	f.Add([]byte("[{\"id\": \"a\xff\", \"lon\": 1, \"lat\": 1}, {\"id\": \"\\ud800\", \"lon\": 1, \"lat\": 1}]"), 0)
	f.Add([]byte(`{"id": "n", "lon": 1, "lat": 1, "version": 0, "props": {"t": 1764102345123456789, "u": 18446744073709551615, "f": 1e400}}`), 0)
	for _, s := range jsonSeeds {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxItems int) {
		maxItems = max(maxItems%64, 0)
		updates, err := DecodeJSON(body, maxItems)
		checkDecoded(t, updates, err, maxItems)
		ids, err := DecodeJSONIDs(body, maxItems)
		checkDecoded(t, ids, err, maxItems)
	})
}

var geoJSONSeeds = []string{
	`{"type": "Feature", "id": "bus-1", "geometry": {"type": "Point", "coordinates": [2.3522, 48.8566]}, "properties": {"layer": "vehicles", "time": 1700000000000, "line": "42"}}`,
	`{"type": "FeatureCollection", "features": [
		{"type": "Feature", "id": "ok", "geometry": {"type": "Point", "coordinates": [2.35, 48.85, 30]}, "properties": null},
		{"type": "Feature", "id": "line-1", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "properties": {}},
		{"type": "Feature", "id": 3, "geometry": null},
		{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}},
		{"type": "Point", "id": "p", "coordinates": [1, 1]},
		{"type": "Feature", "id": "short", "geometry": {"type": "Point", "coordinates": [1]}},
		{"type": "Feature", "id": "v", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {"version": 1.5, "ttl": "x", "layer": 3, "time": -1}},
		5, "x", null]}`,
	`{"type": "FeatureCollection", "features": [}`,
	`{"type": "FeatureCollection", "features": {}}`,
	`{"type": 5}`, `{"type": "Point", "coordinates": [1, 1]}`, `[]`, ``,
}

func FuzzDecodeGeoJSON(f *testing.F) {
	for _, n := range []int{wire.MaxDepth - 4, wire.MaxDepth - 3, 1000} {
		f.Add(geoJSONDeepProp(n), 0)
	}
	f.Add([]byte(`{"type": "Feature", "id": "\udc00", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {"version": 18446744073709551615, "t": -9223372036854775808}}`), 0)
	for _, s := range geoJSONSeeds {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxItems int) {
		maxItems = max(maxItems%64, 0)
		updates, err := DecodeGeoJSON(body, maxItems)
		checkDecoded(t, updates, err, maxItems)
	})
}

func FuzzDecodeMsgpack(f *testing.F) {
	seeds := []any{
		map[string]any{"id": "bus-1", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566, "time": 1700000000000, "props": map[string]any{"line": "42", "full": true}},
		[]any{
			map[string]any{"id": "bus-1", "lon": float32(2.3), "lat": 48.8, "version": uint64(3), "ttl": 30},
			map[string]any{"id": 7, "lon": 4, "lat": -45},
			map[string]any{"id": "gone", "remove": true},
		},
		[]any{
			map[string]any{"id": "nan", "lon": 1, "lat": math.NaN()},
			map[string]any{"id": "inf", "lon": math.Inf(-1), "lat": 1, "ttl": math.NaN()},
			map[string]any{"id": true, "lon": "1", "lat": 1, "speed": 3, "version": -2, "time": "now"},
			map[string]any{"id": "p", "lon": 1, "lat": 1, "props": map[string]any{"a": []int{1}, "b": map[string]int{"c": 1}}},
			map[int]any{1: 2}, "x", nil,
		},
		"x", 5, nil,
	}
	for _, s := range seeds {
		b, err := msgpack.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 0)
		f.Add(b[:len(b)/2], 0)
		f.Add(b, 2)
	}
	for _, n := range []int{wire.MaxDepth - 3, wire.MaxDepth - 2, 1000} {
		f.Add(msgpackDeepProp(n, 0x91), 0)
		f.Add(msgpackDeepProp(n, 0x81, 0xa1, 'k'), 0)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxItems int) {
		maxItems = max(maxItems%64, 0)
		start := time.Now()
		updates, err := DecodeMsgpack(body, maxItems)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("decoding %d bytes took %v", len(body), d)
		}
		checkDecoded(t, updates, err, maxItems)
	})
}

// jsonDeepProp returns a JSON batch of one item whose prop "x" is n nested
// arrays: n+3 levels in all (the batch, the item, its props).
func jsonDeepProp(n int) []byte {
	return []byte(`[{"id": "d", "lon": 1, "lat": 1, "props": {"x": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}]`)
}

// geoJSONDeepProp returns a FeatureCollection of one feature whose property
// "x" is n nested arrays: n+4 levels in all.
func geoJSONDeepProp(n int) []byte {
	return []byte(`{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "d", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {"x": ` +
		strings.Repeat("[", n) + strings.Repeat("]", n) + `}}]}`)
}

// msgpackDeepProp returns a MessagePack batch of one item whose prop "x"
// is n levels of level (0x91 for arrays, 0x81 'k' for maps) around nil:
// n+3 levels in all.
func msgpackDeepProp(n int, level ...byte) []byte {
	b := []byte{0x91, 0x84, 0xa2, 'i', 'd', 0xa1, 'd', 0xa3, 'l', 'o', 'n', 0x01, 0xa3, 'l', 'a', 't', 0x01,
		0xa5, 'p', 'r', 'o', 'p', 's', 0x81, 0xa1, 'x'}
	for range n {
		b = append(b, level...)
	}
	return append(b, 0xc0)
}
