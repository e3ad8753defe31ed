// Package mpack appends MessagePack values to byte slices by hand, for the
// hot paths that write a frame's or a feed item's skeleton without an
// encoder: the wire's frame headers and ops.
// Each function writes the shortest encoding the MessagePack spec allows,
// as vmihailenco/msgpack's encoder does.
package mpack

import "math"

// AppendArrayHeader appends the header of an array of n elements (fixarray,
// array 16 or array 32).
func AppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= 0xffff:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// AppendUint appends an unsigned integer.
func AppendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(dst, byte(v))
	case v <= 0xff:
		return append(dst, 0xcc, byte(v))
	case v <= 0xffff:
		return append(dst, 0xcd, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(dst, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return appendBE64(append(dst, 0xcf), v)
}

// AppendFixStr appends s, which must be shorter than 32 bytes, as a fixstr.
func AppendFixStr(dst []byte, s string) []byte {
	return append(append(dst, 0xa0|byte(len(s))), s...)
}

// AppendFloat64 appends f as a float 64.
func AppendFloat64(dst []byte, f float64) []byte {
	return appendBE64(append(dst, 0xcb), math.Float64bits(f))
}
