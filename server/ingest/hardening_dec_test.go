package ingest_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/ingest"
)

// TestDeepBodyRefused: a POST /markers whose first item has a prop nested
// about 8 million arrays deep, within the 8 MiB body limit, once ended the
// process with a stack overflow (msgpack's recursive Skip) and lost every
// marker. Now it is a 400 malformed-body naming the limit, and the server
// keeps its markers and takes the next request. The same in JSON and
// GeoJSON.
func TestDeepBodyRefused(t *testing.T) {
	f := start(t, nil)
	f.post(t, "application/json", []byte(`{"id": "kept", "lon": 2.35, "lat": 48.85}`))
	const depth = 8<<20 - 200
	msgpackBody := append([]byte{0x91, 0x84, 0xa2, 'i', 'd', 0xa1, 'd', 0xa3, 'l', 'o', 'n', 0x01, 0xa3, 'l', 'a', 't', 0x01,
		0xa5, 'p', 'r', 'o', 'p', 's', 0x81, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, depth)...)
	msgpackBody = append(msgpackBody, 0xc0)
	for _, tc := range []struct {
		contentType string
		body        []byte
	}{
		{"application/msgpack", msgpackBody},
		{"application/json", []byte(`[{"id": "d", "lon": 1, "lat": 1, "props": {"x": ` + strings.Repeat("[", depth) + strings.Repeat("]", 100) + `}}]`)},
		{"application/geo+json", []byte(`{"type": "Feature", "id": "d", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {"x": ` + strings.Repeat("[", depth) + `}}`)},
	} {
		r := f.do(t, "POST", "/markers", tc.contentType, feedKey, tc.body)
		p := r.problem(t)
		if r.status != http.StatusBadRequest || p.Type != ingest.ProblemBase+"malformed-body" || !strings.Contains(p.Detail, "nested deeper than 32 levels") {
			t.Fatalf("%s of %d bytes: %d %+v, want 400 malformed-body naming the limit", tc.contentType, len(tc.body), r.status, p)
		}
	}
	if _, ok := f.srv.Marker("kept"); !ok {
		t.Fatal("the server lost its markers")
	}
	f.post(t, "application/json", []byte(`{"id": "after", "lon": 2.35, "lat": 48.85}`))
}

// TestDataRulesOverHTTP: the data rules through the real ingest handler:
// a 5 MB prop is an invalid item naming its size; an id that is not UTF-8
// is refused, not turned into U+FFFD; version 0 is a version (the issue's
// sequence ends at C with version 2); integer props stay exact.
func TestDataRulesOverHTTP(t *testing.T) {
	f := start(t, nil)
	r := f.do(t, "POST", "/markers", "application/json", feedKey,
		[]byte(`[{"id": "big", "lon": 1, "lat": 2, "props": {"x": "`+strings.Repeat("a", 5<<20)+`"}}]`))
	if p := r.problem(t); r.status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Reason != `prop "x" is 5242880 bytes, at most 4096 allowed` {
		t.Fatalf("5 MB prop: %d %+v", r.status, p)
	}
	r = f.do(t, "POST", "/markers", "application/json", feedKey, []byte("{\"id\": \"bad\xff\", \"lon\": 1, \"lat\": 2}"))
	if p := r.problem(t); r.status != http.StatusBadRequest || !strings.Contains(p.Detail, "invalid UTF-8") {
		t.Fatalf("invalid UTF-8 id: %d %+v", r.status, p)
	}
	a, b, c := `"lon": 1, "lat": 1`, `"lon": 2, "lat": 2`, `"lon": 3, "lat": 3`
	for _, item := range []string{`"version": 0, ` + a, `"version": 1, ` + b, `"version": 0, ` + a, `"version": 2, ` + c} {
		f.post(t, "application/json", []byte(`{"id": "m", `+item+`}`))
	}
	if m, _ := f.srv.Marker("m"); m.Version != 2 || m.Pos != geo.Pt(3, 3) {
		t.Fatalf("after v0 A, v1 B, v0 A, v2 C: %+v, want version 2 at C", m)
	}
	f.post(t, "application/json", []byte(`{"id": "n", "lon": 1, "lat": 1, "props": {"t": 1764102345123456789}}`))
	if m, _ := f.srv.Marker("n"); m.Props["t"] != int64(1764102345123456789) {
		t.Fatalf("props %#v, want t exact", m.Props)
	}
}

// TestInvalidateBodyChecked: POST /tiles/invalidate's JSON gets the checks
// of the marker formats: nesting past the limit and invalid UTF-8 are a
// 400 malformed-body.
func TestInvalidateBodyChecked(t *testing.T) {
	f := start(t, nil)
	for _, tc := range []struct {
		body []byte
		text string
	}{
		{[]byte(`{"layer": "t", "tiles": ` + strings.Repeat("[", 1<<20) + `}`), "nested deeper than 32 levels"},
		{[]byte("{\"layer\": \"t\xff\", \"tiles\": [[1, 0, 0]]}"), "invalid UTF-8"},
	} {
		r := f.do(t, "POST", "/tiles/invalidate", "application/json", feedKey, tc.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || !strings.Contains(p.Detail, tc.text) {
			t.Fatalf("%d %+v, want 400 with %q", r.status, p, tc.text)
		}
	}
}
