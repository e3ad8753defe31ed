package wire

import (
	"bytes"
	"fmt"

	"github.com/pushmap/pushmap/internal/mpack"
	"github.com/vmihailenco/msgpack/v5"
)

// An Encoder turns messages and marker ops into MessagePack. It reuses its
// buffer, so the bytes it returns are valid only until its next call. The
// zero value is not usable: call NewEncoder. An Encoder is not safe for
// concurrent use.
type Encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// NewEncoder returns an Encoder. It writes every integer, props included,
// in its shortest MessagePack form (docs/protocol.md): msgpack's encoder
// writes an int64 property as 9 bytes whatever its value unless told.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	return e
}

// Marshal returns the encoding of m in a new slice.
func Marshal(m Message) ([]byte, error) {
	b, err := NewEncoder().Message(m)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Message encodes m as one frame. The result is valid until the next call.
func (e *Encoder) Message(m Message) ([]byte, error) {
	e.buf.Reset()
	if err := e.message(m); err != nil {
		return nil, fmt.Errorf("wire: encoding %v: %w", m.Type(), err)
	}
	return e.buf.Bytes(), nil
}

// Upsert encodes the op that upserts m: [id, layer, lonE7, latE7, version,
// time, props], the last two left out when zero. The result is valid until
// the next call.
func (e *Encoder) Upsert(m *Marker) ([]byte, error) {
	e.buf.Reset()
	if err := e.upsert(m); err != nil {
		return nil, fmt.Errorf("wire: encoding marker %q: %w", m.ID, err)
	}
	return e.buf.Bytes(), nil
}

// Remove encodes the op that removes the marker id: the id as a string.
// The result is valid until the next call.
func (e *Encoder) Remove(id string) []byte {
	e.buf.Reset()
	_ = e.enc.EncodeString(id) // writes to a bytes.Buffer cannot fail
	return e.buf.Bytes()
}

func (e *Encoder) message(m Message) error {
	enc := e.enc
	switch m := m.(type) {
	case Hello:
		if m.MaxFrameBytes == 0 {
			return e.all(e.head(TypeHello, 3), enc.EncodeInt(int64(m.Version)), enc.EncodeString(m.Token), e.strings(m.Layers))
		}
		return e.all(e.head(TypeHello, 4), enc.EncodeInt(int64(m.Version)), enc.EncodeString(m.Token), e.strings(m.Layers),
			enc.EncodeInt(int64(m.MaxFrameBytes)))
	case Refresh:
		return e.all(e.head(TypeRefresh, 1), enc.EncodeString(m.Token))
	case RefreshAck:
		return e.all(e.head(TypeRefreshAck, 1), enc.EncodeInt(m.Expires))
	case More:
		return e.all(e.head(TypeMore, 1+len(m.Ops)), enc.EncodeInt(int64(m.Remaining)), e.ops(m.Ops))
	case View:
		return e.all(e.head(TypeView, 6), e.view(m))
	case Unview:
		return e.all(e.head(TypeUnview, 1), enc.EncodeInt(int64(m.ID)))
	case Layers:
		return e.all(e.head(TypeLayers, 1), e.strings(m.Layers))
	case Welcome:
		return e.all(e.head(TypeWelcome, 7), enc.EncodeInt(int64(m.Version)), enc.EncodeInt(int64(m.Budget)),
			enc.EncodeInt(int64(m.MaxViews)), enc.EncodeFloat64(m.ViewRate), enc.EncodeInt(int64(m.ViewBurst)),
			enc.EncodeInt(int64(m.MaxFrameBytes)), enc.EncodeInt(int64(m.ClusterZoom)))
	case ViewAck:
		return e.all(e.head(TypeViewAck, 7+len(m.Ops)), e.view(m.View), enc.EncodeUint(uint64(m.Flags)), e.ops(m.Ops))
	case UnviewAck:
		return e.all(e.head(TypeUnviewAck, 1), enc.EncodeInt(int64(m.ID)))
	case Reset:
		return e.all(e.head(TypeReset, 2+len(m.Ops)), enc.EncodeUint(uint64(m.Flags)), e.views(m.Views, m.Clustered), e.ops(m.Ops))
	case Batch:
		return e.all(e.head(TypeBatch, len(m.Ops)), e.ops(m.Ops))
	case Error:
		return e.all(e.head(TypeError, 2), enc.EncodeUint(uint64(m.Code)), enc.EncodeString(m.Message))
	}
	return fmt.Errorf("unknown message %T", m)
}

// all returns the first non-nil error; the encoder calls run in argument
// order before it is called.
func (e *Encoder) all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) head(t Type, fields int) error {
	return e.all(e.enc.EncodeArrayLen(1+fields), e.enc.EncodeUint(uint64(t)))
}

func (e *Encoder) view(v View) error {
	enc := e.enc
	return e.all(enc.EncodeInt(int64(v.ID)), enc.EncodeFloat64(v.Box.West), enc.EncodeFloat64(v.Box.South),
		enc.EncodeFloat64(v.Box.East), enc.EncodeFloat64(v.Box.North), enc.EncodeFloat64(v.Zoom))
}

