package wire

import "github.com/pushmap/pushmap/wire/internal/mpack"

// An Encoder turns messages and marker ops into MessagePack. It reuses its
// buffer, so the bytes it returns are valid only until its next call. The
// zero value is not usable: call NewEncoder. An Encoder is not safe for
// concurrent use.
//
// It writes by hand (package wire/internal/mpack), without msgpack/v5: the
// browser client links this package, and msgpack/v5's reflection would
// add about 220 KB of brotli to the .wasm.
type Encoder struct {
	buf []byte
}

// NewEncoder returns an Encoder. It writes every integer, props included,
// in its shortest MessagePack form (docs/protocol.md).
func NewEncoder() *Encoder {
	return &Encoder{}
}

// Marshal returns the encoding of m in a new slice.
func Marshal(m Message) ([]byte, error) {
	b, err := NewEncoder().Message(m)
	if err != nil {
		return nil, err
	}
	// Not bytes.Clone: the browser client links this package, and package
	// bytes links unicode's tables with it.
	return append([]byte(nil), b...), nil
}

// Message encodes m as one frame. The result is valid until the next call.
func (e *Encoder) Message(m Message) ([]byte, error) {
	e.buf = e.buf[:0]
	if err := e.message(m); err != nil {
		return nil, wrap("wire: encoding "+typeName(m), err)
	}
	return e.buf, nil
}

func typeName(m Message) string {
	if m == nil {
		return "<nil>"
	}
	return m.Type().String()
}

// Upsert encodes the op that upserts m: [id, layer, lonE7, latE7, version,
// time, props], the last two left out when zero. The result is valid until
// the next call.
func (e *Encoder) Upsert(m *Marker) ([]byte, error) {
	e.buf = e.buf[:0]
	if err := e.upsert(m); err != nil {
		return nil, wrap("wire: encoding marker "+quote(m.ID), err)
	}
	return e.buf, nil
}

// Remove encodes the op that removes the marker id: the id as a string.
// The result is valid until the next call.
func (e *Encoder) Remove(id string) []byte {
	e.buf = mpack.AppendString(e.buf[:0], id)
	return e.buf
}

func (e *Encoder) int(v int64)        { e.buf = mpack.AppendInt(e.buf, v) }
func (e *Encoder) uint(v uint64)      { e.buf = mpack.AppendUint(e.buf, v) }
func (e *Encoder) float(v float64)    { e.buf = mpack.AppendFloat64(e.buf, v) }
func (e *Encoder) string(s string)    { e.buf = mpack.AppendString(e.buf, s) }
func (e *Encoder) array(n int)        { e.buf = mpack.AppendArrayHeader(e.buf, n) }
func (e *Encoder) head(t Type, n int) { e.array(1 + n); e.uint(uint64(t)) }

// Request encodes m, a message a client sends (Hello, View, Unview,
// Layers, Refresh), as one frame; other messages are an error. The result
// is valid until the next call. A client encodes with Request rather than
// Message so that a program that only sends requests, such as the browser
// client, links none of the encoding of markers and replies.
func (e *Encoder) Request(m Message) ([]byte, error) {
	e.buf = e.buf[:0]
	if !e.request(m) {
		return nil, errText("wire: ", typeName(m), " is not a request")
	}
	return e.buf, nil
}

// request encodes m if it is a client-to-server message.
func (e *Encoder) request(m Message) bool {
	switch m := m.(type) {
	case Hello:
		switch {
		case m.Declutter:
			e.head(TypeHello, 5)
		case m.MaxFrameBytes != 0:
			e.head(TypeHello, 4)
		default:
			e.head(TypeHello, 3)
		}
		e.int(int64(m.Version))
		e.string(m.Token)
		e.strings(m.Layers)
		if m.MaxFrameBytes != 0 || m.Declutter {
			e.int(int64(m.MaxFrameBytes))
		}
		if m.Declutter {
			e.int(1)
		}
	case Refresh:
		e.head(TypeRefresh, 1)
		e.string(m.Token)
	case View:
		e.head(TypeView, 6)
		e.view(m)
	case Unview:
		e.head(TypeUnview, 1)
		e.int(int64(m.ID))
	case Layers:
		e.head(TypeLayers, 1)
		e.strings(m.Layers)
	default:
		return false
	}
	return true
}

