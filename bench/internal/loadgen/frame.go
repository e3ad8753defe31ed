package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/pushmap/pushmap/bench/internal/baseline"
	"github.com/pushmap/pushmap/bench/internal/fleet"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// The load generator reads server frames with a scanner of its own rather
// than wire.Decoder: it needs only marker numbers, versions and positions,
// and must read up to a million ops a second on the cores it shares with
// the server. The scanner allocates nothing and costs several times less
// than a full decode (BenchmarkFrame); TestFrameMatchesWire checks it
// against the wire package.

var errFrame = errors.New("malformed frame")

var zeros [8]byte

// A scan reads MessagePack values from a byte slice. After an error every
// read returns zero and bad is set.
type scan struct {
	b   []byte
	i   int
	bad bool
}

func (s *scan) byte1() byte {
	if s.i >= len(s.b) {
		s.bad = true
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *scan) take(n int) []byte {
	if n < 0 || s.i+n > len(s.b) {
		s.bad = true
		s.i = len(s.b)
		if n >= 0 && n <= len(zeros) {
			return zeros[:n] // so that numbers read as zero
		}
		return nil
	}
	p := s.b[s.i : s.i+n]
	s.i += n
	return p
}

func (s *scan) peek() byte {
	if s.i >= len(s.b) {
		return 0xc1 // never used by MessagePack
	}
	return s.b[s.i]
}

func (s *scan) arrayLen() int {
	c := s.byte1()
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f)
	case c == 0xdc:
		return int(binary.BigEndian.Uint16(s.take(2)))
	case c == 0xdd:
		return int(binary.BigEndian.Uint32(s.take(4)))
	}
	s.bad = true
	return 0
}

func (s *scan) int() int64 {
	c := s.byte1()
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	}
	switch c {
	case 0xcc:
		return int64(s.byte1())
	case 0xcd:
		return int64(binary.BigEndian.Uint16(s.take(2)))
	case 0xce:
		return int64(binary.BigEndian.Uint32(s.take(4)))
	case 0xcf:
		return int64(binary.BigEndian.Uint64(s.take(8)))
	case 0xd0:
		return int64(int8(s.byte1()))
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(s.take(2))))
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(s.take(4))))
	case 0xd3:
		return int64(binary.BigEndian.Uint64(s.take(8)))
	}
	s.bad = true
	return 0
}

func (s *scan) float() float64 {
	switch c := s.peek(); {
	case c == 0xcb:
		s.i++
		return math.Float64frombits(binary.BigEndian.Uint64(s.take(8)))
	case c == 0xca:
		s.i++
		return float64(math.Float32frombits(binary.BigEndian.Uint32(s.take(4))))
	}
	return float64(s.int())
}

func (s *scan) isStr() bool {
	c := s.peek()
	return c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb
}

func (s *scan) str() []byte {
	c := s.byte1()
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return s.take(int(c & 0x1f))
	case c == 0xd9:
		return s.take(int(s.byte1()))
	case c == 0xda:
		return s.take(int(binary.BigEndian.Uint16(s.take(2))))
	case c == 0xdb:
		return s.take(int(binary.BigEndian.Uint32(s.take(4))))
	}
	s.bad = true
	return nil
}