func (e *Encoder) views(vs []View, clustered []bool) error {
	if err := e.enc.EncodeArrayLen(len(vs)); err != nil {
		return err
	}
	for i, v := range vs {
		var flags Flags
		if i < len(clustered) && clustered[i] {
			flags = FlagClusters
		}
		if err := e.all(e.enc.EncodeArrayLen(7), e.view(v), e.enc.EncodeUint(uint64(flags))); err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) strings(ss []string) error {
	if err := e.enc.EncodeArrayLen(len(ss)); err != nil {
		return err
	}
	for _, s := range ss {
		if err := e.enc.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) ops(ops []Op) error {
	for i := range ops {
		var err error
		switch op := &ops[i]; {
		case op.Tile != nil:
			err = e.tile(op.Tile)
		case op.Cluster != nil:
			err = e.cluster(op.Cluster)
		case op.Remove:
			err = e.enc.EncodeString(op.Marker.ID)
		default:
			err = e.upsert(&op.Marker)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) upsert(m *Marker) error {
	n := 5
	switch {
	case len(m.Props) > 0:
		n = 7
	case m.Time != 0:
		n = 6
	}
	enc := e.enc
	err := e.all(enc.EncodeArrayLen(n), enc.EncodeString(m.ID), enc.EncodeString(m.Layer),
		enc.EncodeInt(ToE7(m.Pos.Lon)), enc.EncodeInt(ToE7(m.Pos.Lat)), enc.EncodeUint(m.Version))
	if err != nil || n == 5 {
		return err
	}
	if err := enc.EncodeInt(m.Time); err != nil || n == 6 {
		return err
	}
	return enc.EncodeMap(m.Props)
}

// TileOp encodes the op of a tile change. The result is valid until the
// next call.
func (e *Encoder) TileOp(t *TileChange) []byte {
	e.buf.Reset()
	_ = e.tile(t) // writes to a bytes.Buffer cannot fail
	return e.buf.Bytes()
}

// ClusterOp encodes the op of a cluster change. The result is valid until
// the next call.
func (e *Encoder) ClusterOp(c *Cluster) []byte {
	e.buf.Reset()
	_ = e.cluster(c)
	return e.buf.Bytes()
}

func (e *Encoder) tile(t *TileChange) error {
	enc := e.enc
	return e.all(enc.EncodeArrayLen(6), enc.EncodeUint(TagTile), enc.EncodeString(t.Layer),
		enc.EncodeUint(uint64(t.Z)), enc.EncodeUint(uint64(t.X)), enc.EncodeUint(uint64(t.Y)), enc.EncodeUint(t.Version))
}

func (e *Encoder) cluster(c *Cluster) error {
	enc := e.enc
	return e.all(enc.EncodeArrayLen(7), enc.EncodeUint(TagCluster), enc.EncodeUint(uint64(c.Z)),
		enc.EncodeUint(uint64(c.X)), enc.EncodeUint(uint64(c.Y)), enc.EncodeUint(c.Count),
		enc.EncodeInt(ToE7(c.At.Lon)), enc.EncodeInt(ToE7(c.At.Lat)))
}

// Frames of pre-encoded ops. The server encodes each op once and writes the
// same bytes into the frames of every client that needs it; these functions
// write the part of a frame before its ops. n is the number of ops that will
// follow.

// AppendBatchHeader appends the start of a Batch frame holding n ops.
func AppendBatchHeader(dst []byte, n int) []byte {
	return append(mpack.AppendArrayHeader(dst, 1+n), byte(TypeBatch))
}

// AppendResetHeader appends the start of a Reset frame for views holding n
// ops; clustered[i] tells whether views[i] is in cluster mode (nil: none).
func AppendResetHeader(dst []byte, flags Flags, views []View, clustered []bool, n int) []byte {
	e := NewEncoder()
	_ = e.all(e.enc.EncodeArrayLen(3+n), e.enc.EncodeUint(uint64(TypeReset)), e.enc.EncodeUint(uint64(flags)), e.views(views, clustered))
	return append(dst, e.buf.Bytes()...)
}

// AppendViewAckHeader appends the start of a ViewAck frame for v holding n
// ops.
func AppendViewAckHeader(dst []byte, v View, flags Flags, n int) []byte {
	e := NewEncoder()
	_ = e.all(e.enc.EncodeArrayLen(8+n), e.enc.EncodeUint(uint64(TypeViewAck)), e.view(v), e.enc.EncodeUint(uint64(flags)))
	return append(dst, e.buf.Bytes()...)
}

// AppendMoreHeader appends the start of a More frame holding n ops, with
// remaining More frames after it.
func AppendMoreHeader(dst []byte, remaining, n int) []byte {
	dst = append(mpack.AppendArrayHeader(dst, 2+n), byte(TypeMore))
	return mpack.AppendUint(dst, uint64(remaining))
}

// WriteBatches writes pre-encoded ops as Batch frames of at most about
// maxBytes each (a frame holds at least one op), calling write once per
// frame; a frame is valid only during its call. buf is scratch space,
// returned for reuse. It stops at write's first error.
func WriteBatches(buf []byte, ops [][]byte, maxBytes int, write func(frame []byte) error) ([]byte, error) {
	// Each frame is assembled after room for the largest batch header,
	// which is written in front of the ops once their number is known.
	const room = 6
	var header [room]byte
	buf = append(buf[:0], header[:]...)
	n := 0
	flush := func() error {
		h := AppendBatchHeader(header[:0], n)
		start := room - len(h)
		copy(buf[start:], h)
		err := write(buf[start:])
		buf, n = buf[:room], 0
		return err
	}
	for _, op := range ops {
		if n > 0 && len(buf)+len(op) > maxBytes {
			if err := flush(); err != nil {
				return buf, err
			}
		}
		buf = append(buf, op...)
		n++
	}
	if n == 0 {
		return buf, nil
	}
	return buf, flush()
}
