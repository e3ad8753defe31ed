package mpack

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// nested returns depth arrays of one element around nil: 0x91 × depth, 0xc0.
func nested(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

// TestSkipLenAgreesWithMsgpack: SkipLen measures every kind of value as
// msgpack's decoder reads it, so that what follows is read right.
func TestSkipLenAgreesWithMsgpack(t *testing.T) {
	values := []any{
		nil, true, false, 0, 127, -1, -32, -33, 200, -200, 70000, -70000, int64(math.MaxInt64), uint64(math.MaxUint64),
		float32(1.5), 2.25, "", "id", strings.Repeat("s", 40), strings.Repeat("s", 300), strings.Repeat("s", 70000),
		[]byte{1, 2, 3}, make([]byte, 300), make([]byte, 70000), time.Unix(1700000000, 5),
		[]any{}, []any{1, "a", []any{nil}}, make([]any, 20), make([]any, 70000),
		map[string]any{}, map[string]any{"a": 1, "b": []any{map[string]any{"c": true}}},
		map[string]any{"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9, "10": 10, "11": 11, "12": 12, "13": 13, "14": 14, "15": 15, "16": 16},
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, 0xc3) // what follows the value
		n, err := SkipLen(b, 32)
		if err != nil || n != len(b)-1 {
			t.Errorf("%.40v: SkipLen = %d, %v; want %d", v, n, err, len(b)-1)
		}
		for cut := 0; cut < len(b)-1; cut += 1 + cut/3 {
			if _, err := SkipLen(b[:cut], 32); !errors.Is(err, ErrShort) {
				t.Errorf("%.40v cut at %d of %d: %v, want ErrShort", v, cut, len(b)-1, err)
			}
		}
	}
	for _, code := range []byte{0xd4, 0xd5, 0xd6, 0xd7, 0xd8} {
		b := append([]byte{code, 1}, make([]byte, 1<<(code-0xd4))...)
		if n, err := SkipLen(b, 0); err != nil || n != len(b) {
			t.Errorf("fixext 0x%02x: %d, %v; want %d", code, n, err, len(b))
		}
	}
	for _, b := range [][]byte{{0xc7, 2, 9, 1, 2}, {0xc8, 0, 2, 9, 1, 2}, {0xc9, 0, 0, 0, 2, 9, 1, 2}} {
		if n, err := SkipLen(b, 0); err != nil || n != len(b) {
			t.Errorf("ext % x: %d, %v; want %d", b, n, err, len(b))
		}
	}
	if _, err := SkipLen([]byte{0xc1}, 32); err == nil || !strings.Contains(err.Error(), "0xc1") {
		t.Errorf("code 0xc1: %v, want an error naming it", err)
	}
}

// TestSkipLenDepth: maxDepth levels pass, one more is refused with the
// limit named, and 8 million levels (what crashed msgpack's Skip) are
// refused without a deep stack.
func TestSkipLenDepth(t *testing.T) {
	for _, limit := range []int{0, 1, 32, 40, 100} {
		b := nested(limit)
		if n, err := SkipLen(b, limit); err != nil || n != len(b) {
			t.Errorf("depth %d, limit %d: %d, %v", limit, limit, n, err)
		}
		var de *DepthError
		if _, err := SkipLen(nested(limit+1), limit); !errors.As(err, &de) || de.Limit != limit {
			t.Errorf("depth %d, limit %d: %v, want a DepthError", limit+1, limit, err)
		}
	}
	maps := append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 32), 0xc0)
	if n, err := SkipLen(maps, 32); err != nil || n != len(maps) {
		t.Errorf("32 maps: %d, %v", n, err)
	}
	_, err := SkipLen(nested(8<<20), 32)
	if err == nil || err.Error() != "nested deeper than 32 levels" {
		t.Errorf("8 million levels: %v", err)
	}
	// A wide array is not deep: a million elements at depth 1.
	wide := append([]byte{0xdd, 0, 0x0f, 0x42, 0x40}, bytes.Repeat([]byte{0x90}, 1000000)...)
	if n, err := SkipLen(wide, 1); err == nil {
		t.Errorf("a million empty arrays in an array passed a limit of 1: %d", n)
	}
	if n, err := SkipLen(wide, 2); err != nil || n != len(wide) {
		t.Errorf("a million empty arrays in an array, limit 2: %d, %v", n, err)
	}
}

// TestSkipLenRefusesHugeLengths: a header announcing more elements than
// bytes left is short data, found before any work.
func TestSkipLenRefusesHugeLengths(t *testing.T) {
	for _, b := range [][]byte{{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}, {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}} {
		if _, err := SkipLen(b, 32); !errors.Is(err, ErrShort) {
			t.Errorf("% x: %v, want ErrShort", b, err)
		}
	}
}

func BenchmarkSkipLen(b *testing.B) {
	v, _ := msgpack.Marshal(map[string]any{"id": "v1234", "layer": "vehicles", "props": map[string]any{"kind": "car", "heading": 90, "tags": []any{"a", "b"}}})
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SkipLen(v, 32); err != nil {
			b.Fatal(err)
		}
	}
}
