package redisfeed

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

func TestDecodeEntry(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   []server.Update
		err    string
	}{
		{"all fields", map[string]string{"id": "bus-42", "layer": "vehicles", "lon": "2.3522", "lat": "48.8566",
			"version": "7", "time": "1700000000000", "ttl": "1.5", "props": `{"line": "42"}`},
			[]server.Update{{Marker: wire.Marker{ID: "bus-42", Layer: "vehicles", Pos: geo.Pt(2.3522, 48.8566), Version: 7,
				Time: 1700000000000, Props: map[string]any{"line": "42"}}, HasVersion: true, TTL: 1500 * time.Millisecond}}, ""},
		{"minimal", map[string]string{"id": "a", "lon": "-180", "lat": "90"},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(-180, 90)}}}, ""},
		{"op upsert, empty props", map[string]string{"id": "a", "lon": " 1 ", "lat": "2", "op": "upsert", "props": "{}"},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2)}}}, ""},
		{"remove", map[string]string{"id": "a", "op": "remove"},
			[]server.Update{{Marker: wire.Marker{ID: "a"}, Remove: true}}, ""},
		{"json array", map[string]string{"json": `[{"id": "a", "lon": 1, "lat": 2}, {"id": "b", "remove": true}]`},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2)}}, {Marker: wire.Marker{ID: "b"}, Remove: true}}, ""},
		{"no id", map[string]string{"lon": "1", "lat": "2"}, nil, "missing id"},
		{"empty", map[string]string{}, nil, "missing id"},
		{"inf", map[string]string{"id": "a", "lon": "+Inf", "lat": "2"}, nil, "lon +Inf is not a number"},
		{"hex", map[string]string{"id": "a", "lon": "1", "lat": "2", "time": "0x10"}, nil, `time "0x10": want an integer`},
		{"props null", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": "null"},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2)}}}, ""},
		{"props string", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `"x"`}, nil, "props"},
		{"props nested", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"a": [1]}`}, nil, "props.a is a list"},
		{"props long name", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"` + strings.Repeat("n", 65) + `": 1}`}, nil, "65 bytes"},
		{"json and more", map[string]string{"json": "{}", "id": "a"}, nil, "no other field"},
		{"version 0 is a version", map[string]string{"id": "a", "lon": "1", "lat": "2", "version": "0"},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2)}, HasVersion: true}}, ""},
		{"props integers exact", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"t": 1764102345123456789, "u": 18446744073709551615, "f": 1.5}`},
			[]server.Update{{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2),
				Props: map[string]any{"t": int64(1764102345123456789), "u": uint64(18446744073709551615), "f": 1.5}}}}, ""},
		{"props too deep", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"a": ` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`},
			nil, "nested deeper than 32 levels"},
		{"props 8 MB deep", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"a": ` + strings.Repeat("[", 8<<20) + `}`},
			nil, "nested deeper than 32 levels"},
		{"props invalid UTF-8", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": "{\"n\xff\": 1}"}, nil, "invalid UTF-8"},
		{"props lone surrogate", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"n": "\ud800"}`}, nil, "surrogate"},
		{"id invalid UTF-8", map[string]string{"id": "a\xff", "lon": "1", "lat": "2"}, nil, "not valid UTF-8"},
		{"remove id invalid UTF-8", map[string]string{"id": "a\xff", "op": "remove"}, nil, "not valid UTF-8"},
		{"layer invalid UTF-8", map[string]string{"id": "a", "layer": "\xc3", "lon": "1", "lat": "2"}, nil, "not valid UTF-8"},
		{"json invalid UTF-8 id", map[string]string{"json": "{\"id\": \"a\xff\", \"lon\": 1, \"lat\": 2}"}, nil, "invalid UTF-8"},
		{"prop too large", map[string]string{"id": "a", "lon": "1", "lat": "2", "props": `{"x": "` + strings.Repeat("a", 5<<20) + `"}`},
			nil, `prop "x" is 5242880 bytes, at most 4096 allowed`},
		{"json too many", map[string]string{"json": "[" + strings.Repeat(`{"id": "a", "remove": true},`, maxJSONItems) + `{"id": "a", "remove": true}]`}, nil, "more than 10000 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEntry(tt.fields)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzDecodeEntry feeds decodeEntry entries made of arbitrary fields and
// values: it must never panic, and what it accepts the server must accept.
// The input is field, value, field, value... separated by NUL bytes.
func FuzzDecodeEntry(f *testing.F) {
	seeds := [][]string{
		{"id", "bus-42", "layer", "vehicles", "lon", "2.3522", "lat", "48.8566", "version", "7", "time", "1700000000000", "ttl", "30", "props", `{"line":"42"}`},
		{"id", "bus-42", "op", "remove"},
		{"json", `{"id": "taxi-9", "layer": "vehicles", "lon": 2.2945, "lat": 48.8584}`},
		{"json", `[{"id": "a", "lon": 1, "lat": 2}, {"id": "b", "lon": 1}]`},
		{"id", "nan", "lon", "NaN", "lat", "1"},
		{"id", "far", "lon", "181", "lat", "-91", "ttl", "-1e308"},
		{"id", "p", "lon", "1", "lat", "1", "props", `{"a": {"b": 1}}`},
		{"id", "v", "version", "-1", "time", "1.5", "op", "move", "lng", "3"},
		{"json", `{"id": `, "id", "x"},
		// Nesting just within wire.MaxDepth and just past it.
		{"id", "d", "lon", "1", "lat", "1", "props", `{"a": ` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`},
		{"id", "d", "lon", "1", "lat", "1", "props", `{"a": ` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`},
		{"json", `[{"id": "d", "lon": 1, "lat": 1, "props": {"a": ` + strings.Repeat("[", 29) + strings.Repeat("]", 29) + `}}]`},
		{"json", `[{"id": "d", "lon": 1, "lat": 1, "props": {"a": ` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}}]`},
		{"id", "u", "lon", "1", "lat", "1", "props", "{\"\xff\": \"\\ud800\"}"},
		// The msgpack field the cluster's nodes write (no NUL byte inside:
		// integer positions): one item, a removal, one field too many, and
		// props nested past the decoder's depth limit.
		{"msgpack", "\x91\x84\xa2id\xa1a\xa5layer\xa1v\xa3lon\x01\xa3lat\x02"},
		{"msgpack", "\x91\x82\xa2id\xa1a\xa6remove\xc3"},
		{"msgpack", "\x91\x81\xa2id\xa1a", "id", "x"},
		{"msgpack", "\x91\x84\xa2id\xa1d\xa3lon\x01\xa3lat\x01\xa5props\x81\xa1a" + strings.Repeat("\x91", 40) + "\x01"},
	}
	for _, s := range seeds {
		f.Add([]byte(strings.Join(s, "\x00")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := bytes.Split(data, []byte{0})
		fields := map[string]string{}
		for i := 0; i+1 < len(parts); i += 2 {
			fields[string(parts[i])] = string(parts[i+1])
		}
		updates, err := decodeEntry(fields)
		if err != nil {
			if updates != nil || err.Error() == "" {
				t.Fatalf("error %v with updates %v", err, updates)
			}
			return
		}
		if len(updates) == 0 && fields["json"] == "" {
			t.Fatalf("no update and no error for %q", fields)
		}
		srv, _ := server.New(nil)
		defer srv.Close()
		if err := srv.Apply(updates); err != nil {
			t.Fatalf("the server refused a decoded entry %q: %v", fields, err)
		}
	})
}

// TestEncodeItemsRoundTrip: what a node writes to the stream (the msgpack
// field) decodes to the updates it was given: removals, versions (0 as a
// version too), times, ttls and every kind of prop value.
func TestEncodeItemsRoundTrip(t *testing.T) {
	in := []server.Update{
		{Marker: wire.Marker{ID: "bus-42", Layer: "vehicles", Pos: geo.Pt(2.3522, 48.8566), Version: 7, Time: 1700000000000,
			Props: map[string]any{"line": "42", "n": int64(-3), "big": uint64(1 << 63), "speed": 12.5, "ok": true, "none": nil}},
			HasVersion: true, TTL: 1500 * time.Millisecond},
		{Marker: wire.Marker{ID: "v0", Pos: geo.Pt(-180, 90)}, HasVersion: true},
		{Marker: wire.Marker{ID: "plain", Layer: "l", Pos: geo.Pt(0, 0)}},
		{Marker: wire.Marker{ID: "gone"}, Remove: true},
	}
	body, err := encodeItems(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntry(map[string]string{"msgpack": string(body)})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("decoded\n%#v\nwant\n%#v", got, in)
	}
	if _, err := decodeEntry(map[string]string{"msgpack": string(body), "id": "a"}); err == nil || !strings.Contains(err.Error(), "no other field") {
		t.Errorf("a msgpack field with another: %v, want an error saying no other field", err)
	}
	if _, err := decodeEntry(map[string]string{"msgpack": "\x91\xc1"}); err == nil || !strings.Contains(err.Error(), "msgpack: ") {
		t.Errorf("a malformed msgpack field: %v, want an error", err)
	}
}

// BenchmarkDecodeEntry: a 1,000-update entry as every node decodes it,
// in the json field (what nodes wrote until 2026-12) and in the msgpack
// field they write now.
func BenchmarkDecodeEntry(b *testing.B) {
	us := make([]server.Update, 1000)
	for i := range us {
		us[i] = server.Update{Marker: wire.Marker{ID: "m" + strconv.Itoa(i), Layer: "fleet",
			Pos: geo.Pt(2.3+float64(i)*1e-5, 48.8), Version: uint64(i + 7), Time: 1764770000000}}
	}
	var js strings.Builder
	js.WriteByte('[')
	for i, u := range us {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"id":%q,"layer":%q,"lon":%v,"lat":%v,"version":%d,"time":%d}`,
			u.Marker.ID, u.Marker.Layer, u.Marker.Pos.Lon, u.Marker.Pos.Lat, u.Marker.Version, u.Marker.Time)
	}
	js.WriteByte(']')
	mp, err := encodeItems(us)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct{ name, body string }{{"json", js.String()}, {"msgpack", string(mp)}} {
		b.Run(f.name, func(b *testing.B) {
			fields := map[string]string{f.name: f.body}
			b.ReportAllocs()
			for b.Loop() {
				if got, err := decodeEntry(fields); err != nil || len(got) != len(us) {
					b.Fatalf("%d updates, %v", len(got), err)
				}
			}
		})
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeItems(us); err != nil {
				b.Fatal(err)
			}
		}
	})
}
