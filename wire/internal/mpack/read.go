package mpack

import (
	"errors"
	"io"
	"math"
	"strconv"
)

// A Reader reads MessagePack values from a byte slice in place, as
// vmihailenco/msgpack's Decoder does for the types it names (same codes
// accepted, same conversions), without reflection or fmt: it is what the
// wire's decoder is built on, in the server and in the browser client,
// where msgpack/v5 and fmt would add about 350 KB of brotli to the .wasm.
// A value cut short gives io.ErrUnexpectedEOF.
type Reader struct {
	b []byte
	i int
}

// Reset makes r read b from its start.
func (r *Reader) Reset(b []byte) { r.b, r.i = b, 0 }

// Len returns the bytes not read yet.
func (r *Reader) Len() int { return len(r.b) - r.i }

// Rest returns the bytes not read yet, without consuming them.
func (r *Reader) Rest() []byte { return r.b[r.i:] }

// Skip consumes n bytes.
func (r *Reader) Skip(n int) error {
	if n < 0 || n > r.Len() {
		return io.ErrUnexpectedEOF
	}
	r.i += n
	return nil
}

// Peek returns the code of the next value without consuming it.
func (r *Reader) Peek() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	return r.b[r.i], nil
}

func (r *Reader) code() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *Reader) n(size int) ([]byte, error) {
	if size > r.Len() {
		return nil, io.ErrUnexpectedEOF
	}
	p := r.b[r.i : r.i+size]
	r.i += size
	return p, nil
}

func (r *Reader) be(size int) (uint64, error) {
	p, err := r.n(size)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, b := range p {
		v = v<<8 | uint64(b)
	}
	return v, nil
}

// CodeError says that a value of another type was found.
type CodeError struct {
	Code byte
	Want string // what was being decoded
}

func (e *CodeError) Error() string {
	return "invalid code=0x" + strconv.FormatUint(uint64(e.Code), 16) + " decoding " + e.Want
}

// IsUint reports whether c opens an unsigned integer: a positive fixint or
// uint 8 to 64.
func IsUint(c byte) bool { return c <= 0x7f || (c >= 0xcc && c <= 0xcf) }

// IsString reports whether c opens a str (or, as msgpack reads them, a bin).
func IsString(c byte) bool {
	return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb) || (c >= 0xc4 && c <= 0xc6)
}

// IsStr reports whether c opens a str (not a bin).
func IsStr(c byte) bool { return (c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb) }

// IsArray reports whether c opens an array.
func IsArray(c byte) bool { return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd }

// IsMap reports whether c opens a map.
func IsMap(c byte) bool { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf }

// Nil is the code of nil.
const Nil = 0xc0

// integer reads any integer (or nil, as 0) as its 64 bits, and whether it
// is signed.
func (r *Reader) integer(want string) (uint64, bool, error) {
	c, err := r.code()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c == Nil:
		return 0, false, nil
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	}
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := r.be(1 << (c - 0xcc))
		return v, false, err
	case 0xd0:
		v, err := r.be(1)
		return uint64(int64(int8(v))), true, err
	case 0xd1:
		v, err := r.be(2)
		return uint64(int64(int16(v))), true, err
	case 0xd2:
		v, err := r.be(4)
		return uint64(int64(int32(v))), true, err
	case 0xd3:
		v, err := r.be(8)
		return v, true, err
	}
	return 0, false, &CodeError{c, want}
}

// Uint reads an integer as a uint64 (a negative one wraps, as in msgpack).
func (r *Reader) Uint() (uint64, error) {
	v, _, err := r.integer("uint64")
	return v, err
}

// Int reads an integer as an int64 (a uint 64 above MaxInt64 wraps, as in
// msgpack).
func (r *Reader) Int() (int64, error) {
	v, _, err := r.integer("int64")
	return int64(v), err
}

// Float reads a float 32, float 64 or integer as a float64.
func (r *Reader) Float() (float64, error) {
	c, err := r.Peek()
	if err != nil {
		return 0, err
	}
	switch c {
	case 0xca:
		r.i++
		v, err := r.be(4)
		return float64(math.Float32frombits(uint32(v))), err
	case 0xcb:
		r.i++
		v, err := r.be(8)
		return math.Float64frombits(v), err
	}
	v, err := r.Int()
	if err != nil {
		return 0, &CodeError{c, "float64"}
	}
	return float64(v), nil
}

// Bool reads a boolean.
func (r *Reader) Bool() (bool, error) {
	c, err := r.code()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, &CodeError{c, "bool"}
}

// Nil reads nil.
func (r *Reader) Nil() error {
	c, err := r.code()
	if err != nil {
		return err
	}
	if c != Nil {
		return &CodeError{c, "nil"}
	}
	return nil
}

// String reads a str or bin (nil reads as "").
func (r *Reader) String() (string, error) {
	c, err := r.code()
	if err != nil {
		return "", err
	}
	var n uint64
	switch {
	case c == Nil:
		return "", nil
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = r.be(1)
	case c == 0xda || c == 0xc5:
		n, err = r.be(2)
	case c == 0xdb || c == 0xc6:
		n, err = r.be(4)
	default:
		return "", &CodeError{c, "string/bytes length"}
	}
	if err != nil {
		return "", err
	}
	p, err := r.n(int(n))
	return string(p), err
}

// ArrayLen reads an array header; nil reads as -1.
func (r *Reader) ArrayLen() (int, error) { return r.header(0x90, 0xdc, "array length") }

// MapLen reads a map header; nil reads as -1.
func (r *Reader) MapLen() (int, error) { return r.header(0x80, 0xde, "map length") }

// header reads the header of an array or a map: nil (-1), a fix form
// (fix to fix+15), or a 16-bit (code16) or 32-bit (code16+1) length.
func (r *Reader) header(fix, code16 byte, what string) (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	switch {
	case c == Nil:
		return -1, nil
	case c >= fix && c <= fix+0x0f:
		return int(c & 0x0f), nil
	case c == code16:
		n, err := r.be(2)
		return int(n), err
	case c == code16+1:
		n, err := r.be(4)
		return int(n), err
	}
	return 0, &CodeError{c, what}
}

// Scalar reads a value that is not an array or a map: nil, a boolean, an
// integer (int64, or uint64 for the unsigned codes, as msgpack's
// DecodeInterfaceLoose), a float (float64) or a str or bin (string).
// Extension types are refused.
func (r *Reader) Scalar() (any, error) {
	c, err := r.Peek()
	if err != nil {
		return nil, err
	}
	switch {
	case c == Nil:
		r.i++
		return nil, nil
	case c == 0xc2 || c == 0xc3:
		return r.Bool()
	case c == 0xca || c == 0xcb:
		return r.Float()
	case IsUint(c):
		return r.Uint()
	case c >= 0xe0 || (c >= 0xd0 && c <= 0xd3):
		return r.Int()
	case IsString(c):
		return r.String()
	}
	return nil, errors.New("unsupported MessagePack code=0x" + strconv.FormatUint(uint64(c), 16) + " for a value")
}
