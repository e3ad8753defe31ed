package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

var paris = Marker{ID: "v1", Layer: "cars", Pos: Quantize(geo.Pt(2.3522219, 48.856614)), Version: 7}

// sampleMessages holds one message of every type, with the optional parts
// of ops both present and absent.
func sampleMessages() []Message {
	full := Marker{ID: "f-1234", Layer: "flights", Pos: Quantize(geo.Pt(-179.9999999, -85.05)), Version: 1 << 40,
		Time: 1764100000123, Props: map[string]any{"kind": "plane", "heading": int64(270), "ok": true}}
	timed := Marker{ID: "t", Layer: "", Pos: geo.Pt(180, 90), Version: 0, Time: -5}
	return []Message{
		Hello{Version: Version, Token: "secret", Layers: []string{"cars", "flights"}},
		Hello{Version: 9, Layers: []string{}},
		Hello{Version: Version, Layers: []string{"a"}, MaxFrameBytes: 1 << 20},
		Hello{Version: Version, Layers: []string{"a"}, Declutter: true},
		Refresh{Token: "eyJhbGciOi.x.y"},
		RefreshAck{Expires: 1764100000123},
		RefreshAck{},
		More{Remaining: 3, Ops: []Op{{Marker: paris}, {Cluster: &Cluster{View: 3, ID: 1<<48 | 5, Z: 4, Count: 2, At: geo.Pt(1, 2), ExpansionZoom: 6}}}},
		More{},
		ViewAck{View: View{ID: 2, Box: geo.World, Zoom: 3}, Flags: FlagSnapshot | FlagContinued, Ops: []Op{{Marker: paris}}},
		View{ID: 3, Box: geo.BBox(170, -20, -170, 10.5), Zoom: 4.25},
		Unview{ID: 255},
		Layers{Layers: []string{"a"}},
		Welcome{Version: 1, Budget: 5000, MaxViews: 4, ViewRate: 20, ViewBurst: 40, MaxFrameBytes: 16384, ClusterZoom: 14},
		ViewAck{View: View{ID: 0, Box: geo.World, Zoom: 0}, Flags: FlagSnapshot | FlagTruncated,
			Ops: []Op{{Marker: paris}, {Marker: full}, {Marker: timed}}},
		ViewAck{View: View{ID: 1, Box: geo.BBox(0, 0, 1, 1), Zoom: 12}},
		UnviewAck{ID: 1},
		Reset{Flags: FlagBehind, Views: []View{{ID: 0, Box: geo.World, Zoom: 1}, {ID: 9, Box: geo.BBox(1, 2, 3, 4), Zoom: 2}}, Clustered: []bool{false, true}, ClusterZooms: []int{0, 5}, Ops: []Op{{Marker: paris}, {Remove: true, Marker: Marker{ID: "gone"}}}},
		Batch{Ops: []Op{{Marker: paris}, {Remove: true, Marker: Marker{ID: "x"}}}},
		Batch{Ops: []Op{{Tile: &TileChange{Layer: "density", Z: 12, X: 2074, Y: 1409, Version: 99}},
			{Cluster: &Cluster{View: 0, ID: MaxClusterID, Z: 4, Count: 12345, At: Quantize(geo.Pt(2.5, 48.1)), ExpansionZoom: 24}}, {Marker: paris}}},
		ViewAck{View: View{ID: 0, Box: geo.World, Zoom: 1}, Flags: FlagClusters,
			Ops: []Op{{Cluster: &Cluster{ID: 7, Z: 4, Count: 1, At: geo.Pt(179.9, 85), ExpansionZoom: 5}}}},
		Batch{},
		Error{Code: CodeRateLimited, Message: "view changes faster than 20/s"},
	}
}

