package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

// nestedArrays returns n arrays of one element around nil: 0x91 × n, 0xc0.
func nestedArrays(n int) []byte {
	return append(bytes.Repeat([]byte{0x91}, n), 0xc0)
}

// helloWith returns a hello frame [1, 1, "", [], 0, 0, extra]: extra is a field a
// newer client might add, which the decoder skips.
func helloWith(extra []byte) []byte {
	return append([]byte{0x97, 0x01, 0x01, 0xa0, 0x90, 0x00, 0x00}, extra...)
}

// opWithProp returns a marker upsert op whose prop "k" is value.
func opWithProp(value []byte) []byte {
	op := []byte{0x97, 0xa1, 'a', 0xa0, 0, 0, 0, 0, 0x81, 0xa1, 'k'}
	return append(op, value...)
}

// batchWith returns a batch frame holding op.
func batchWith(op []byte) []byte { return append(AppendBatchHeader(nil, 1), op...) }

// TestDecodeDepthLimit: arrays and maps may nest MaxDepth levels in a
// frame, counting the message's array; one more is malformed, with the
// limit named. 8 million levels in a hello (what overflowed the stack of
// msgpack's recursive Skip) are refused the same way.
func TestDecodeDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frame  func(depth int) []byte
		levels int // levels the frame adds around the nested value
	}{
		{"hello extra field", func(n int) []byte { return helloWith(nestedArrays(n)) }, 1},
		{"view extra field", func(n int) []byte {
			return append([]byte{0x98, 0x02, 0x00, 0, 0, 0, 0, 0}, nestedArrays(n)...)
		}, 1},
		{"marker prop value", func(n int) []byte { return batchWith(opWithProp(nestedArrays(n))) }, 3},
		{"marker extra field", func(n int) []byte {
			op := []byte{0x98, 0xa1, 'a', 0xa0, 0, 0, 0, 0, 0xc0}
			return batchWith(append(op, nestedArrays(n)...))
		}, 2},
		{"reset view extra field", func(n int) []byte {
			return append([]byte{0x93, 0x13, 0x00, 0x91, 0x98, 0, 0, 0, 0, 0, 0, 0}, nestedArrays(n)...)
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := MaxDepth - tc.levels
			if _, err := Unmarshal(tc.frame(ok)); err != nil {
				t.Fatalf("%d levels in all: %v", MaxDepth, err)
			}
			for _, depth := range []int{ok + 1, 8 << 20} {
				_, err := Unmarshal(tc.frame(depth))
				var we Error
				if !errors.As(err, &we) || we.Code != CodeMalformed || !strings.Contains(we.Message, "nested deeper than 32 levels") {
					t.Fatalf("%d levels: %v, want malformed naming the limit", depth+tc.levels, err)
				}
			}
		})
	}
	// Maps nest as arrays do.
	deepMaps := append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, MaxDepth-3+1), 0xc0)
	if _, err := Unmarshal(batchWith(opWithProp(deepMaps))); err == nil || !strings.Contains(err.Error(), "nested deeper than 32") {
		t.Fatalf("maps one level too deep in a prop: %v", err)
	}
}

// TestNestedPropsRoundTrip: nested prop values within the limit decode as
// before (integers as int64).
func TestNestedPropsRoundTrip(t *testing.T) {
	m := Marker{ID: "a", Pos: geo.Pt(1, 2), Version: 3, Props: map[string]any{
		"list": []any{int64(1), "x", []any{true}}, "map": map[string]any{"k": -2.5}}}
	got, err := Unmarshal(must(Marshal(Batch{Ops: []Op{{Marker: m}}})))
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(Batch).Ops[0].Marker.Props; !reflect.DeepEqual(p, m.Props) {
		t.Fatalf("props %#v, want %#v", p, m.Props)
	}
}

