package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

func mustMsgpack(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormats: every format applies, and a client over Paris receives
// exactly the markers in its view.
func TestFormats(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        func(t testing.TB) []byte
	}{
		{"json object", "application/json", func(testing.TB) []byte {
			return []byte(`{"id": "bus-1", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566, "time": 1700000000000, "props": {"line": "42", "full": true}}`)
		}},
		{"json array", "application/json; charset=utf-8", func(testing.TB) []byte {
			return []byte(`[{"id": "bus-1", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566, "time": 1700000000000, "props": {"line": "42", "full": true}},
				{"id": 7, "lon": 4.8357, "lat": 45.764, "ttl": 3600}]`)
		}},
		{"geojson feature", "application/geo+json", func(testing.TB) []byte {
			return []byte(`{"type": "Feature", "id": "bus-1", "geometry": {"type": "Point", "coordinates": [2.3522, 48.8566]},
				"properties": {"layer": "vehicles", "time": 1700000000000, "line": "42", "full": true}}`)
		}},
		{"geojson collection", "application/geo+json", func(testing.TB) []byte {
			return []byte(`{"type": "FeatureCollection", "features": [
				{"type": "Feature", "id": "bus-1", "geometry": {"type": "Point", "coordinates": [2.3522, 48.8566, 35]},
				 "properties": {"layer": "vehicles", "time": 1700000000000, "line": "42", "full": true}},
				{"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [4.8357, 45.764]}, "properties": {"ttl": 3600}}]}`)
		}},
		{"msgpack map", "application/msgpack", func(t testing.TB) []byte {
			return mustMsgpack(t, map[string]any{"id": "bus-1", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566, "time": 1700000000000, "props": map[string]any{"line": "42", "full": true}})
		}},
		{"msgpack array", "application/x-msgpack", func(t testing.TB) []byte {
			return mustMsgpack(t, []any{
				map[string]any{"id": "bus-1", "layer": "vehicles", "lon": float32(2.3522), "lat": 48.8566, "time": uint64(1700000000000), "props": map[string]any{"line": "42", "full": true}},
				map[string]any{"id": 7, "lon": 4.8357, "lat": 45.764, "ttl": 3600},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, nil)
			c := watch(t, f, paris, 12)
			f.post(t, tt.contentType, tt.body(t))
			got := c.sees(t, "bus-1")["bus-1"]
			want := wire.Marker{ID: "bus-1", Layer: "vehicles", Pos: wire.Quantize(inView), Version: 1, Time: 1700000000000,
				Props: map[string]any{"line": "42", "full": true}}
			if tt.name == "msgpack array" { // sent as a float32
				want.Pos.Lon = wire.Quantize(geo.Pt(float64(float32(2.3522)), 0)).Lon
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("client got %+v\nwant %+v", got, want)
			}
			if all := f.snapshot(); strings.Contains(tt.name, "array") || strings.Contains(tt.name, "collection") {
				if len(all) != 2 || all["7"].Pos != wire.Quantize(lyon) {
					t.Fatalf("server holds %v", all)
				}
			}
		})
	}
}

// badCase is a request that must be refused whole.
type badCase struct {
	name        string
	method      string // default POST
	path        string // default /markers
	contentType string
	key         string // default feedKey; "-" for none
	auth        string // a raw Authorization header, overriding key
	body        []byte
	status      int
	problem     string   // problem type name
	errors      []string // "index id: reason substring", in order
	detail      string   // substring of the detail
	offset      int64    // the offset of a malformed-body problem, when not 0
}

// TestBadInput: every kind of bad input gets the right status and a problem
// naming each bad item, and nothing of the batch is applied.
func TestBadInput(t *testing.T) {
	good := `{"id": "good", "lon": 2.35, "lat": 48.85}`
	nan := mustMsgpack(t, []any{
		map[string]any{"id": "good", "lon": 2.35, "lat": 48.85},
		map[string]any{"id": "nan-lat", "lon": 2.35, "lat": math.NaN()},
		map[string]any{"id": "inf-lon", "lon": math.Inf(1), "lat": 1},
		map[string]any{"id": "nan-ttl", "lon": 1, "lat": 1, "ttl": math.NaN()},
		map[string]any{"id": "nested", "lon": 1, "lat": 1, "props": map[string]any{"a": []int{1}}},
	})
	cases := []badCase{
		{name: "malformed json", contentType: "application/json",
			body: []byte(`[` + good + `, {"id": "b" "lon": 1}]`), status: 400, problem: "malformed-body", detail: "byte 55", offset: 55},
		{name: "truncated json", contentType: "application/json",
			body: []byte(`[` + good + `, {"id": "b"`), status: 400, problem: "malformed-body", detail: "ends too early"},
		{name: "json not an object", contentType: "application/json",
			body: []byte(`"bus"`), status: 400, problem: "malformed-body"},
		{name: "json trailing data", contentType: "application/json",
			body: []byte(good + ` x`), status: 400, problem: "malformed-body", detail: "after the end"},
		{name: "missing id", contentType: "application/json",
			body:   []byte(`[` + good + `, {"lon": 1, "lat": 2}, {"id": "", "lon": 1, "lat": 2}, {"id": null, "lon": 1, "lat": 2}]`),
			status: 400, problem: "invalid-items", errors: []string{"1 : missing id", "2 : missing id", "3 : missing id"}},
		{name: "out of range", contentType: "application/json",
			body:   []byte(`[` + good + `, {"id": "far-east", "lon": 181, "lat": 0}, {"id": "south", "lon": 0, "lat": -90.5}, {"id": "huge", "lon": 1e400, "lat": 0}]`),
			status: 400, problem: "invalid-items",
			errors: []string{"1 far-east: lon 181 is outside [-180, 180]", "2 south: lat -90.5 is outside [-90, 90]", "3 huge: lon must be a number of degrees, got number 1e400"}},
		{name: "missing position", contentType: "application/json",
			body:   []byte(`[{"id": "a", "lat": 1}, {"id": "b", "lon": 1}, {"id": "c"}, {"id": "d", "lon": "1", "lat": 1}]`),
			status: 400, problem: "invalid-items",
			errors: []string{"0 a: missing lon", "1 b: missing lat", "2 c: missing lon and lat", "3 d: lon must be a number of degrees, got string"}},
		{name: "bad ttl version time", contentType: "application/json",
			body: []byte(`[` + good + `, {"id": "neg", "lon": 1, "lat": 1, "ttl": -5}, {"id": "str", "lon": 1, "lat": 1, "ttl": "30s"},
				{"id": "v", "lon": 1, "lat": 1, "version": -1}, {"id": "t", "lon": 1, "lat": 1, "time": 1.5}, {"id": "big", "lon": 1, "lat": 1, "ttl": 1e300}]`),
			status: 400, problem: "invalid-items",
			errors: []string{"1 neg: ttl -5 is not a number of seconds", "2 str: ttl must be a number of seconds, got string",
				"3 v: version must be an integer ≥ 0, got number -1", "4 t: time must be an integer", "5 big: ttl 1e+300 is too large"}},
		{name: "unknown member and bad props", contentType: "application/json",
			body: []byte(`[` + good + `, {"id": "typo", "lng": 1, "lon": 1, "lat": 1}, {"id": "p", "lon": 1, "lat": 1, "props": {"a": {"b": 1}}},
				{"id": "p2", "lon": 1, "lat": 1, "props": [1]}, 5]`),
			status: 400, problem: "invalid-items",
			errors: []string{`1 typo: unknown member "lng"`, "2 p: props.a is a nested object", "3 p2: props must be an object, got array", "4 : the item must be a JSON object, got a number"}},
		{name: "long id and layer", contentType: "application/json",
			body:   []byte(`[{"id": "` + strings.Repeat("x", 300) + `", "lon": 1, "lat": 1}, {"id": "l", "layer": "` + strings.Repeat("y", 65) + `", "lon": 1, "lat": 1}]`),
			status: 400, problem: "invalid-items",
			errors: []string{"0 " + strings.Repeat("x", 64) + "…: marker id", "1 l: layer name is 65 bytes"}},
		{name: "wrong geometry type", contentType: "application/geo+json",
			body: []byte(`{"type": "FeatureCollection", "features": [
				{"type": "Feature", "id": "ok", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": null},
				{"type": "Feature", "id": "line-1", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "properties": {}},
				{"type": "Feature", "id": 3, "geometry": null},
				{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}},
				{"type": "Point", "id": "p", "coordinates": [1, 1]},
				{"type": "Feature", "id": "short", "geometry": {"type": "Point", "coordinates": [1]}},
				{"type": "Feature", "id": "far", "geometry": {"type": "Point", "coordinates": [1, 95]}},
				{"type": "Feature", "id": "v", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {"version": 1.5}}]}`),
			status: 400, problem: "invalid-items",
			errors: []string{`1 line-1: geometry type is "LineString", want "Point"`, "2 3: geometry is null", "3 : missing id",
				`4 p: type is "Point", want "Feature"`, "5 short: coordinates must be [lon, lat]", "6 far: lat 95 is outside [-90, 90]",
				"7 v: properties.version must be an integer"}},
		{name: "geojson polygon feature", contentType: "application/geo+json",
			body:   []byte(`{"type": "Feature", "id": "zone", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}`),
			status: 400, problem: "invalid-items", errors: []string{`0 zone: geometry type is "Polygon"`}},
		{name: "geojson geometry", contentType: "application/geo+json",
			body: []byte(`{"type": "Point", "coordinates": [1, 1]}`), status: 400, problem: "malformed-body", detail: "send a Feature"},
		{name: "malformed geojson", contentType: "application/geo+json",
			body: []byte(`{"type": "FeatureCollection", "features": [}`), status: 400, problem: "malformed-body", detail: "byte"},
		{name: "msgpack NaN and infinity", contentType: "application/msgpack", body: nan, status: 400, problem: "invalid-items",
			errors: []string{"1 nan-lat: lat NaN is not a number", "2 inf-lon: lon +Inf is not a number", "3 nan-ttl: ttl NaN", "4 nested: props.a is an array"}},
		{name: "msgpack wrong types", contentType: "application/msgpack",
			body: mustMsgpack(t, []any{map[string]any{"id": true, "lon": 1, "lat": 1}, map[string]any{"id": "s", "lon": "1", "lat": 1}, "x",
				map[string]any{"id": "u", "lon": 1, "lat": 1, "speed": 3}, map[string]any{"id": "v", "lon": 1, "lat": 1, "version": -2}}),
			status: 400, problem: "invalid-items",
			errors: []string{"0 : id must be a string or an integer, got a boolean", "1 s: lon must be a number, got a string", "2 : the item must be a map, got a string",
				`3 u: unknown key "speed"`, "4 v: version must be an integer ≥ 0, got -2"}},
		{name: "msgpack truncated", contentType: "application/msgpack",
			body: mustMsgpack(t, []any{map[string]any{"id": "a", "lon": 1, "lat": 1}})[:10], status: 400, problem: "malformed-body", detail: "ends too early"},
		{name: "msgpack trailing", contentType: "application/msgpack",
			body: append(mustMsgpack(t, map[string]any{"id": "a", "lon": 1, "lat": 1}), 0xc0), status: 400, problem: "malformed-body", detail: "after the end"},
		{name: "unsupported content type", contentType: "text/plain", body: []byte(good), status: 415, problem: "unsupported-media-type"},
		{name: "no content type", body: []byte(good), status: 415, problem: "unsupported-media-type"},
		{name: "missing key", contentType: "application/json", key: "-", body: []byte(good), status: 401, problem: "unauthorized"},
		{name: "malformed authorization", contentType: "application/json", auth: "Basic Zm9vOmJhcg==", body: []byte(good), status: 401, problem: "unauthorized"},
		{name: "empty bearer", contentType: "application/json", auth: "Bearer ", body: []byte(good), status: 401, problem: "unauthorized"},
		{name: "wrong key", contentType: "application/json", key: "guess", body: []byte(good), status: 403, problem: "forbidden"},
		{name: "read key cannot feed", contentType: "application/json", key: readKey, body: []byte(good), status: 403, problem: "forbidden"},
		{name: "body too large", contentType: "application/json", body: []byte("[" + strings.Repeat(good+",", 400) + good + "]"), status: 413, problem: "body-too-large"},
		{name: "batch too large", contentType: "application/json", body: []byte("[" + strings.Repeat(good+",", 20) + good + "]"), status: 413, problem: "batch-too-large"},
		{name: "msgpack batch too large", contentType: "application/msgpack", body: mustMsgpack(t, make([]any, 21)), status: 413, problem: "batch-too-large"},
		{name: "remove not a list", path: "/markers/remove", contentType: "application/json", body: []byte(`{"id": "a"}`), status: 400, problem: "malformed-body"},
		{name: "remove bad ids", path: "/markers/remove", contentType: "application/json", body: []byte(`["good", "", {"id": 1}]`),
			status: 400, problem: "invalid-items", errors: []string{"1 : missing id", "2 : id must be a string or a number, got an object"}},
		{name: "wrong method", method: "PUT", body: []byte(good), contentType: "application/json", status: 405, problem: "method-not-allowed"},
		{name: "unknown route", path: "/marker", body: []byte(good), contentType: "application/json", status: 404, problem: "not-found"},
		{name: "invalidate bad tiles", path: "/tiles/invalidate", contentType: "application/json",
			body:   []byte(`{"layer": "density", "tiles": [[3, 1, 1], [3, 8, 0], [25, 0, 0], [1, 2], [-1, 0, 0]]}`),
			status: 400, problem: "invalid-items", errors: []string{"1 [3, 8, 0]: tile 3/8/0: x 8 is outside [0, 7]", "2 [25, 0, 0]: tile 25/0/0: zoom 25 is above 24", "3 [1, 2]: a tile is [z, x, y]", "4 [-1, 0, 0]: z, x and y must be integers ≥ 0"}},
		{name: "invalidate both", path: "/tiles/invalidate", contentType: "application/json",
			body: []byte(`{"layer": "density", "tiles": [[3, 1, 1]], "bbox": [0, 0, 1, 1]}`), status: 400, problem: "malformed-body", detail: "either tiles"},
		{name: "invalidate no layer", path: "/tiles/invalidate", contentType: "application/json",
			body: []byte(`{"bbox": [0, 0, 1, 1]}`), status: 400, problem: "malformed-body", detail: "layer is missing"},
		{name: "invalidate bad box", path: "/tiles/invalidate", contentType: "application/json",
			body: []byte(`{"layer": "density", "bbox": [0, 10, 1, 1]}`), status: 400, problem: "malformed-body", detail: "south 10 is above north 1"},
		{name: "invalidate unknown member", path: "/tiles/invalidate", contentType: "application/json",
			body: []byte(`{"layer": "density", "box": [0, 0, 1, 1]}`), status: 400, problem: "malformed-body", detail: `unknown field "box"`},
		{name: "interest without zoom", method: "GET", path: "/interest", status: 400, problem: "invalid-query"},
		{name: "interest zoom too deep", method: "GET", path: "/interest?z=25", status: 400, problem: "invalid-query"},
		{name: "interest unauthenticated", method: "GET", path: "/interest?z=3", key: "-", status: 401, problem: "unauthorized"},
		{name: "markers bad bbox", method: "GET", path: "/markers?bbox=1,2,3", status: 400, problem: "invalid-query"},
		{name: "markers no bbox", method: "GET", path: "/markers", status: 400, problem: "invalid-query"},
		{name: "markers bbox out of range", method: "GET", path: "/markers?bbox=0,0,190,10", status: 400, problem: "invalid-query"},
	}
	f := start(t, &ingest.Options{MaxBodyBytes: 16 << 10, MaxBatch: 20})
	c := watch(t, f, geo.World, 1)
	before := map[string]wire.Marker{"keep": {ID: "keep", Pos: wire.Quantize(inView), Version: 4}}
	if err := f.srv.Upsert(before["keep"]); err != nil {
		t.Fatal(err)
	}
	c.sees(t, "keep")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run(t, f)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if p.Type != ingest.ProblemBase+tc.problem {
				t.Fatalf("problem type %q, want %q; %s", p.Type, tc.problem, r.body)
			}
			if p.Title == "" || p.Detail == "" {
				t.Fatalf("problem without title or detail: %s", r.body)
			}
			if !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("detail %q does not say %q", p.Detail, tc.detail)
			}
			if tc.offset != 0 && (p.Offset == nil || *p.Offset != tc.offset) {
				t.Fatalf("offset %v, want %d", p.Offset, tc.offset)
			}
			if tc.errors != nil {
				var got []string
				for _, e := range p.Errors {
					got = append(got, fmt.Sprintf("%d %s: %s", e.Index, e.ID, e.Reason))
				}
				if len(got) != len(tc.errors) {
					t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errors, "\n"))
				}
				for i := range got {
					if !strings.Contains(got[i], tc.errors[i]) {
						t.Fatalf("error %d is %q, want it to say %q", i, got[i], tc.errors[i])
					}
				}
			}
			switch tc.status {
			case 401:
				if r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			case 405:
				if r.header.Get("Allow") != "GET, POST" {
					t.Fatalf("Allow %q", r.header.Get("Allow"))
				}
			case 415:
				if r.header.Get("Accept-Post") == "" {
					t.Fatal("415 without Accept-Post")
				}
			}
			if got := f.snapshot(); !reflect.DeepEqual(got, before) {
				t.Fatalf("the server changed: %v", got)
			}
		})
	}
	// Nothing reached the client either.
	time.Sleep(50 * time.Millisecond)
	if got := c.Markers(); !reflect.DeepEqual(got, before) {
		t.Fatalf("the client holds %v", got)
	}
	if len(c.tileChanges()) != 0 {
		t.Fatalf("the client was sent tile changes %v", c.tileChanges())
	}
}