func TestRoundTrip(t *testing.T) {
	enc, dec := NewEncoder(), NewDecoder()
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := enc.Message(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dec.Decode(b)
			if err != nil {
				t.Fatalf("decode % x: %v", b, err)
			}
			if !reflect.DeepEqual(normalise(got), normalise(m)) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

// normalise makes nil and empty slices compare equal.
func normalise(m Message) Message {
	switch v := m.(type) {
	case Hello:
		if len(v.Layers) == 0 {
			v.Layers = nil
		}
		return v
	case Batch:
		if len(v.Ops) == 0 {
			v.Ops = nil
		}
		return v
	case ViewAck:
		if len(v.Ops) == 0 {
			v.Ops = nil
		}
		return v
	case More:
		if len(v.Ops) == 0 {
			v.Ops = nil
		}
		return v
	}
	return m
}

// TestMoveSize pins the protocol's compactness goal: a marker move with a
// short id costs at most 30 bytes inside a batch.
func TestMoveSize(t *testing.T) {
	enc := NewEncoder()
	for _, tc := range []struct {
		name string
		m    Marker
		max  int
	}{
		{"short id", Marker{ID: "v1", Layer: "cars", Pos: geo.Pt(-122.4194155, 37.7749295), Version: 123456}, 26},
		{"far east", Marker{ID: "v1234", Layer: "cars", Pos: geo.Pt(179.9999999, -89.9999999), Version: 1 << 31}, 30},
		{"with time", Marker{ID: "v1", Layer: "c", Pos: geo.Pt(2.35, 48.85), Version: 99, Time: 1764100000123}, 32},
	} {
		b, err := enc.Upsert(&tc.m)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes: % x", tc.name, len(b), b)
		if len(b) > tc.max {
			t.Errorf("%s: op is %d bytes, want at most %d", tc.name, len(b), tc.max)
		}
	}
}

func TestQuantizeIsExact(t *testing.T) {
	enc, dec := NewEncoder(), NewDecoder()
	for _, p := range []geo.Point{{Lon: 2.35222190001, Lat: 48.8566140004}, {Lon: -180, Lat: -90}, {Lon: 0.1, Lat: 0.3}, {Lon: 179.99999995, Lat: 1e-9}} {
		m := Marker{ID: "q", Pos: Quantize(p)}
		b, _ := enc.Message(Batch{Ops: []Op{{Marker: m}}})
		got, err := dec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if gp := got.(Batch).Ops[0].Marker.Pos; gp != m.Pos {
			t.Errorf("Quantize(%v) = %v, decoded %v", p, m.Pos, gp)
		}
		if d := math.Abs(m.Pos.Lon - p.Lon); d > 0.51e-7 {
			t.Errorf("Quantize(%v) moved longitude by %g", p, d)
		}
	}
}

func TestHeadersMatchMarshal(t *testing.T) {
	enc := NewEncoder()
	opA, _ := enc.Upsert(&paris)
	opA = bytes.Clone(opA)
	opB := bytes.Clone(enc.Remove("gone"))
	ops := []Op{{Marker: paris}, {Remove: true, Marker: Marker{ID: "gone"}}}
	view := View{ID: 2, Box: geo.BBox(1, 2, 3, 4), Zoom: 5}
	for _, n := range []int{2, 20, 70000} {
		var all []Op
		var raw []byte
		for range n / 2 {
			all = append(all, ops...)
			raw = append(append(raw, opA...), opB...)
		}
		for _, tc := range []struct {
			name   string
			header []byte
			msg    Message
		}{
			{"batch", AppendBatchHeader(nil, n), Batch{Ops: all}},
			{"reset", AppendResetHeader(nil, FlagBehind, []View{view}, []bool{true}, []int{7}, n), Reset{Flags: FlagBehind, Views: []View{view}, Clustered: []bool{true}, ClusterZooms: []int{7}, Ops: all}},
			{"view_ack", AppendViewAckHeader(nil, view, FlagSnapshot, n), ViewAck{View: view, Flags: FlagSnapshot, Ops: all}},
			{"more", AppendMoreHeader(nil, 70000, n), More{Remaining: 70000, Ops: all}},
		} {
			want, err := Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(tc.header, raw...); !bytes.Equal(got, want) {
				t.Errorf("%s of %d ops: header + raw ops differ from Marshal", tc.name, n)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		code  Code
		text  string
	}{
		{"empty", nil, CodeMalformed, "ends early"},
		{"not msgpack array", []byte{0xc3}, CodeMalformed, "expected an array"},
		{"empty array", []byte{0x90}, CodeMalformed, "at least 1"},
		{"unknown type", []byte{0x91, 0x63}, CodeUnknownType, "99"},
		{"huge type", []byte{0x91, 0xcd, 0x01, 0x00}, CodeUnknownType, "256"},
		{"view too short", []byte{0x93, 0x02, 0x00, 0x01}, CodeMalformed, "view"},
		{"view string zoom", must(Marshal(View{}))[:8], CodeMalformed, ""},
		{"trailing bytes", append(must(Marshal(Unview{ID: 1})), 0xc0), CodeMalformed, "after the message"},
		{"lying array length", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x14}, CodeMalformed, "remaining bytes"},
		{"hello token not string", []byte{0x94, 0x01, 0x01, 0x05, 0x90}, CodeMalformed, "token"},
		{"too many layers", append([]byte{0x92, 0x04, 0xdc, 0x00, 0x41}, bytes.Repeat([]byte{0xa1, 'a'}, 65)...), CodeMalformed, "at most 64"},
		{"op neither string nor array", []byte{0x92, 0x14, 0x05}, CodeMalformed, "op 0"},
		{"unknown op tag", []byte{0x92, 0x14, 0x95, 0x07, 0, 0, 0, 0}, CodeMalformed, "unknown op tag 7"},
		{"tile x beyond its zoom", []byte{0x92, 0x14, 0x96, 0x01, 0xa0, 0x02, 0x04, 0x00, 0x00}, CodeMalformed, "x: 4 is outside [0, 3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(tc.frame)
			var we Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a wire.Error", err)
			}
			if we.Code != tc.code || !strings.Contains(we.Message, tc.text) {
				t.Fatalf("got %v, want code %v containing %q", err, tc.code, tc.text)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    View
		code Code
		text string
	}{
		{"ok across antimeridian", View{Box: geo.BBox(170, -10, -170, 10), Zoom: 3}, 0, ""},
		{"NaN west", View{Box: geo.BBox(math.NaN(), 0, 1, 1)}, CodeInvalidPoint, "NaN"},
		{"lat out of range", View{Box: geo.BBox(0, -91, 1, 1)}, CodeInvalidPoint, "-91"},
		{"infinite east", View{Box: geo.BBox(0, 0, math.Inf(1), 1)}, CodeInvalidPoint, "+Inf"},
		{"inverted", View{Box: geo.BBox(0, 10, 1, 5)}, CodeInvalidBox, "south 10 is above north 5"},
		{"zoom", View{Box: geo.World, Zoom: 25}, CodeInvalidView, "zoom 25"},
		{"id", View{ID: 256, Box: geo.World}, CodeInvalidView, "256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate()
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var we Error
			if !errors.As(err, &we) || we.Code != tc.code || !strings.Contains(we.Message, tc.text) {
				t.Fatalf("got %v, want %v containing %q", err, tc.code, tc.text)
			}
		})
	}
	m := Marker{ID: "", Pos: geo.Pt(0, 0)}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty id: %v", err)
	}
	m = Marker{ID: "a", Pos: geo.Pt(200, 0)}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "200") {
		t.Errorf("lon 200: %v", err)
	}
}

// FuzzDecode feeds arbitrary frames to the decoder: it must never panic, and
// whatever it accepts must encode and decode back to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(must(Marshal(m)))
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x14})
	f.Add([]byte{0x92, 0x14, 0x97, 0xa1, 'a', 0xa0, 0, 0, 0, 0, 0x81, 0xa1, 'k', 0x91, 0x90})
	// Nesting just within MaxDepth, just past it, and far past it.
	for _, n := range []int{MaxDepth - 1, MaxDepth, 1000} {
		f.Add(helloWith(nestedArrays(n)))
	}
	for _, n := range []int{MaxDepth - 3, MaxDepth - 2, 1000} {
		f.Add(batchWith(opWithProp(nestedArrays(n))))
		f.Add(batchWith(opWithProp(append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, n), 0xc0))))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Unmarshal(frame)
		if err != nil {
			var we Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a wire.Error", err)
			}
			return
		}
		b, err := Marshal(m)
		if err != nil {
			return // e.g. props holding values the encoder refuses
		}
		m2, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-decoding %#v: %v", m, err)
		}
		b2, err := Marshal(m2)
		if err != nil || (len(b) != len(b2)) {
			t.Fatalf("unstable encoding of %#v", m)
		}
	})
}