// TestServerDecoderRefusesServerTypes: a client sending a server-to-client
// type gets unknown_type, not malformed, however its fields look; a
// client's decoder still decodes them.
func TestServerDecoderRefusesServerTypes(t *testing.T) {
	frames := [][]byte{
		{0x91, 0x14},             // batch, empty: well formed
		{0x92, 0x14, 0x05},       // batch of a bad op
		{0x91, 0x10},             // welcome without its fields
		{0x93, 0x15, 0x01, 0xc3}, // error with a bad message
		must(Marshal(Welcome{Version: 1})),
		{0x92, 0x16, 0x01}, // refresh_ack
		{0x92, 0x17, 0x00}, // more
	}
	for _, f := range frames {
		_, err := NewServerDecoder().Decode(f)
		var we Error
		if !errors.As(err, &we) || we.Code != CodeUnknownType || !strings.Contains(we.Message, "sent by servers") {
			t.Errorf("% x: %v, want unknown_type", f, err)
		}
	}
	if _, err := NewDecoder().Decode(frames[0]); err != nil {
		t.Errorf("a client's decoder refused a batch: %v", err)
	}
	for _, m := range []Message{Hello{Version: 1}, View{ID: 1, Box: geo.World}, Unview{ID: 2}, Layers{Layers: []string{"a"}}, Refresh{Token: "t"}} {
		if _, err := NewServerDecoder().Decode(must(Marshal(m))); err != nil {
			t.Errorf("%v: %v", m.Type(), err)
		}
	}
}

// TestClientDecoderRefusesClientTypes: a server sending a
// client-to-server type to a client's Decoder gets unknown_type, however
// its fields look, while the replies decode as with NewDecoder.
func TestClientDecoderRefusesClientTypes(t *testing.T) {
	frames := [][]byte{
		{0x91, 0x01},       // hello without its fields
		{0x92, 0x03, 0xc1}, // unview of a never-used byte
	}
	for _, m := range []Message{Hello{Version: 1}, View{ID: 1, Box: geo.World}, Unview{ID: 2}, Layers{Layers: []string{"a"}}, Refresh{Token: "t"}} {
		frames = append(frames, must(Marshal(m)))
	}
	for _, f := range frames {
		_, err := NewClientDecoder().Decode(f)
		var we Error
		if !errors.As(err, &we) || we.Code != CodeUnknownType || !strings.Contains(we.Message, "sent by clients") {
			t.Errorf("% x: %v, want unknown_type", f, err)
		}
	}
	for _, m := range []Message{Welcome{Version: 1}, Batch{Ops: []Op{{Remove: true, Marker: Marker{ID: "a"}}}}, UnviewAck{ID: 3},
		Error{Code: CodeRateLimited, Message: "slow"}, RefreshAck{Expires: 5}, More{Remaining: 1}} {
		f := must(Marshal(m))
		got, err := NewClientDecoder().Decode(f)
		if err != nil {
			t.Errorf("%v: %v", m.Type(), err)
			continue
		}
		want, _ := NewDecoder().Decode(f)
		if again := must(Marshal(got)); string(again) != string(must(Marshal(want))) {
			t.Errorf("%v: the client's decoder gave % x, NewDecoder % x", m.Type(), again, must(Marshal(want)))
		}
	}
}

// TestDecodeHugeUintReportsItsValue: a uint64 view id beyond int64 is
// reported with its value, not wrapped to -1.
func TestDecodeHugeUintReportsItsValue(t *testing.T) {
	frame := []byte{0x92, 0x03, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	_, err := Unmarshal(frame)
	if err == nil || !strings.Contains(err.Error(), "18446744073709551615 is outside [0, 65536]") {
		t.Fatalf("got %v, want the id's real value", err)
	}
	frame = []byte{0x92, 0x03, 0xcf, 0, 0, 0, 0x01, 0, 0, 0, 0}
	if _, err := Unmarshal(frame); err == nil || !strings.Contains(err.Error(), "4294967296 is outside") {
		t.Fatalf("got %v", err)
	}
}

// TestDecodeRefusesInvalidUTF8: ids, layers and property names must be
// UTF-8, in every message that carries them.
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	bad := []byte{0xa2, 0xff, 'x'}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"hello layer", append([]byte{0x94, 0x01, 0x01, 0xa0, 0x91}, bad...)},
		{"layers message", append([]byte{0x92, 0x04, 0x91}, bad...)},
		{"marker id", batchWith(append([]byte{0x95}, append(bad, 0xa0, 0, 0, 0)...))},
		{"marker layer", batchWith(append([]byte{0x95, 0xa1, 'a'}, append(bad, 0, 0, 0)...))},
		{"remove id", batchWith(bad)},
		{"prop name", batchWith(append([]byte{0x97, 0xa1, 'a', 0xa0, 0, 0, 0, 0, 0x81}, append(bad, 0x01)...))},
	} {
		_, err := Unmarshal(tc.frame)
		if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("%s: %v, want a UTF-8 error", tc.name, err)
		}
	}
}