func (e *Encoder) message(m Message) error {
	if e.request(m) {
		return nil
	}
	switch m := m.(type) {
	case RefreshAck:
		e.head(TypeRefreshAck, 1)
		e.int(m.Expires)
	case More:
		e.head(TypeMore, 1+len(m.Ops))
		e.int(int64(m.Remaining))
		return e.ops(m.Ops)
	case Welcome:
		e.head(TypeWelcome, 7)
		e.int(int64(m.Version))
		e.int(int64(m.Budget))
		e.int(int64(m.MaxViews))
		e.float(m.ViewRate)
		e.int(int64(m.ViewBurst))
		e.int(int64(m.MaxFrameBytes))
		e.int(int64(m.ClusterZoom))
	case ViewAck:
		e.head(TypeViewAck, 7+len(m.Ops))
		e.view(m.View)
		e.uint(uint64(m.Flags))
		return e.ops(m.Ops)
	case UnviewAck:
		e.head(TypeUnviewAck, 1)
		e.int(int64(m.ID))
	case Reset:
		e.head(TypeReset, 2+len(m.Ops))
		e.uint(uint64(m.Flags))
		e.views(m.Views, m.Clustered, m.ClusterZooms)
		return e.ops(m.Ops)
	case Batch:
		e.head(TypeBatch, len(m.Ops))
		return e.ops(m.Ops)
	case Error:
		e.head(TypeError, 2)
		e.uint(uint64(m.Code))
		e.string(m.Message)
	default:
		return errText("unknown message of type ", typeName(m))
	}
	return nil
}

func (e *Encoder) view(v View) {
	e.int(int64(v.ID))
	e.float(v.Box.West)
	e.float(v.Box.South)
	e.float(v.Box.East)
	e.float(v.Box.North)
	e.float(v.Zoom)
}

// views writes a Reset's views: a view in cluster mode has the flag
// FlagClusters and its cluster zoom as an eighth element (-1, unknown, as
// nothing: seven).
func (e *Encoder) views(vs []View, clustered []bool, zooms []int) {
	e.array(len(vs))
	for i, v := range vs {
		if i >= len(clustered) || !clustered[i] {
			e.array(7)
			e.view(v)
			e.uint(0)
			continue
		}
		cz := -1
		if i < len(zooms) {
			cz = zooms[i]
		}
		if cz < 0 {
			e.array(7)
		} else {
			e.array(8)
		}
		e.view(v)
		e.uint(uint64(FlagClusters))
		if cz >= 0 {
			e.uint(uint64(cz))
		}
	}
}

func (e *Encoder) strings(ss []string) {
	e.array(len(ss))
	for _, s := range ss {
		e.string(s)
	}
}