// TestClusterOpLimits: a cluster op's id above 2^53 − 1 (what a JavaScript
// number holds exactly), a zoom or expansion zoom beyond geo.MaxZoom, and a
// short op are refused, naming the field and the value; extra trailing
// elements are skipped.
func TestClusterOpLimits(t *testing.T) {
	enc := NewEncoder()
	good := &Cluster{View: 1, ID: MaxClusterID, Z: 24, Count: 3, At: geo.Pt(1, 2), ExpansionZoom: 24}
	op := bytes.Clone(enc.ClusterOp(good))
	m, err := Unmarshal(append(AppendBatchHeader(nil, 1), op...))
	if err != nil || *m.(Batch).Ops[0].Cluster != *good {
		t.Fatalf("round trip: %v, %+v", err, m)
	}
	lone := &Marker{ID: "m", Layer: "cars", Pos: geo.Pt(1, 2), Version: 7}
	upsert, err := enc.Upsert(lone)
	if err != nil {
		t.Fatal(err)
	}
	extra := append([]byte{0x9a}, op[1:]...) // 10 elements: the marker, then one more
	extra = append(append(extra, upsert...), 0xa1, 'x')
	m, err = Unmarshal(append(AppendBatchHeader(nil, 1), extra...))
	if err != nil {
		t.Fatalf("with a marker and a trailing element: %v", err)
	}
	if got := *m.(Batch).Ops[0].Cluster; got.Marker == nil || !reflect.DeepEqual(*got.Marker, *lone) {
		t.Errorf("with a marker and a trailing element: %+v, want the marker %+v", got, lone)
	}
	for _, tc := range []struct {
		name string
		op   []byte
		text string
	}{
		{"id", bytes.Clone(enc.ClusterOp(&Cluster{ID: MaxClusterID + 1, ExpansionZoom: 1})), "cluster id: 9007199254740992 is outside"},
		{"zoom", bytes.Clone(enc.ClusterOp(&Cluster{Z: 25, ExpansionZoom: 1})), "cluster zoom: 25 is outside"},
		{"expansion", bytes.Clone(enc.ClusterOp(&Cluster{ExpansionZoom: 30})), "expansion zoom: 30 is outside"},
		{"short", []byte{0x97, 2, 0, 0, 0, 0, 0, 0}, "cluster op of 7 elements, want 8"},
	} {
		_, err := Unmarshal(append(AppendBatchHeader(nil, 1), tc.op...))
		if err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
		}
	}
}

