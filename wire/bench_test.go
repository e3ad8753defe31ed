package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkEncodeUpsert measures encoding one marker update as the server
// does: once per update, copied into the slice every recipient shares.
// Goal: ≤ 1 µs and ≤ 1 alloc (the shared copy).
func BenchmarkEncodeUpsert(b *testing.B) {
	for _, tc := range []struct {
		name string
		m    Marker
	}{
		{"move", Marker{ID: "v1234", Layer: "vehicles", Pos: geo.Pt(2.3522219, 48.856614), Version: 42, Time: 1764100000123}},
		{"props", Marker{ID: "v1234", Layer: "vehicles", Pos: geo.Pt(2.3522219, 48.856614), Version: 42, Time: 1764100000123,
			Props: map[string]any{"kind": "car", "heading": 90}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			enc := NewEncoder()
			b.ReportAllocs()
			var size int
			for b.Loop() {
				op, err := enc.Upsert(&tc.m)
				if err != nil {
					b.Fatal(err)
				}
				shared := bytes.Clone(op)
				size = len(shared)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// BenchmarkEncodeBaseline encodes the same marker move the way a generic
// codec would — msgpack.Marshal and encoding/json of a struct with field
// names — as the baseline BenchmarkEncodeUpsert is compared with in the same
// run.
func BenchmarkEncodeBaseline(b *testing.B) {
	type marker struct {
		ID      string  `msgpack:"id" json:"id"`
		Layer   string  `msgpack:"layer" json:"layer"`
		Lon     float64 `msgpack:"lon" json:"lon"`
		Lat     float64 `msgpack:"lat" json:"lat"`
		Version uint64  `msgpack:"version" json:"version"`
		Time    int64   `msgpack:"time" json:"time"`
	}
	m := marker{ID: "v1234", Layer: "vehicles", Lon: 2.3522219, Lat: 48.856614, Version: 42, Time: 1764100000123}
	for _, tc := range []struct {
		name string
		enc  func(any) ([]byte, error)
	}{{"msgpack-marshal", msgpack.Marshal}, {"json-marshal", json.Marshal}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				out, err := tc.enc(&m)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// BenchmarkDecodeBatch measures the client's side: decoding a frame of 100
// marker moves.
func BenchmarkDecodeBatch(b *testing.B) {
	ops := make([]Op, 100)
	for i := range ops {
		ops[i].Marker = Marker{ID: "v1234", Layer: "vehicles", Pos: geo.Pt(2.35, 48.85), Version: uint64(i)}
	}
	frame, err := Marshal(Batch{Ops: ops})
	if err != nil {
		b.Fatal(err)
	}
	dec := NewDecoder()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := dec.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}
