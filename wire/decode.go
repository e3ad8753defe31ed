package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/pushmap/pushmap/internal/mpack"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// A Decoder turns frames into messages. It reuses its internal state between
// calls; the messages it returns share nothing with the frame. The zero value
// is not usable: call NewDecoder. A Decoder is not safe for concurrent use.
type Decoder struct {
	r     bytes.Reader
	dec   *msgpack.Decoder
	frame []byte // the frame being decoded, for skipping values in place
	// clientOnly: decode only the messages a client sends.
	clientOnly bool
}

// NewDecoder returns a Decoder of every message, as a client needs.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

// NewServerDecoder returns a Decoder of the frames a server reads: a
// server-to-client message type (welcome, batch…) is refused with
// CodeUnknownType, whether or not its fields are well formed.
func NewServerDecoder() *Decoder {
	d := NewDecoder()
	d.clientOnly = true
	return d
}

// Unmarshal decodes one frame with a new Decoder.
func Unmarshal(frame []byte) (Message, error) {
	return NewDecoder().Decode(frame)
}

// Decode decodes one frame holding one message. Errors are of type Error
// with code CodeMalformed (the frame is not a well-formed message) or
// CodeUnknownType (a well-formed array whose type code this package does
// not know, or, for a server's Decoder, that a client may not send).
// Decode checks the shape of a message, not its values: call View.Validate
// and friends for that. Elements after the last known field of a message
// are skipped, so a newer peer may add fields. Arrays and maps nested
// deeper than MaxDepth, ids, layer and property names that are not UTF-8,
// and integers out of a field's range are malformed, named in the error.
func (d *Decoder) Decode(frame []byte) (Message, error) {
	d.frame = frame
	d.r.Reset(frame)
	d.dec.Reset(&d.r)
	m, err := d.decode()
	d.frame = nil
	if err != nil {
		var we Error
		if errors.As(err, &we) {
			return nil, we
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("frame ends early")
		}
		return nil, errorf(CodeMalformed, "%v", err)
	}
	if d.r.Len() != 0 {
		return nil, errorf(CodeMalformed, "%d bytes after the message", d.r.Len())
	}
	return m, nil
}

func (d *Decoder) decode() (Message, error) {
	n, err := d.arrayLen(1)
	if err != nil {
		return nil, err
	}
	code, err := d.dec.DecodeUint64()
	if err != nil {
		return nil, fmt.Errorf("message type: %w", err)
	}
	t := Type(code)
	if code > 255 {
		t = 0
	}
	if d.clientOnly && t >= TypeWelcome && t <= TypeMore {
		return nil, errorf(CodeUnknownType, "message type %d (%v) is sent by servers, not clients", code, t)
	}
	fields := n - 1
	var m Message
	switch t {
	case TypeHello:
		m, err = d.hello(fields)
	case TypeView:
		m, err = d.viewMsg(fields)
	case TypeUnview:
		var u Unview
		u.ID, err = d.viewID(fields)
		m = u
	case TypeLayers:
		var l Layers
		if err = need(fields, 1); err == nil {
			l.Layers, err = d.strings()
		}
		if err == nil {
			err = d.skip(fields-1, 1)
		}
		m = l
	case TypeWelcome:
		m, err = d.welcome(fields)
	case TypeViewAck:
		m, err = d.viewAck(fields)
	case TypeUnviewAck:
		var u UnviewAck
		u.ID, err = d.viewID(fields)
		m = u
	case TypeReset:
		m, err = d.reset(fields)
	case TypeBatch:
		var b Batch
		b.Ops, err = d.ops(fields)
		m = b
	case TypeError:
		m, err = d.errorMsg(fields)
	case TypeRefresh:
		var r Refresh
		if err = need(fields, 1); err == nil {
			if r.Token, err = d.str("token", MaxTokenLen); err == nil {
				err = d.skip(fields-1, 1)
			}
		}
		m = r
	case TypeRefreshAck:
		var r RefreshAck
		if err = need(fields, 1); err == nil {
			if r.Expires, err = d.integer("expires"); err == nil {
				err = d.skip(fields-1, 1)
			}
		}
		m = r
	case TypeMore:
		var mo More
		if err = need(fields, 1); err == nil {
			if mo.Remaining, err = d.smallInt("remaining", 1<<31-1); err == nil {
				mo.Ops, err = d.ops(fields - 1)
			}
		}
		m = mo
	default:
		return nil, errorf(CodeUnknownType, "unknown message type %d", code)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", t, err)
	}
	return m, nil
}

// need checks that a message has at least want fields.
func need(have, want int) error {
	if have < want {
		return fmt.Errorf("%d fields, want at least %d", have, want)
	}
	return nil
}