// FuzzDecodeOps fuzzes the op decoder through a Batch frame.
func FuzzDecodeOps(f *testing.F) {
	enc := NewEncoder()
	op, _ := enc.Upsert(&paris)
	op = bytes.Clone(op) // the encoder's buffer is reused below
	f.Add(op)
	f.Add(bytes.Clone(enc.Remove("x")))
	f.Add(bytes.Clone(enc.ClusterOp(&Cluster{View: 2, ID: MaxClusterID, Z: 3, Count: 40, At: geo.Pt(2.35, 48.85), ExpansionZoom: 5})))
	f.Add(bytes.Clone(enc.TileOp(&TileChange{Layer: "d", Z: 3, X: 1, Y: 2, Version: 9})))
	// A cluster of count 1 carrying its marker (the 9th element).
	f.Add(bytes.Clone(enc.LoneClusterOp(&Cluster{View: 1, ID: 7, Z: 9, Count: 1, At: paris.Pos, ExpansionZoom: 16}, op)))
	for _, n := range []int{MaxDepth - 3, MaxDepth - 2, 1000} {
		f.Add(opWithProp(nestedArrays(n)))
		f.Add(opWithProp(append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, n), 0xc0)))
	}
	f.Fuzz(func(t *testing.T, op []byte) {
		m, err := Unmarshal(append(AppendBatchHeader(nil, 1), op...))
		if err == nil && len(m.(Batch).Ops) != 1 {
			t.Fatalf("one op decoded as %d", len(m.(Batch).Ops))
		}
	})
}