// TestEncodeShortestIntegers: integer props take their shortest form, as
// the docs say, and come back as int64 (uint64 only beyond int64).
func TestEncodeShortestIntegers(t *testing.T) {
	enc := NewEncoder()
	base := Marker{ID: "a", Pos: geo.Pt(0, 0), Version: 1, Time: 1}
	size := func(v any) int {
		m := base
		m.Props = map[string]any{"k": v}
		op, err := enc.Upsert(&m)
		if err != nil {
			t.Fatal(err)
		}
		return len(op)
	}
	header := size(nil) - 1 // everything but the value
	for _, tc := range []struct {
		v    any
		size int
	}{
		{int64(90), 1}, {90, 1}, {int64(-5), 1}, {int64(200), 2}, {int64(-200), 3}, {int32(70000), 5},
		{int64(1764102345123456789), 9}, {uint64(math.MaxUint64), 9}, {uint8(7), 1},
	} {
		if got := size(tc.v) - header; got != tc.size {
			t.Errorf("%T %v takes %d bytes, want %d", tc.v, tc.v, got, tc.size)
		}
	}
	props := map[string]any{"small": int64(90), "neg": int64(-3), "big": int64(1764102345123456789),
		"huge": uint64(math.MaxUint64), "f": 2.5}
	m := base
	m.Props = props
	got, err := Unmarshal(must(Marshal(Batch{Ops: []Op{{Marker: m}}})))
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(Batch).Ops[0].Marker.Props; !reflect.DeepEqual(p, props) {
		t.Fatalf("props %#v, want %#v", p, props)
	}
}

// TestValidatePropSizes: a string value over MaxPropLen, or props over
// MaxPropsBytes in all, are refused with the sizes named; the limits
// themselves pass.
func TestValidatePropSizes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]any
		text  string
	}{
		{"value at the limit", map[string]any{"x": strings.Repeat("a", MaxPropLen)}, ""},
		{"5 MB value", map[string]any{"x": strings.Repeat("a", 5<<20)}, `prop "x" is 5242880 bytes, at most 4096 allowed`},
		{"one byte over", map[string]any{"x": strings.Repeat("a", MaxPropLen+1)}, "is 4097 bytes"},
		{"props over the limit", map[string]any{"a": strings.Repeat("a", 4000), "b": strings.Repeat("b", 4000), "c": strings.Repeat("c", 200)},
			"props are 8215 bytes as MessagePack, at most 8192 allowed"},
		{"props within", map[string]any{"a": strings.Repeat("a", 4000), "b": strings.Repeat("b", 4000), "c": 5}, ""},
		{"invalid UTF-8 value", map[string]any{"x": "a\xffb"}, "not valid UTF-8"},
		{"invalid UTF-8 name", map[string]any{"\xfe": 1}, "not valid UTF-8"},
	} {
		m := Marker{ID: "m", Pos: geo.Pt(0, 0), Props: tc.props}
		err := m.Validate()
		if (err == nil) != (tc.text == "") || (err != nil && !strings.Contains(err.Error(), tc.text)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.text)
		}
	}
	for _, m := range []Marker{{ID: "a\xff", Pos: geo.Pt(0, 0)}, {ID: "a", Layer: "\xc3", Pos: geo.Pt(0, 0)}} {
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("%q/%q: %v", m.ID, m.Layer, err)
		}
	}
}

// TestValueLen checks the skip the server's MessagePack feeds use: a
// value's length, nesting past the limit refused without recursion, a
// value cut short.
func TestValueLen(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 40), 0x01) // [[[…[1]…]]], 40 deep
	cases := []struct {
		name    string
		b       []byte
		depth   int
		want    int
		wantErr error
	}{
		{"scalar", []byte{0x2a, 0xff}, 0, 1, nil},
		{"array of two", []byte{0x92, 0x01, 0xa1, 'x', 0xc0}, 1, 4, nil},
		{"map", []byte{0x81, 0xa1, 'k', 0x91, 0x02}, 2, 5, nil},
		{"too deep", deep, 32, 0, ErrTooDeep},
		{"deep enough", deep, 40, len(deep), nil},
		{"cut short", []byte{0x93, 0x01}, 1, 0, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		n, err := ValueLen(c.b, c.depth)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s: ValueLen = %d, %v; want an error wrapping %v", c.name, n, err, c.wantErr)
			}
			continue
		}
		if err != nil || n != c.want {
			t.Errorf("%s: ValueLen = %d, %v; want %d", c.name, n, err, c.want)
		}
	}
}