func (tc badCase) run(t *testing.T, f *fixture) reply {
	method, path, key := tc.method, tc.path, tc.key
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/markers"
	}
	switch key {
	case "":
		key = feedKey
	case "-":
		key = ""
	}
	req, err := http.NewRequest(method, f.feed+path, bytes.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.contentType != "" {
		req.Header.Set("Content-Type", tc.contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if tc.auth != "" {
		req.Header.Set("Authorization", tc.auth)
	}
	return send(t, req)
}

// TestManyBadItems: every bad item is counted, the first 100 are named.
func TestManyBadItems(t *testing.T) {
	f := start(t, nil)
	items := make([]string, 250)
	for i := range items {
		items[i] = `{"id": "ok", "lon": 1, "lat": 1}`
		if i%2 == 1 {
			items[i] = fmt.Sprintf(`{"id": "m%d", "lon": 500, "lat": 0}`, i)
		}
	}
	r := f.do(t, "POST", "/markers", "application/json", feedKey, []byte("["+strings.Join(items, ",")+"]"))
	p := r.problem(t)
	if r.status != 400 || !strings.Contains(p.Detail, "125 items are invalid") || len(p.Errors) != 100 {
		t.Fatalf("%d %q, %d errors", r.status, p.Detail, len(p.Errors))
	}
	for i, e := range p.Errors {
		if e.Index != 2*i+1 || e.ID != fmt.Sprintf("m%d", 2*i+1) || e.Reason != "lon 500 is outside [-180, 180]" {
			t.Fatalf("error %d: %+v", i, e)
		}
	}
	if len(f.snapshot()) != 0 {
		t.Fatal("applied")
	}
}

// TestBodyTooLargeChunked: a body of unknown length is cut at the limit.
func TestBodyTooLargeChunked(t *testing.T) {
	f := start(t, &ingest.Options{MaxBodyBytes: 1 << 10})
	body := strings.NewReader("[" + strings.Repeat(`{"id": "a", "lon": 1, "lat": 1},`, 100) + `{"id": "a", "lon": 1, "lat": 1}]`)
	req, _ := http.NewRequest("POST", f.feed+"/markers", struct{ *strings.Reader }{body}) // hides the length
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+feedKey)
	r := send(t, req)
	if r.status != 413 || r.problem(t).Type != ingest.ProblemBase+"body-too-large" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if len(f.snapshot()) != 0 {
		t.Fatal("applied")
	}
}

// TestVersions: over HTTP, an update whose version is not newer than the
// stored one — late, out of order or duplicated — is ignored, and the newer
// position stays.
func TestVersions(t *testing.T) {
	f := start(t, nil)
	c := watch(t, f, paris, 12)
	at := func(lon float64, version int) string {
		return fmt.Sprintf(`{"id": "bus", "lon": %v, "lat": 48.85, "version": %d}`, lon, version)
	}
	steps := []struct {
		name    string
		body    string
		wantLon float64
		wantVer uint64
	}{
		{"first", at(2.30, 5), 2.30, 5},
		{"older", at(2.31, 3), 2.30, 5},
		{"duplicate", at(2.32, 5), 2.30, 5},
		{"newer", at(2.33, 6), 2.33, 6},
		{"out of order in a batch", "[" + at(2.35, 8) + "," + at(2.34, 7) + "]", 2.35, 8},
		{"retried batch", "[" + at(2.35, 8) + "," + at(2.34, 7) + "]", 2.35, 8},
		{"no version bumps it", `{"id": "bus", "lon": 2.36, "lat": 48.85}`, 2.36, 9},
		{"geojson stale", `{"type": "Feature", "id": "bus", "geometry": {"type": "Point", "coordinates": [2.2, 48.85]}, "properties": {"version": 4}}`, 2.36, 9},
	}
	for _, s := range steps {
		ct := "application/json"
		if strings.Contains(s.body, "Feature") {
			ct = "application/geo+json"
		}
		f.post(t, ct, []byte(s.body))
		want := wire.Quantize(geo.Pt(s.wantLon, 48.85))
		if m, _ := f.srv.Marker("bus"); m.Pos != want || m.Version != s.wantVer {
			t.Fatalf("%s: server holds %v version %d, want %v version %d", s.name, m.Pos, m.Version, want, s.wantVer)
		}
		servertest.Eventually(t, 5*time.Second, func() string {
			if m := c.Markers()["bus"]; m.Pos != want || m.Version != s.wantVer {
				return fmt.Sprintf("%s: client holds %v version %d, want %v version %d", s.name, m.Pos, m.Version, want, s.wantVer)
			}
			return ""
		})
	}
	if st := f.srv.Stats(); st.Stale != 6 {
		t.Fatalf("%d stale updates counted, want 6", st.Stale)
	}
}

// TestRemove: DELETE /markers/{id}, POST /markers/remove and a JSON item
// with "remove": true remove markers, and the client is told.
func TestRemove(t *testing.T) {
	f := start(t, nil)
	c := watch(t, f, paris, 12)
	var items []string
	for _, id := range []string{"a", "b/slash", "c d", "e", "f"} {
		items = append(items, fmt.Sprintf(`{"id": %q, "lon": 2.35, "lat": 48.85}`, id))
	}
	f.post(t, "application/json", []byte("["+strings.Join(items, ",")+"]"))
	c.sees(t, "a", "b/slash", "c d", "e", "f")

	for _, path := range []string{"/markers/a", "/markers/b%2Fslash", "/markers/c%20d", "/markers/nothing"} {
		r := f.do(t, "DELETE", path, "", feedKey, nil)
		if r.status != 200 || string(r.body) != "{\"applied\":1}\n" {
			t.Fatalf("DELETE %s: %d %s", path, r.status, r.body)
		}
	}
	c.sees(t, "e", "f")
	if r := f.do(t, "DELETE", "/markers/e", "", "", nil); r.status != 401 {
		t.Fatalf("DELETE without key: %d", r.status)
	}
	r := f.do(t, "POST", "/markers/remove", "application/json", feedKey, []byte(`["e", "nothing"]`))
	if r.status != 200 || string(r.body) != "{\"applied\":2}\n" {
		t.Fatalf("POST /markers/remove: %d %s", r.status, r.body)
	}
	c.sees(t, "f")
	f.post(t, "application/json", []byte(`[{"id": "f", "remove": true}, {"id": "g", "lon": 2.3, "lat": 48.9}]`))
	c.sees(t, "g")
	f.post(t, "application/msgpack", mustMsgpack(t, map[string]any{"id": "g", "remove": true}))
	c.sees(t)
}

// TestInvalidateTiles: an invalidation by tile or by box reaches the client
// that shows the tile, and only it.
func TestInvalidateTiles(t *testing.T) {
	f := start(t, nil)
	shows := watch(t, f, paris, 5)
	elsewhere := watch(t, f, geo.BBox(100, 10, 110, 20), 5)
	deeper := watch(t, f, paris, 9)
	tile := geo.TileOf(inView, 5)
	body := fmt.Sprintf(`{"layer": "density", "tiles": [[%d, %d, %d]]}`, tile.Z, tile.X, tile.Y)
	r := f.do(t, "POST", "/tiles/invalidate", "application/json", feedKey, []byte(body))
	if r.status != 200 || string(r.body) != "{\"applied\":1}\n" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		got := shows.tileChanges()
		if len(got) != 1 || got[0].Layer != "density" || got[0].Z != tile.Z || got[0].X != tile.X || got[0].Y != tile.Y {
			return fmt.Sprintf("client got tile changes %+v, want %v", got, tile)
		}
		return ""
	})
	r = f.do(t, "POST", "/tiles/invalidate", "application/json", feedKey, []byte(`{"layer": "density", "bbox": [2.3, 48.8, 2.4, 48.9]}`))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if got := deeper.tileChanges(); len(got) == 0 || got[0].Z != 9 {
			return fmt.Sprintf("the zoom 9 client got %+v", got)
		}
		if got := shows.tileChanges(); len(got) != 2 || got[1].Version <= got[0].Version {
			return fmt.Sprintf("the zoom 5 client got %+v", got)
		}
		return ""
	})
	if got := elsewhere.tileChanges(); len(got) != 0 {
		t.Fatalf("a client elsewhere got %+v", got)
	}
}