// skip skips one value of any type.
func (s *scan) skip() {
	c := s.byte1()
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c >= 0xa0 && c <= 0xbf:
		s.take(int(c & 0x1f))
	case c >= 0x90 && c <= 0x9f:
		s.skipN(int(c & 0x0f))
	case c >= 0x80 && c <= 0x8f:
		s.skipN(2 * int(c&0x0f))
	default:
		switch c {
		case 0xcc, 0xd0:
			s.take(1)
		case 0xcd, 0xd1:
			s.take(2)
		case 0xce, 0xd2, 0xca:
			s.take(4)
		case 0xcf, 0xd3, 0xcb:
			s.take(8)
		case 0xd9, 0xc4:
			s.take(int(s.byte1()))
		case 0xda, 0xc5:
			s.take(int(binary.BigEndian.Uint16(s.take(2))))
		case 0xdb, 0xc6:
			s.take(int(binary.BigEndian.Uint32(s.take(4))))
		case 0xdc:
			s.skipN(int(binary.BigEndian.Uint16(s.take(2))))
		case 0xdd:
			s.skipN(int(binary.BigEndian.Uint32(s.take(4))))
		case 0xde:
			s.skipN(2 * int(binary.BigEndian.Uint16(s.take(2))))
		case 0xdf:
			s.skipN(2 * int(binary.BigEndian.Uint32(s.take(4))))
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			s.take(1 + 1<<(c-0xd4))
		case 0xc7:
			s.take(1 + int(s.byte1()))
		case 0xc8:
			s.take(1 + int(binary.BigEndian.Uint16(s.take(2))))
		case 0xc9:
			s.take(1 + int(binary.BigEndian.Uint32(s.take(4))))
		default:
			s.bad = true
		}
	}
}

func (s *scan) skipN(n int) {
	for ; n > 0 && !s.bad; n-- {
		s.skip()
	}
}

// A frame is a server frame whose header was read; its ops follow.
type frame struct {
	typ  int     // wire.Type, or baseline.TypeSubAck
	ops  int     // ops left to read
	view geo.Box // a ViewAck's box
	seq  uint64  // a SubAck's sequence number
	s    scan
}

// An op is a marker op of a frame.
type op struct {
	remove bool   // a remove (only id is set), else an upsert
	fleet  bool   // the id is a fleet id: m is meaningful
	other  bool   // a tile or cluster op, skipped
	m, v   uint32 // marker number and version
	lon    int64  // position in 1e-7 degrees
	lat    int64
}

// parseFrame reads the header of a server frame. Frames without ops
// (Welcome, Error, UnviewAck) have ops == 0.
func parseFrame(b []byte) (frame, error) {
	f := frame{s: scan{b: b}}
	s := &f.s
	n := s.arrayLen()
	f.typ = int(s.int())
	if s.bad || n < 1 {
		return f, errFrame
	}
	switch f.typ {
	case int(wire.TypeBatch):
		f.ops = n - 1
	case int(wire.TypeViewAck):
		if n < 8 {
			return f, errFrame
		}
		s.int() // view id
		f.view = geo.BBox(s.float(), s.float(), s.float(), s.float())
		s.float() // zoom
		s.int()   // flags
		f.ops = n - 8
	case int(wire.TypeReset):
		if n < 3 {
			return f, errFrame
		}
		s.int()  // flags
		s.skip() // views
		f.ops = n - 3
	case baseline.TypeSubAck:
		if n < 2 {
			return f, errFrame
		}
		f.seq = uint64(s.int())
		f.ops = n - 2
	default:
		s.skipN(n - 1)
	}
	if s.bad {
		return f, errFrame
	}
	return f, nil
}

// next reads the next op; false when none is left.
func (f *frame) next() (op, bool, error) {
	if f.ops == 0 {
		if f.s.i != len(f.s.b) {
			return op{}, false, fmt.Errorf("%w: %d bytes after the ops", errFrame, len(f.s.b)-f.s.i)
		}
		return op{}, false, nil
	}
	f.ops--
	s := &f.s
	var o op
	if s.isStr() {
		o.remove = true
		o.m, o.fleet = fleet.Index(s.str())
	} else {
		n := s.arrayLen()
		if !s.isStr() {
			o.other = true
			s.skipN(n)
		} else {
			o.m, o.fleet = fleet.Index(s.str())
			s.skip() // layer
			o.lon, o.lat = s.int(), s.int()
			o.v = uint32(s.int())
			s.skipN(n - 5)
		}
	}
	if s.bad {
		return o, false, errFrame
	}
	return o, true, nil
}
