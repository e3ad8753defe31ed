package mpack

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The hand-written Reader and appends replaced msgpack/v5 in the wire: they
// must write the very bytes msgpack/v5 writes with compact integers, and
// read back what it writes, at every boundary of every form.
func TestSameBytesAsMsgpack(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, v := range ints {
		want := encode(t, func(e *msgpack.Encoder) error { return e.EncodeInt(v) })
		if got := AppendInt(nil, v); !bytes.Equal(got, want) {
			t.Errorf("AppendInt(%d) = % x, msgpack writes % x", v, got, want)
		}
		r := Reader{}
		r.Reset(want)
		if got, err := r.Int(); err != nil || got != v {
			t.Errorf("Int of % x = %d, %v; want %d", want, got, err, v)
		}
	}
	if got, want := AppendUint(nil, math.MaxUint64), encode(t, func(e *msgpack.Encoder) error { return e.EncodeUint(math.MaxUint64) }); !bytes.Equal(got, want) {
		t.Errorf("AppendUint(max) = % x, msgpack writes % x", got, want)
	}
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("é", n/2) + strings.Repeat("a", n%2)
		want := encode(t, func(e *msgpack.Encoder) error { return e.EncodeString(s) })
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString of %d bytes differs from msgpack's", len(s))
		}
		r := Reader{}
		r.Reset(want)
		if got, err := r.String(); err != nil || got != s {
			t.Errorf("String of %d bytes: %v", len(s), err)
		}
		wantMap := encode(t, func(e *msgpack.Encoder) error { return e.EncodeMapLen(n) })
		if got := AppendMapHeader(nil, n); !bytes.Equal(got, wantMap) {
			t.Errorf("AppendMapHeader(%d) = % x, msgpack writes % x", n, got, wantMap)
		}
		r.Reset(wantMap)
		if got, err := r.MapLen(); err != nil || got != n {
			t.Errorf("MapLen(% x) = %d, %v", wantMap, got, err)
		}
		wantArr := encode(t, func(e *msgpack.Encoder) error { return e.EncodeArrayLen(n) })
		r.Reset(wantArr)
		if got, err := r.ArrayLen(); err != nil || got != n {
			t.Errorf("ArrayLen(% x) = %d, %v", wantArr, got, err)
		}
	}
	for _, f := range []float64{0, -1.5, math.Inf(1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want := encode(t, func(e *msgpack.Encoder) error { return e.EncodeFloat64(f) })
		if got := AppendFloat64(nil, f); !bytes.Equal(got, want) {
			t.Errorf("AppendFloat64(%g) = % x, msgpack writes % x", f, got, want)
		}
		r := Reader{}
		r.Reset(want)
		if got, err := r.Float(); err != nil || got != f {
			t.Errorf("Float(% x) = %g, %v", want, got, err)
		}
	}
	want32 := encode(t, func(e *msgpack.Encoder) error { return e.EncodeFloat32(2.5) })
	if got := AppendFloat32(nil, 2.5); !bytes.Equal(got, want32) {
		t.Errorf("AppendFloat32 = % x, msgpack writes % x", got, want32)
	}
	for _, v := range []bool{false, true} {
		want := encode(t, func(e *msgpack.Encoder) error { return e.EncodeBool(v) })
		if got := AppendBool(nil, v); !bytes.Equal(got, want) {
			t.Errorf("AppendBool(%v) = % x, msgpack writes % x", v, got, want)
		}
	}
}

// Scalar gives the Go types msgpack's DecodeInterfaceLoose gives.
func TestScalarTypes(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want any
	}{{nil, nil}, {true, true}, {int8(-5), int64(-5)}, {int64(-300), int64(-300)}, {uint64(300), uint64(300)},
		{float32(1.5), 1.5}, {2.25, 2.25}, {"hé", "hé"}, {[]byte("raw"), "raw"}} {
		b, err := msgpack.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		r := Reader{}
		r.Reset(b)
		got, err := r.Scalar()
		if err != nil || got != tc.want {
			t.Errorf("Scalar(% x) = %#v, %v; want %#v", b, got, err, tc.want)
		}
	}
	r := Reader{}
	r.Reset([]byte{0xcd, 1}) // uint 16 cut short
	if _, err := r.Uint(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a cut integer: %v, want io.ErrUnexpectedEOF", err)
	}
	r.Reset([]byte{0xd4, 1, 2}) // fixext 1
	if _, err := r.Scalar(); err == nil || !strings.Contains(err.Error(), "0xd4") {
		t.Errorf("an extension: %v, want an error naming its code", err)
	}
}

func encode(t *testing.T, f func(*msgpack.Encoder) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseCompactInts(true)
	if err := f(e); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
