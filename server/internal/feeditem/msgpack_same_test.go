package feeditem

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/pushmap/pushmap/wire"
)

// mpBody writes MessagePack with the encoding of each value chosen, so
// that every code the decoder reads (each width of int, uint, str, map,
// array; float 32; bin and ext) appears in the seeds of the comparison
// with the reference decoder.
type mpBody struct{ b []byte }

// raw appends bytes as they are.
func (m *mpBody) raw(b ...byte) *mpBody { m.b = append(m.b, b...); return m }

// str appends s with the string header c (0xa0 for a fixstr, 0xd9, 0xda,
// 0xdb).
func (m *mpBody) str(c byte, s string) *mpBody {
	if c == 0xa0 {
		m.b = append(m.b, 0xa0|byte(len(s)))
	} else {
		m.b = append(m.b, c)
		m.b = appendBE(m.b, uint64(len(s)), map[byte]int{0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[c])
	}
	m.b = append(m.b, s...)
	return m
}

func appendBE(b []byte, v uint64, size int) []byte {
	for i := size - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// num appends a number with code c and value v (its bits for floats).
func (m *mpBody) num(c byte, v uint64) *mpBody {
	m.b = append(m.b, c)
	size := map[byte]int{0xcc: 1, 0xd0: 1, 0xcd: 2, 0xd1: 2, 0xce: 4, 0xd2: 4, 0xca: 4, 0xcf: 8, 0xd3: 8, 0xcb: 8}[c]
	m.b = appendBE(m.b, v, size)
	return m
}

// head appends a map or array header: code 0x80 or 0x90 for the fixed
// ones, or 0xdc to 0xdf.
func (m *mpBody) head(c byte, n int) *mpBody {
	switch c {
	case 0x80, 0x90:
		m.b = append(m.b, c|byte(n))
	case 0xdc, 0xde:
		m.b = appendBE(append(m.b, c), uint64(n), 2)
	default:
		m.b = appendBE(append(m.b, c), uint64(n), 4)
	}
	return m
}

func i64(v int64) uint64 { return uint64(v) }

// sameSeeds are bodies that go through every branch of the decoder.
func sameSeeds() [][]byte {
	var seeds [][]byte
	add := func(m *mpBody) { seeds = append(seeds, m.b) }

	// One item with each field in a different encoding, props of every
	// scalar type, and the wrong types in props.
	m := &mpBody{}
	m.head(0xde, 9).str(0xd9, "id").str(0xda, "bus-1").
		str(0xdb, "layer").str(0xd9, "vehicles").
		str(0xa0, "lon").num(0xca, uint64(math.Float32bits(2.5))).
		str(0xa0, "lat").num(0xd0, i64(-45)).
		str(0xa0, "version").num(0xcd, 300).
		str(0xa0, "time").num(0xd2, i64(-7)).
		str(0xa0, "ttl").num(0xcc, 30).
		str(0xa0, "remove").raw(0xc2).
		str(0xa0, "props").head(0xde, 18).
		str(0xa0, "i8").num(0xd0, i64(-3)).str(0xa0, "i16").num(0xd1, i64(-300)).
		str(0xa0, "i32").num(0xd2, i64(-70000)).str(0xa0, "i64").num(0xd3, i64(math.MinInt64)).
		str(0xa0, "u8").num(0xcc, 200).str(0xa0, "u16").num(0xcd, 60000).
		str(0xa0, "u32").num(0xce, 4e9).str(0xa0, "u64").num(0xcf, math.MaxUint64).
		str(0xa0, "u63").num(0xcf, math.MaxInt64).
		str(0xa0, "f32").num(0xca, uint64(math.Float32bits(1.1))).str(0xa0, "f64").num(0xcb, math.Float64bits(-0.1)).
		str(0xdb, "s8").str(0xd9, "x").str(0xda, "s16").str(0xda, "yy").str(0xa0, "s32").str(0xdb, "").
		str(0xa0, "nil").raw(0xc0).str(0xa0, "t").raw(0xc3).str(0xa0, "f").raw(0xc2).
		str(0xa0, "neg").raw(0xff)
	add(m)
	// The same in an array of each width, with other items around.
	for _, h := range []byte{0x90, 0xdc, 0xdd} {
		a := (&mpBody{}).head(h, 3).raw(m.b...).
			head(0x80, 3).str(0xa0, "id").num(0xd3, i64(-9)).str(0xa0, "lon").raw(0x05).str(0xa0, "lat").num(0xcb, math.Float64bits(1.5)).
			head(0xdf, 4).str(0xa0, "id").num(0xcf, math.MaxUint64).str(0xa0, "lon").num(0xd1, i64(-100)).
			str(0xa0, "lat").num(0xd3, i64(3)).str(0xa0, "time").num(0xcf, 1<<40)
		add(a)
	}
	// Wrong types, nil values, duplicate keys, bad keys, bad items.
	bad := (&mpBody{}).head(0x90, 12).
		head(0x80, 4).str(0xa0, "id").raw(0xc0).str(0xa0, "id").str(0xa0, "dup").str(0xa0, "layer").raw(0xc0).str(0xa0, "props").raw(0xc0).
		head(0x80, 3).str(0xa0, "id").str(0xc4, "bin").str(0xa0, "lon").raw(0xc3).str(0xa0, "lat").raw(0xc0).
		head(0x80, 4).str(0xa0, "id").num(0xcc, 7).str(0xa0, "version").num(0xd1, i64(-2)).str(0xa0, "time").num(0xcf, math.MaxUint64).str(0xa0, "remove").raw(0xc0).
		head(0x80, 3).str(0xa0, "id").raw(0xd4, 1, 2).str(0xa0, "layer").raw(0x91, 0x01).str(0xa0, "version").num(0xcb, 0).
		head(0x80, 3).raw(0x01, 0x02).str(0xa0, "id").str(0xa0, "k").str(0xd9, "speed").raw(0x93, 1, 2, 3).
		head(0x80, 2).str(0xa0, "id").str(0xa0, "p").str(0xa0, "props").head(0x80, 4).
		raw(0x01, 0x02).str(0xa0, "a").raw(0x91, 0x01).str(0xa0, "b").str(0xc5, "bin").str(0xa0, "c").raw(0xc7, 1, 5, 0).
		head(0x80, 2).str(0xa0, "id").str(0xa0, "r").str(0xa0, "remove").raw(0xc3).
		head(0x80, 3).str(0xa0, "id").str(0xa0, "t").str(0xa0, "time").raw(0xca, 0, 0, 0, 0).str(0xa0, "ttl").str(0xa0, "x").
		raw(0x05).raw(0xc0).str(0xa0, "s").raw(0x92, 0x80, 0x90)
	add(bad)
	// Long keys and layers, layers that alternate, a long id.
	long := (&mpBody{}).head(0x90, 4)
	for _, l := range []string{"a", "a", string(bytes.Repeat([]byte("L"), 40)), "b"} {
		long.head(0x80, 4).str(0xa0, "id").str(0xd9, string(bytes.Repeat([]byte("i"), 70))).str(0xa0, "layer").str(0xd9, l).
			str(0xa0, "lon").raw(1).str(0xa0, "lat").raw(2)
	}
	add(long)
	add((&mpBody{}).head(0x80, 1).str(0xd9, string(bytes.Repeat([]byte("k"), 50))).raw(0x01))
	// Bodies cut inside a header or a value, codes never used, deep
	// nesting, trailing data, not a map.
	add((&mpBody{}).raw(0x91, 0x81, 0xa3, 'l', 'o', 'n', 0xd0))
	add((&mpBody{}).raw(0x81, 0xa2, 'i', 'd', 0xdb, 0, 0, 0, 9, 'a'))
	add((&mpBody{}).raw(0x81, 0xa5, 'l', 'a', 'y', 'e', 'r', 0xd9, 9, 'a'))
	add((&mpBody{}).raw(0x81, 0xd9, 9, 'i', 'd'))
	add((&mpBody{}).raw(0x82, 0xa2, 'i', 'd', 0xc1, 0xc1, 0xc1))
	add((&mpBody{}).raw(0x91, 0xc1))
	add((&mpBody{}).raw(0xdd, 0xff, 0xff, 0xff, 0xff, 0x80))
	add((&mpBody{}).raw(0x80, 0x80))
	add((&mpBody{}).raw(0xc1))
	add((&mpBody{}).raw(0x90))
	seeds = append(seeds, msgpackDeepProp(wire.MaxDepth-3, 0x91), msgpackDeepProp(wire.MaxDepth-2, 0x81, 0xa1, 'k'))
	return seeds
}

// mutate changes body in one of a few ways chosen by r: a byte replaced
// (often by a code that changes the structure), bytes cut or inserted.
func mutate(r *rand.Rand, body []byte) []byte {
	b := bytes.Clone(body)
	if len(b) == 0 {
		return append(b, byte(r.IntN(256)))
	}
	interesting := []byte{0x00, 0x7f, 0x80, 0x81, 0x90, 0x91, 0xa0, 0xa2, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xca, 0xcb,
		0xcc, 0xcf, 0xd0, 0xd3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff}
	for range 1 + r.IntN(3) {
		i := r.IntN(len(b))
		switch r.IntN(5) {
		case 0:
			b[i] = byte(r.IntN(256))
		case 1:
			b[i] = interesting[r.IntN(len(interesting))]
		case 2:
			b = b[:i]
		case 3:
			b = append(b[:i], b[min(i+1+r.IntN(4), len(b)):]...)
		default:
			b = append(b[:i], append([]byte{interesting[r.IntN(len(interesting))]}, b[i:]...)...)
		}
		if len(b) == 0 {
			break
		}
	}
	return b
}

// sameAsReference fails t when DecodeMsgpack and referenceDecodeMsgpack
// differ on body: in updates, or in errors down to their kind, text,
// offset and listed items. An item with several bad props is refused for
// the first one met in map order, which Go varies from run to run: the
// reference decodes again until it gives the same or 200 runs have passed.
func sameAsReference(t *testing.T, body []byte, maxItems int) {
	t.Helper()
	got, gotErr := DecodeMsgpack(body, maxItems)
	want, wantErr := referenceDecodeMsgpack(body, maxItems)
	for range 200 {
		if reflect.DeepEqual(gotErr, wantErr) {
			break
		}
		want, wantErr = referenceDecodeMsgpack(body, maxItems)
	}
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("body % x, max %d:\nerror  %#v\nwanted %#v", body, maxItems, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body % x, max %d:\nupdates %#v\nwanted  %#v", body, maxItems, got, want)
	}
}

// TestDecodeMsgpackSameAsReference: the decoder that reads the body by
// hand gives what the decoder built on msgpack.Decoder gave, for every
// seed, every seed cut at every byte, and mutations of them.
func TestDecodeMsgpackSameAsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	for _, seed := range sameSeeds() {
		for _, max := range []int{0, 2} {
			sameAsReference(t, seed, max)
		}
		for n := range len(seed) {
			sameAsReference(t, seed[:n], 0)
		}
		for range 2000 {
			sameAsReference(t, mutate(r, seed), 0)
		}
	}
}

// FuzzDecodeMsgpackSameAsReference: the same comparison on bodies the
// fuzzer finds.
func FuzzDecodeMsgpackSameAsReference(f *testing.F) {
	for _, seed := range sameSeeds() {
		f.Add(seed, 0)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxItems int) {
		sameAsReference(t, body, max(maxItems%64, 0))
	})
}