// skip skips the n fields after the known ones of an array at nesting
// level depth (the message's array is level 1), refusing values that nest
// past MaxDepth. msgpack's Decoder.Skip recurses without a limit: a frame
// of millions of nested arrays overflowed the stack.
func (d *Decoder) skip(n, depth int) error {
	for ; n > 0; n-- {
		pos := len(d.frame) - d.r.Len()
		size, err := mpack.SkipLen(d.frame[pos:], MaxDepth-depth)
		if err != nil {
			var de *mpack.DepthError
			if errors.As(err, &de) {
				return fmt.Errorf("a field nested deeper than %d levels", MaxDepth)
			}
			if errors.Is(err, mpack.ErrShort) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if _, err := d.r.Seek(int64(size), io.SeekCurrent); err != nil {
			return err
		}
	}
	return nil
}

// arrayLen reads an array header of at least min elements, refusing lengths
// the rest of the frame cannot hold (every element takes a byte at least).
func (d *Decoder) arrayLen(min int) (int, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return 0, err
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return 0, fmt.Errorf("expected an array, found code 0x%02x", c)
	}
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n < min {
		return 0, fmt.Errorf("array of %d elements, want at least %d", n, min)
	}
	if n > d.r.Len() {
		return 0, fmt.Errorf("array of %d elements in %d remaining bytes", n, d.r.Len())
	}
	return n, nil
}

func (d *Decoder) str(what string, max int) (string, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return "", err
	}
	if !msgpcode.IsString(c) {
		return "", fmt.Errorf("%s: expected a string, found code 0x%02x", what, c)
	}
	s, err := d.dec.DecodeString()
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if len(s) > max {
		return "", fmt.Errorf("%s: %d bytes, at most %d allowed", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s %.40q is not valid UTF-8", what, s)
	}
	return s, nil
}