func TestValidateProps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]any
		text  string
	}{
		{"fine", map[string]any{"kind": "bus", "heading": 90, "speed": 12.5, "ok": true, "none": nil}, ""},
		{"empty name", map[string]any{"": 1}, "property name"},
		{"long name", map[string]any{strings.Repeat("k", 65): 1}, "65 bytes"},
		{"nested", map[string]any{"a": []any{1}}, "[]interface {}"},
	} {
		m := Marker{ID: "m", Pos: geo.Pt(0, 0), Props: tc.props}
		err := m.Validate()
		if (err == nil) != (tc.text == "") || (err != nil && !strings.Contains(err.Error(), tc.text)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
		}
	}
}

func TestWriteBatches(t *testing.T) {
	enc := NewEncoder()
	var ops [][]byte
	for i := range 100 {
		m := Marker{ID: strings.Repeat("x", i%7+1) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Pos: geo.Pt(1, 1)}
		op, _ := enc.Upsert(&m)
		ops = append(ops, bytes.Clone(op))
	}
	got := 0
	frames := 0
	_, err := WriteBatches(nil, ops, 300, func(f []byte) error {
		frames++
		m, err := Unmarshal(f)
		if err != nil {
			return err
		}
		got += len(m.(Batch).Ops)
		return nil
	})
	if err != nil || got != len(ops) || frames < 2 {
		t.Fatalf("%d ops in %d frames (%v), want %d in several", got, frames, err, len(ops))
	}
}

// TestLoneClusterOp: a cluster of count 1 goes with its marker, from the
// marker's upsert op as a store keeps it (LoneClusterOp) or from
// Cluster.Marker (ClusterOp), and comes back with it, props included; a
// marker whose props nest too deep to go one level down is left out,
// the cluster sent without it.
func TestLoneClusterOp(t *testing.T) {
	enc := NewEncoder()
	lone := &Marker{ID: "car-1", Layer: "cars", Pos: geo.Pt(2.45, 48.85), Version: 3, Time: 99,
		Props: map[string]any{"heading": 90.5, "name": "Alice"}}
	upsert, err := enc.Upsert(lone)
	if err != nil {
		t.Fatal(err)
	}
	upsert = bytes.Clone(upsert)
	cl := &Cluster{View: 2, ID: 5, Z: 11, Count: 1, At: lone.Pos, ExpansionZoom: 12}
	withMarker := *cl
	withMarker.Marker = lone
	for name, op := range map[string][]byte{
		"LoneClusterOp": bytes.Clone(enc.LoneClusterOp(cl, upsert)),
		"ClusterOp":     bytes.Clone(enc.ClusterOp(&withMarker)),
	} {
		m, err := Unmarshal(append(AppendBatchHeader(nil, 1), op...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := *m.(Batch).Ops[0].Cluster
		if got.Marker == nil || !reflect.DeepEqual(*got.Marker, *lone) {
			t.Errorf("%s: marker %+v, want %+v", name, got.Marker, lone)
		}
		got.Marker = nil
		if got != *cl {
			t.Errorf("%s: cluster %+v, want %+v", name, got, *cl)
		}
	}

	// Props nested as deep as a batch's upsert allows: one level too deep
	// inside a cluster op.
	var v any = 1
	for range MaxDepth - 3 {
		v = []any{v}
	}
	deep := &Marker{ID: "deep", Layer: "cars", Pos: geo.Pt(1, 1), Version: 1, Props: map[string]any{"v": v}}
	deepOp, err := enc.Upsert(deep)
	if err != nil {
		t.Fatalf("the deepest props a batch carries: %v", err)
	}
	deepOp = bytes.Clone(deepOp)
	withDeep := *cl
	withDeep.Marker = deep
	for name, op := range map[string][]byte{
		"LoneClusterOp": bytes.Clone(enc.LoneClusterOp(cl, deepOp)),
		"ClusterOp":     bytes.Clone(enc.ClusterOp(&withDeep)),
	} {
		m, err := Unmarshal(append(AppendBatchHeader(nil, 1), op...))
		if err != nil {
			t.Fatalf("%s, props too deep: %v", name, err)
		}
		if got := *m.(Batch).Ops[0].Cluster; got != *cl {
			t.Errorf("%s, props too deep: %+v, want the cluster without its marker %+v", name, got, *cl)
		}
	}
}