// TestInterest: GET /interest reports the watched tiles with their viewers.
func TestInterest(t *testing.T) {
	f := start(t, nil)
	watch(t, f, paris, 12)
	watch(t, f, geo.BBox(2.3, 48.85, 2.35, 48.86), 14)
	r := f.do(t, "GET", "/interest?z=4&layer=vehicles", "", feedKey, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got []struct{ Z, X, Y, Viewers int }
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	tile := geo.TileOf(inView, 4)
	if len(got) != 1 || got[0].Z != 4 || got[0].X != int(tile.X) || got[0].Y != int(tile.Y) || got[0].Viewers != 2 {
		t.Fatalf("interest %s, want tile %v with 2 viewers", r.body, tile)
	}
	r = f.do(t, "GET", "/interest?z=0", "", feedKey, nil)
	if string(r.body) != `[{"z":0,"x":0,"y":0,"viewers":2}]`+"\n" {
		t.Fatalf("interest at zoom 0: %s", r.body)
	}
}

// TestGetMarkers: GET /markers returns exactly the markers in the box, in
// the layers asked for, in the format POST /markers takes.
func TestGetMarkers(t *testing.T) {
	f := start(t, nil)
	ms := []wire.Marker{
		{ID: "bus-1", Layer: "vehicles", Pos: inView, Time: 1700000000000, Props: map[string]any{"line": "42", "note": "quote \" and \u2028 and \x01"}},
		{ID: "sensor-\"1\"", Layer: "sensors", Pos: geo.Pt(2.3, 48.9)},
		{ID: "tram-1", Layer: "vehicles", Pos: lyon},
		{ID: "ferry", Layer: "vehicles", Pos: geo.Pt(179.5, -17)},
	}
	for _, m := range ms {
		if err := f.srv.Upsert(m); err != nil {
			t.Fatal(err)
		}
	}
	get := func(query string) []map[string]any {
		t.Helper()
		r := f.do(t, "GET", "/markers?"+query, "", "", nil)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var got []map[string]any
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("%s: %v in %s", query, err, r.body)
		}
		return got
	}
	idsOf := func(items []map[string]any) string {
		var s []string
		for _, it := range items {
			s = append(s, it["id"].(string))
		}
		sort.Strings(s)
		return strings.Join(s, " ")
	}
	for _, tc := range []struct{ query, want string }{
		{"bbox=2.2,48.8,2.5,48.95", `bus-1 sensor-"1"`},
		{"bbox=2.2,48.8,2.5,48.95&layers=vehicles", "bus-1"},
		{"bbox=2.2,48.8,2.5,48.95&layers=sensors,boats", `sensor-"1"`},
		{"bbox=-180,-90,180,90", `bus-1 ferry sensor-"1" tram-1`},
		{"bbox=179,-20,-179,-10", "ferry"},
		{"bbox=0,0,1,1", ""},
	} {
		if got := idsOf(get(tc.query)); got != tc.want {
			t.Fatalf("%s: got %q, want %q", tc.query, got, tc.want)
		}
	}
	// The answer is a valid POST /markers body: it round-trips.
	r := f.do(t, "GET", "/markers?bbox=2.2,48.8,2.5,48.95&layers=vehicles", "", "", nil)
	g := start(t, nil)
	g.post(t, "application/json", r.body)
	if got, want := g.snapshot()["bus-1"], f.snapshot()["bus-1"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %+v, want %+v", got, want)
	}
}