func (d *Decoder) strings() ([]string, error) {
	if c, err := d.dec.PeekCode(); err == nil && c == msgpcode.Nil {
		return nil, d.dec.DecodeNil()
	}
	n, err := d.arrayLen(0)
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	if n > MaxLayers {
		return nil, fmt.Errorf("layers: %d names, at most %d allowed", n, MaxLayers)
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i], err = d.str("layer", MaxLayerLen); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

func (d *Decoder) integer(what string) (int64, error) {
	v, err := d.dec.DecodeInt64()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func (d *Decoder) float(what string) (float64, error) {
	v, err := d.dec.DecodeFloat64()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

func (d *Decoder) smallInt(what string, max int64) (int, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return 0, err
	}
	if c == msgpcode.Uint64 {
		// Beyond int64: DecodeInt64 would wrap it to a negative number.
		u, err := d.dec.DecodeUint64()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if u > uint64(max) {
			return 0, fmt.Errorf("%s: %d is outside [0, %d]", what, u, max)
		}
		return int(u), nil
	}
	v, err := d.integer(what)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > max {
		return 0, fmt.Errorf("%s: %d is outside [0, %d]", what, v, max)
	}
	return int(v), nil
}

func (d *Decoder) hello(fields int) (Message, error) {
	var h Hello
	if err := need(fields, 3); err != nil {
		return nil, err
	}
	var err error
	if h.Version, err = d.smallInt("version", 1<<16); err != nil {
		return nil, err
	}
	if h.Token, err = d.str("token", MaxTokenLen); err != nil {
		return nil, err
	}
	if h.Layers, err = d.strings(); err != nil {
		return nil, err
	}
	if fields >= 4 {
		if h.MaxFrameBytes, err = d.smallInt("max frame bytes", 1<<31-1); err != nil {
			return nil, err
		}
	}
	return h, d.skip(fields-4, 1)
}

func (d *Decoder) view() (View, error) {
	var v View
	var err error
	if v.ID, err = d.smallInt("view id", 1<<16); err != nil {
		return v, err
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"west", &v.Box.West}, {"south", &v.Box.South}, {"east", &v.Box.East}, {"north", &v.Box.North}, {"zoom", &v.Zoom}} {
		if *f.dst, err = d.float(f.name); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (d *Decoder) viewMsg(fields int) (Message, error) {
	if err := need(fields, 6); err != nil {
		return nil, err
	}
	v, err := d.view()
	if err != nil {
		return nil, err
	}
	return v, d.skip(fields-6, 1)
}

func (d *Decoder) viewID(fields int) (int, error) {
	if fields < 1 {
		return 0, fmt.Errorf("%d fields, want at least 1", fields)
	}
	id, err := d.smallInt("view id", 1<<16)
	if err != nil {
		return 0, err
	}
	return id, d.skip(fields-1, 1)
}

func (d *Decoder) welcome(fields int) (Message, error) {
	var w Welcome
	if err := need(fields, 6); err != nil {
		return nil, err
	}
	var err error
	ints := []struct {
		name string
		dst  *int
	}{{"version", &w.Version}, {"budget", &w.Budget}, {"max views", &w.MaxViews}}
	for _, f := range ints {
		if *f.dst, err = d.smallInt(f.name, 1<<31-1); err != nil {
			return nil, err
		}
	}
	if w.ViewRate, err = d.float("view rate"); err != nil {
		return nil, err
	}
	if w.ViewBurst, err = d.smallInt("view burst", 1<<31-1); err != nil {
		return nil, err
	}
	if w.MaxFrameBytes, err = d.smallInt("max frame bytes", 1<<31-1); err != nil {
		return nil, err
	}
	if fields >= 7 {
		if w.ClusterZoom, err = d.smallInt("cluster zoom", MaxZoom); err != nil {
			return nil, err
		}
	}
	return w, d.skip(fields-7, 1)
}

func (d *Decoder) viewAck(fields int) (Message, error) {
	var a ViewAck
	if err := need(fields, 7); err != nil {
		return nil, err
	}
	var err error
	if a.View, err = d.view(); err != nil {
		return nil, err
	}
	flags, err := d.smallInt("flags", 255)
	if err != nil {
		return nil, err
	}
	a.Flags = Flags(flags)
	a.Ops, err = d.ops(fields - 7)
	return a, err
}

func (d *Decoder) reset(fields int) (Message, error) {
	var r Reset
	if err := need(fields, 2); err != nil {
		return nil, err
	}
	flags, err := d.smallInt("flags", 255)
	if err != nil {
		return nil, err
	}
	r.Flags = Flags(flags)
	n, err := d.arrayLen(0)
	if err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	if n > MaxViewID+1 {
		return nil, fmt.Errorf("views: %d, at most %d allowed", n, MaxViewID+1)
	}
	if n > 0 {
		r.Views = make([]View, n)
	}
	for i := range r.Views {
		m, err := d.arrayLen(6)
		if err != nil {
			return nil, fmt.Errorf("view %d: %w", i, err)
		}
		if r.Views[i], err = d.view(); err != nil {
			return nil, fmt.Errorf("view %d: %w", i, err)
		}
		if m >= 7 {
			vf, err := d.smallInt("view flags", 255)
			if err != nil {
				return nil, fmt.Errorf("view %d: %w", i, err)
			}
			if Flags(vf)&FlagClusters != 0 {
				if r.Clustered == nil {
					r.Clustered = make([]bool, n)
				}
				r.Clustered[i] = true
			}
		}
		if err := d.skip(m-7, 3); err != nil {
			return nil, err
		}
	}
	r.Ops, err = d.ops(fields - 2)
	return r, err
}

func (d *Decoder) errorMsg(fields int) (Message, error) {
	var e Error
	if err := need(fields, 2); err != nil {
		return nil, err
	}
	code, err := d.smallInt("code", 1<<16-1)
	if err != nil {
		return nil, err
	}
	e.Code = Code(code)
	if e.Message, err = d.str("message", 1<<16); err != nil {
		return nil, err
	}
	return e, d.skip(fields-2, 1)
}

// ops decodes n marker ops: a string removes, an array upserts.
func (d *Decoder) ops(n int) ([]Op, error) {
	if n == 0 {
		return nil, nil
	}
	ops := make([]Op, n)
	for i := range ops {
		c, err := d.dec.PeekCode()
		if err != nil {
			return nil, err
		}
		if msgpcode.IsString(c) {
			ops[i].Remove = true
			if ops[i].Marker.ID, err = d.str("marker id", MaxIDLen); err != nil {
				return nil, fmt.Errorf("op %d: %w", i, err)
			}
			continue
		}
		if err := d.op(&ops[i]); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	return ops, nil
}

// op decodes an array op: a marker upsert, or a tagged tile or cluster op.
func (d *Decoder) op(op *Op) error {
	n, err := d.arrayLen(5)
	if err != nil {
		return fmt.Errorf("op: %w", err)
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if msgpcode.IsString(c) {
		return d.marker(&op.Marker, n)
	}
	tag, err := d.dec.DecodeUint64()
	if err != nil {
		return fmt.Errorf("op tag: %w", err)
	}
	switch tag {
	case TagTile:
		op.Tile = &TileChange{}
		return d.tile(op.Tile, n)
	case TagCluster:
		if n < 7 {
			return fmt.Errorf("cluster op of %d elements, want 7", n)
		}
		op.Cluster = &Cluster{}
		return d.cluster(op.Cluster, n)
	}
	return fmt.Errorf("unknown op tag %d", tag)
}

func (d *Decoder) tileXYZ(z *uint8, x, y *uint32) error {
	zz, err := d.smallInt("zoom", MaxZoom)
	if err != nil {
		return err
	}
	limit := int64(1)<<zz - 1
	xx, err := d.smallInt("x", limit)
	if err != nil {
		return err
	}
	yy, err := d.smallInt("y", limit)
	if err != nil {
		return err
	}
	*z, *x, *y = uint8(zz), uint32(xx), uint32(yy)
	return nil
}

func (d *Decoder) tile(t *TileChange, n int) error {
	var err error
	if t.Layer, err = d.str("layer", MaxLayerLen); err != nil {
		return err
	}
	if err := d.tileXYZ(&t.Z, &t.X, &t.Y); err != nil {
		return err
	}
	if t.Version, err = d.dec.DecodeUint64(); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	return d.skip(n-6, 2)
}

func (d *Decoder) cluster(c *Cluster, n int) error {
	if err := d.tileXYZ(&c.Z, &c.X, &c.Y); err != nil {
		return err
	}
	var err error
	if c.Count, err = d.dec.DecodeUint64(); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	lon, err := d.integer("longitude")
	if err != nil {
		return err
	}
	lat, err := d.integer("latitude")
	if err != nil {
		return err
	}
	c.At.Lon, c.At.Lat = fromE7(lon), fromE7(lat)
	return d.skip(n-7, 2)
}

// marker decodes a marker upsert of n elements whose array header was read.
func (d *Decoder) marker(m *Marker, n int) error {
	var err error
	if m.ID, err = d.str("marker id", MaxIDLen); err != nil {
		return err
	}
	if m.Layer, err = d.str("layer", MaxLayerLen); err != nil {
		return err
	}
	lon, err := d.integer("longitude")
	if err != nil {
		return err
	}
	lat, err := d.integer("latitude")
	if err != nil {
		return err
	}
	m.Pos.Lon, m.Pos.Lat = fromE7(lon), fromE7(lat)
	if m.Version, err = d.dec.DecodeUint64(); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if n >= 6 {
		if m.Time, err = d.integer("time"); err != nil {
			return err
		}
	}
	if n >= 7 {
		if m.Props, err = d.props(); err != nil {
			return err
		}
	}
	return d.skip(n-7, 2)
}

func (d *Decoder) props() (map[string]any, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	if c == msgpcode.Nil {
		return nil, d.dec.DecodeNil()
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, fmt.Errorf("props: %w", err)
	}
	if n > MaxPropsSize {
		return nil, fmt.Errorf("props: %d entries, at most %d allowed", n, MaxPropsSize)
	}
	if n > d.r.Len() {
		return nil, fmt.Errorf("props: %d entries in %d remaining bytes", n, d.r.Len())
	}
	props := make(map[string]any, n)
	for range n {
		k, err := d.str("property name", MaxLayerLen)
		if err != nil {
			return nil, err
		}
		// The props map is at level 3: frame, op, props.
		v, err := d.value(MaxDepth - 3)
		if err != nil {
			return nil, fmt.Errorf("property %q: %w", k, err)
		}
		props[k] = v
	}
	return props, nil
}

// value decodes a property value: an integer as an int64 (a uint64 only
// above math.MaxInt64), whatever MessagePack form it came in, a float as a
// float64, arrays and maps nested at most left levels deep (msgpack's
// DecodeInterfaceLoose recurses without a limit).
func (d *Decoder) value(left int) (any, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	if isUintCode(c) {
		u, err := d.dec.DecodeUint64()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	}
	isMap := msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
	isArray := msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
	if !isMap && !isArray {
		return d.dec.DecodeInterfaceLoose()
	}
	if left <= 0 {
		return nil, fmt.Errorf("nested deeper than %d levels", MaxDepth)
	}
	if isArray {
		n, err := d.arrayLen(0)
		if err != nil {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = d.value(left - 1); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if 2*n > d.r.Len() {
		return nil, fmt.Errorf("map of %d entries in %d remaining bytes", n, d.r.Len())
	}
	m := make(map[string]any, n)
	for range n {
		k, err := d.str("key", MaxPropLen)
		if err != nil {
			return nil, err
		}
		if m[k], err = d.value(left - 1); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// isUintCode reports whether c opens an unsigned MessagePack integer: a
// positive fixint or uint 8 to 64.
func isUintCode(c byte) bool {
	return c <= msgpcode.PosFixedNumHigh || (c >= msgpcode.Uint8 && c <= msgpcode.Uint64)
}
