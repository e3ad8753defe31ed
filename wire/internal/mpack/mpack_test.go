package mpack

import (
	"bytes"
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestSameAsEncoder: every function writes what vmihailenco/msgpack's
// encoder writes for the same value, at each size boundary.
func TestSameAsEncoder(t *testing.T) {
	encode := func(f func(*msgpack.Encoder) error) []byte {
		var b bytes.Buffer
		if err := f(msgpack.NewEncoder(&b)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, n := range []int{0, 15, 16, 0xffff, 0x10000} {
		if got, want := AppendArrayHeader(nil, n), encode(func(e *msgpack.Encoder) error { return e.EncodeArrayLen(n) }); !bytes.Equal(got, want) {
			t.Errorf("array of %d: % x, want % x", n, got, want)
		}
	}
	for _, v := range []uint64{0, 127, 128, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, math.MaxUint64} {
		if got, want := AppendUint(nil, v), encode(func(e *msgpack.Encoder) error { return e.EncodeUint(v) }); !bytes.Equal(got, want) {
			t.Errorf("uint %d: % x, want % x", v, got, want)
		}
	}
	for _, s := range []string{"", "id", "0123456789012345678901234567890"} {
		if got, want := AppendFixStr(nil, s), encode(func(e *msgpack.Encoder) error { return e.EncodeString(s) }); !bytes.Equal(got, want) {
			t.Errorf("str %q: % x, want % x", s, got, want)
		}
	}
	for _, f := range []float64{0, 2.3522, -180, math.MaxFloat64} {
		if got, want := AppendFloat64(nil, f), encode(func(e *msgpack.Encoder) error { return e.EncodeFloat64(f) }); !bytes.Equal(got, want) {
			t.Errorf("float %g: % x, want % x", f, got, want)
		}
	}
}
