package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// state is one marker's state as the log and snapshots hold it: a marker
// with its version and expiry, or a tombstone.
type state struct {
	//lint:ignore U1000 msgpack reads its tag: the struct is encoded as an array
	_msgpack struct{} `msgpack:",as_array"`

	ID      string
	Removed bool
	Layer   string
	Lon     float64
	Lat     float64
	Version uint64
	Time    int64
	Props   map[string]any
	Expires int64 // Unix nanoseconds; 0: never
}

func stateOf(r server.StoredMarker) state {
	s := state{ID: r.Marker.ID, Layer: r.Marker.Layer, Lon: r.Marker.Pos.Lon, Lat: r.Marker.Pos.Lat,
		Version: r.Marker.Version, Time: r.Marker.Time, Props: r.Marker.Props}
	if !r.Expires.IsZero() {
		s.Expires = r.Expires.UnixNano()
	}
	return s
}

func (s *state) record() server.StoredMarker {
	r := server.StoredMarker{Marker: wire.Marker{ID: s.ID, Layer: s.Layer, Pos: geo.Point{Lon: s.Lon, Lat: s.Lat},
		Version: s.Version, Time: s.Time, Props: s.Props}}
	if s.Expires != 0 {
		r.Expires = time.Unix(0, s.Expires)
	}
	return r
}

// A frame is how records sit in a file: the body's length (4 bytes, little
// endian), its CRC-32C (4 bytes), then the body, a MessagePack array of
// states.
const frameHeader = 8

// maxFrameBody bounds a frame's body when reading, so that a corrupt length
// cannot make Open allocate gigabytes. A batch of ingest's 10,000 markers
// with full props stays far below it.
const maxFrameBody = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// An encoder appends frames of states to a buffer it reuses.
type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}

// frame returns the frame of states; the slice is valid until the next call.
func (e *encoder) frame(states []state) ([]byte, error) {
	e.buf.Reset()
	e.buf.Write(make([]byte, frameHeader))
	if err := e.enc.Encode(states); err != nil {
		return nil, fmt.Errorf("encoding %d marker states: %w", len(states), err)
	}
	b := e.buf.Bytes()
	body := b[frameHeader:]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(body, castagnoli))
	return b, nil
}

// errTorn says a frame was cut short or fails its CRC: the tail of a file a
// crash interrupted, or corruption.
var errTorn = errors.New("torn or corrupt record")

// readFrames calls fn with the states of each frame of r in order. It
// returns the offset just past the last good frame, and errTorn (wrapped,
// with the offset) when what follows it is not a whole good frame.
func readFrames(r io.Reader, fn func([]state) error) (good int64, err error) {
	var head [frameHeader]byte
	var body []byte
	dec := msgpack.NewDecoder(nil)
	dec.UseLooseInterfaceDecoding(true)
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return good, nil
			}
			return good, fmt.Errorf("%w at offset %d: header: %v", errTorn, good, err)
		}
		n := binary.LittleEndian.Uint32(head[0:])
		if n > maxFrameBody {
			return good, fmt.Errorf("%w at offset %d: length %d, at most %d", errTorn, good, n, maxFrameBody)
		}
		body = append(body[:0], make([]byte, n)...)
		if _, err := io.ReadFull(r, body); err != nil {
			return good, fmt.Errorf("%w at offset %d: body of %d bytes: %v", errTorn, good, n, err)
		}
		if sum := crc32.Checksum(body, castagnoli); sum != binary.LittleEndian.Uint32(head[4:]) {
			return good, fmt.Errorf("%w at offset %d: CRC %08x, header says %08x", errTorn, good, sum, binary.LittleEndian.Uint32(head[4:]))
		}
		var states []state
		dec.Reset(bytes.NewReader(body))
		if err := dec.Decode(&states); err != nil {
			// The CRC matched: this was written so, not torn.
			return good, fmt.Errorf("record at offset %d: %v", good, err)
		}
		if err := fn(states); err != nil {
			return good, err
		}
		good += frameHeader + int64(n)
	}
}
