package mpack

import (
	"errors"
	"strconv"
)

// ErrShort is returned by SkipLen when the value runs past the end of the
// bytes given.
var ErrShort = errors.New("the data ends in the middle of a value")

// A DepthError says that arrays and maps nest deeper than Limit.
type DepthError struct {
	Limit int
}

func (e *DepthError) Error() string {
	return "nested deeper than " + strconv.Itoa(e.Limit) + " levels"
}

// SkipLen returns the length in bytes of the MessagePack value that b
// starts with, without decoding it. Arrays and maps may nest at most
// maxDepth deep: a scalar is at depth 0, [x] at 1, [[x]] at 2; a deeper
// value gives a *DepthError, a value cut short ErrShort. It walks the value
// with a loop, not recursion, so no input can exhaust the stack (as
// msgpack's Decoder.Skip can); the work is linear in the length of b.
func SkipLen(b []byte, maxDepth int) (int, error) {
	// open[d] holds the values still to read in the container at depth d+1
	// once the one being read, at a deeper level, is done.
	var room [32]int
	open := room[:0]
	left := 1 // values still to read at the current level
	i := 0
	for {
		for left == 0 {
			if len(open) == 0 {
				return i, nil
			}
			left = open[len(open)-1]
			open = open[:len(open)-1]
		}
		left--
		if i >= len(b) {
			return 0, ErrShort
		}
		c := b[i]
		i++
		size, elems := 0, -1 // bytes of payload; elements when a container
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0xa0 && c <= 0xbf: // fixstr
			size = int(c & 0x1f)
		case c >= 0x90 && c <= 0x9f: // fixarray
			elems = int(c & 0x0f)
		case c >= 0x80 && c <= 0x8f: // fixmap
			elems = 2 * int(c&0x0f)
		case c == 0xc1:
			return 0, errors.New("code 0xc1 at byte " + strconv.Itoa(i-1) + " is never used by MessagePack")
		default:
			var n int
			var ok bool
			switch c {
			case 0xcc, 0xd0:
				size = 1
			case 0xcd, 0xd1:
				size = 2
			case 0xce, 0xd2, 0xca:
				size = 4
			case 0xcf, 0xd3, 0xcb:
				size = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 and its type
				size = 1 + 1<<(c-0xd4)
			case 0xc4, 0xd9: // bin 8, str 8
				n, i, ok = readLen(b, i, 1)
				size = n
			case 0xc5, 0xda:
				n, i, ok = readLen(b, i, 2)
				size = n
			case 0xc6, 0xdb:
				n, i, ok = readLen(b, i, 4)
				size = n
			case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32 and its type
				n, i, ok = readLen(b, i, 1<<(c-0xc7))
				size = n + 1
			case 0xdc:
				n, i, ok = readLen(b, i, 2)
				elems = n
			case 0xdd:
				n, i, ok = readLen(b, i, 4)
				elems = n
			case 0xde:
				n, i, ok = readLen(b, i, 2)
				elems = 2 * n
			case 0xdf:
				n, i, ok = readLen(b, i, 4)
				elems = 2 * n
			}
			if (c >= 0xc4 && c <= 0xc9) || (c >= 0xd9 && c <= 0xdf) {
				if !ok {
					return 0, ErrShort
				}
			}
		}
		if elems < 0 {
			if size > len(b)-i {
				return 0, ErrShort
			}
			i += size
			continue
		}
		if len(open) >= maxDepth {
			return 0, &DepthError{Limit: maxDepth}
		}
		if elems > len(b)-i { // every element takes a byte at least
			return 0, ErrShort
		}
		open = append(open, left)
		left = elems
	}
}

// readLen reads a big-endian length of size bytes at b[i:].
func readLen(b []byte, i, size int) (n, next int, ok bool) {
	if len(b)-i < size {
		return 0, i, false
	}
	switch size {
	case 1:
		n = int(b[i])
	case 2:
		n = int(b[i])<<8 | int(b[i+1])
	default:
		n = int(b[i])<<24 | int(b[i+1])<<16 | int(b[i+2])<<8 | int(b[i+3])
	}
	return n, i + size, true
}