func (e *Encoder) ops(ops []Op) error {
	for i := range ops {
		switch op := &ops[i]; {
		case op.Tile != nil:
			e.tile(op.Tile)
		case op.Cluster != nil:
			e.cluster(op.Cluster)
		case op.Remove:
			e.string(op.Marker.ID)
		default:
			if err := e.upsert(&op.Marker); err != nil {
				return err
			}
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
	e.array(n)
	e.string(m.ID)
	e.string(m.Layer)
	e.int(ToE7(m.Pos.Lon))
	e.int(ToE7(m.Pos.Lat))
	e.uint(m.Version)
	if n == 5 {
		return nil
	}
	e.int(m.Time)
	if n == 6 {
		return nil
	}
	e.buf = mpack.AppendMapHeader(e.buf, len(m.Props))
	for k, v := range m.Props {
		e.string(k)
		if err := e.value(v, MaxDepth-3); err != nil {
			return wrap("property "+quote(k), err)
		}
	}
	return nil
}

// value encodes a property value: the scalars Marker.Validate allows, and
// the arrays and maps a Decoder gives back (nested at most left deep).
func (e *Encoder) value(v any, left int) error {
	switch x := v.(type) {
	case nil:
		e.buf = mpack.AppendNil(e.buf)
	case bool:
		e.buf = mpack.AppendBool(e.buf, x)
	case string:
		e.string(x)
	case float64:
		e.float(x)
	case float32:
		e.buf = mpack.AppendFloat32(e.buf, x)
	case int:
		e.int(int64(x))
	case int8:
		e.int(int64(x))
	case int16:
		e.int(int64(x))
	case int32:
		e.int(int64(x))
	case int64:
		e.int(x)
	case uint:
		e.uint(uint64(x))
	case uint8:
		e.uint(uint64(x))
	case uint16:
		e.uint(uint64(x))
	case uint32:
		e.uint(uint64(x))
	case uint64:
		e.uint(x)
	case []any:
		if left <= 0 {
			return errText("nested deeper than ", itoa(MaxDepth), " levels")
		}
		e.array(len(x))
		for _, el := range x {
			if err := e.value(el, left-1); err != nil {
				return err
			}
		}
	case map[string]any:
		if left <= 0 {
			return errText("nested deeper than ", itoa(MaxDepth), " levels")
		}
		e.buf = mpack.AppendMapHeader(e.buf, len(x))
		for k, el := range x {
			e.string(k)
			if err := e.value(el, left-1); err != nil {
				return err
			}
		}
	default:
		return errText("not a string, number, boolean, nil, []any or map[string]any")
	}
	return nil
}

// TileOp encodes the op of a tile change. The result is valid until the
// next call.
func (e *Encoder) TileOp(t *TileChange) []byte {
	e.buf = e.buf[:0]
	e.tile(t)
	return e.buf
}

// ClusterOp encodes the op of a cluster change. The result is valid until
// the next call.
func (e *Encoder) ClusterOp(c *Cluster) []byte {
	e.buf = e.buf[:0]
	e.cluster(c)
	return e.buf
}

func (e *Encoder) tile(t *TileChange) {
	e.array(6)
	e.uint(TagTile)
	e.string(t.Layer)
	e.uint(uint64(t.Z))
	e.uint(uint64(t.X))
	e.uint(uint64(t.Y))
	e.uint(t.Version)
}

// LoneClusterOp encodes the op of cluster c, of count 1, with its marker
// given as upsert, the marker's upsert op as Upsert encodes it (a store
// keeps it encoded; c.Marker is not read). A marker whose props nest too
// deep to go one level down in a frame of at most MaxDepth levels is left
// out: the cluster goes without it. The result is valid until the next
// call.
func (e *Encoder) LoneClusterOp(c *Cluster, upsert []byte) []byte {
	e.buf = e.buf[:0]
	if !loneFits(upsert) {
		e.clusterHead(c, 8)
		return e.buf
	}
	e.clusterHead(c, 9)
	e.buf = append(e.buf, upsert...)
	return e.buf
}

func (e *Encoder) cluster(c *Cluster) {
	if c.Marker == nil {
		e.clusterHead(c, 8)
		return
	}
	start := len(e.buf)
	e.clusterHead(c, 9)
	at := len(e.buf)
	if err := e.upsert(c.Marker); err != nil || !loneFits(e.buf[at:]) {
		// A marker past the limits (Marker.Validate) or too deep cannot
		// be sent: the cluster goes without it, as LoneClusterOp's.
		e.buf = e.buf[:start]
		e.clusterHead(c, 8)
	}
}

// loneFits reports whether upsert, a marker's upsert op, fits as a
// cluster's marker: at level 3 of a frame (frame, op, marker), as a
// decoder skipping the op's trailing elements counts, within MaxDepth.
func loneFits(upsert []byte) bool {
	_, err := mpack.SkipLen(upsert, MaxDepth-2)
	return err == nil
}

// clusterHead writes the array header of a cluster op of n elements and
// its first eight.
func (e *Encoder) clusterHead(c *Cluster, n int) {
	e.array(n)
	e.uint(TagCluster)
	e.uint(uint64(c.View))
	e.uint(c.ID)
	e.uint(uint64(c.Z))
	e.uint(c.Count)
	e.int(ToE7(c.At.Lon))
	e.int(ToE7(c.At.Lat))
	e.uint(uint64(c.ExpansionZoom))
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
// ops; clustered[i] tells whether views[i] is in cluster mode (nil: none),
// and then clusterZooms[i] the zoom of its clusters (see Reset).
func AppendResetHeader(dst []byte, flags Flags, views []View, clustered []bool, clusterZooms []int, n int) []byte {
	e := Encoder{buf: dst}
	e.array(3 + n)
	e.uint(uint64(TypeReset))
	e.uint(uint64(flags))
	e.views(views, clustered, clusterZooms)
	return e.buf
}

// AppendViewAckHeader appends the start of a ViewAck frame for v holding n
// ops.
func AppendViewAckHeader(dst []byte, v View, flags Flags, n int) []byte {
	e := Encoder{buf: dst}
	e.array(8 + n)
	e.uint(uint64(TypeViewAck))
	e.view(v)
	e.uint(uint64(flags))
	return e.buf
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