// TestReadKeys: with ReadKeys, GET /markers needs a read key or a feed key.
func TestReadKeys(t *testing.T) {
	f := start(t, &ingest.Options{ReadKeys: keys(readKey)})
	for _, tc := range []struct {
		key    string
		status int
	}{{"", 401}, {"nope", 403}, {readKey, 200}, {feedKey, 200}} {
		if r := f.do(t, "GET", "/markers?bbox=0,0,1,1", "", tc.key, nil); r.status != tc.status {
			t.Fatalf("key %q: %d, want %d: %s", tc.key, r.status, tc.status, r.body)
		}
	}
}

func TestNew(t *testing.T) {
	srv, _ := server.New(nil)
	defer srv.Close()
	for _, tc := range []struct {
		name string
		f    ingest.Feed
		opts *ingest.Options
		want string
	}{
		{"nil options", srv, nil, "no feed key"},
		{"no keys", srv, &ingest.Options{ReadKeys: keys("r")}, "no feed key"},
		{"empty key", srv, &ingest.Options{Keys: keys("a", "")}, "feed key 1 is empty"},
		{"empty read key", srv, &ingest.Options{Keys: keys("a"), ReadKeys: keys("")}, "read key 0 is empty"},
		{"negative body", srv, &ingest.Options{Keys: keys("a"), MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative batch", srv, &ingest.Options{Keys: keys("a"), MaxBatch: -1}, "MaxBatch"},
		{"nil feed", nil, &ingest.Options{Keys: keys("a")}, "Feed is nil"},
	} {
		if _, err := ingest.New(tc.f, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestTTL: a ttl sent over HTTP expires the marker, and the client is told.
func TestTTL(t *testing.T) {
	f := start(t, nil)
	c := watch(t, f, paris, 12)
	f.post(t, "application/json", []byte(`[{"id": "short", "lon": 2.35, "lat": 48.85, "ttl": 0.1}, {"id": "long", "lon": 2.36, "lat": 48.85, "ttl": 3600}]`))
	c.sees(t, "long")
	if st := f.srv.Stats(); st.Expired != 1 {
		t.Fatalf("expired %d", st.Expired)
	}
}
