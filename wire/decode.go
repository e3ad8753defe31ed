package wire

import (
	"errors"
	"io"
	"math"
	"unicode/utf8"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire/internal/mpack"
)

// A Decoder turns frames into messages. It reuses its internal state between
// calls; the messages it returns share nothing with the frame. The zero value
// is not usable: call NewDecoder. A Decoder is not safe for concurrent use.
type Decoder struct {
	r mpack.Reader
	// clientOnly: decode only the messages a client sends.
	clientOnly bool
	// requests decodes the messages a client sends; nil in a client's
	// Decoder, which refuses them. A function value, not a call, so that a
	// program that only reads replies (the browser client) links none of
	// their decoding.
	requests func(d *Decoder, t Type, fields int) (Message, error)
}

// NewDecoder returns a Decoder of every message.
func NewDecoder() *Decoder {
	return &Decoder{requests: (*Decoder).request}
}

// NewClientDecoder returns a Decoder of the frames a client reads: a
// client-to-server message type (hello, view…) is refused with
// CodeUnknownType, whether or not its fields are well formed. The browser
// client uses it so that its .wasm leaves the decoding of requests out.
func NewClientDecoder() *Decoder {
	return &Decoder{}
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
// not know, or that the Decoder's side may not receive: for a server's
// Decoder, one a server sends, for a client's, one a client sends).
// Decode checks the shape of a message, not its values: call View.Validate
// and friends for that. Elements after the last known field of a message
// are skipped, so a newer peer may add fields. Arrays and maps nested
// deeper than MaxDepth, ids, layer and property names that are not UTF-8,
// and integers out of a field's range are malformed, named in the error.
func (d *Decoder) Decode(frame []byte) (Message, error) {
	d.r.Reset(frame)
	m, err := d.decode()
	left := d.r.Len()
	d.r.Reset(nil) // keep no reference to the frame
	if err != nil {
		if we, ok := as[Error](err); ok {
			return nil, we
		}
		if is(err, io.EOF) || is(err, io.ErrUnexpectedEOF) {
			err = errors.New("frame ends early")
		}
		return nil, Error{Code: CodeMalformed, Message: err.Error()}
	}
	if left != 0 {
		return nil, Error{Code: CodeMalformed, Message: itoa(left) + " bytes after the message"}
	}
	return m, nil
}

func (d *Decoder) decode() (Message, error) {
	n, err := d.arrayLen(1)
	if err != nil {
		return nil, err
	}
	code, err := d.r.Uint()
	if err != nil {
		return nil, wrap("message type", err)
	}
	t := Type(code)
	if code > 255 {
		t = 0
	}
	if d.clientOnly && t >= TypeWelcome && t <= TypeMore {
		return nil, Error{Code: CodeUnknownType, Message: "message type " + utoa(code) + " (" + t.String() + ") is sent by servers, not clients"}
	}
	fields := n - 1
	var m Message
	switch t {
	case TypeHello, TypeView, TypeUnview, TypeLayers, TypeRefresh:
		if d.requests == nil {
			return nil, Error{Code: CodeUnknownType, Message: "message type " + utoa(code) + " (" + t.String() + ") is sent by clients, not servers"}
		}
		m, err = d.requests(d, t, fields)
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
		return nil, Error{Code: CodeUnknownType, Message: "unknown message type " + utoa(code)}
	}
	if err != nil {
		return nil, wrap(t.String(), err)
	}
	return m, nil
}

// request decodes the fields of a message a client sends, of type t.
func (d *Decoder) request(t Type, fields int) (Message, error) {
	var m Message
	var err error
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
	case TypeRefresh:
		var r Refresh
		if err = need(fields, 1); err == nil {
			if r.Token, err = d.str("token", MaxTokenLen); err == nil {
				err = d.skip(fields-1, 1)
			}
		}
		m = r
	}
	return m, err
}

// need checks that a message has at least want fields.
func need(have, want int) error {
	if have < want {
		return errText(itoa(have), " fields, want at least ", itoa(want))
	}
	return nil
}

// skip skips the n fields after the known ones of an array at nesting
// level depth (the message's array is level 1), refusing values that nest
// past MaxDepth. msgpack's Decoder.Skip recurses without a limit: a frame
// of millions of nested arrays overflowed the stack.
func (d *Decoder) skip(n, depth int) error {
	for ; n > 0; n-- {
		size, err := mpack.SkipLen(d.r.Rest(), MaxDepth-depth)
		if err != nil {
			if _, deep := as[*mpack.DepthError](err); deep {
				return errText("a field nested deeper than ", itoa(MaxDepth), " levels")
			}
			if is(err, mpack.ErrShort) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if err := d.r.Skip(size); err != nil {
			return err
		}
	}
	return nil
}

// arrayLen reads an array header of at least min elements, refusing lengths
// the rest of the frame cannot hold (every element takes a byte at least).
func (d *Decoder) arrayLen(min int) (int, error) {
	c, err := d.r.Peek()
	if err != nil {
		return 0, err
	}
	if !mpack.IsArray(c) {
		return 0, errText("expected an array, found code ", hex2(c))
	}
	n, err := d.r.ArrayLen()
	if err != nil {
		return 0, err
	}
	if n < min {
		return 0, errText("array of ", itoa(n), " elements, want at least ", itoa(min))
	}
	if n > d.r.Len() {
		return 0, errText("array of ", itoa(n), " elements in ", itoa(d.r.Len()), " remaining bytes")
	}
	return n, nil
}

func (d *Decoder) str(what string, max int) (string, error) {
	c, err := d.r.Peek()
	if err != nil {
		return "", err
	}
	if !mpack.IsStr(c) {
		return "", errText(what, ": expected a string, found code ", hex2(c))
	}
	s, err := d.r.String()
	if err != nil {
		return "", wrap(what, err)
	}
	if len(s) > max {
		return "", errText(what, ": ", itoa(len(s)), " bytes, at most ", itoa(max), " allowed")
	}
	if !utf8.ValidString(s) {
		return "", errText(what, " ", quoteN(s, 40), " is not valid UTF-8")
	}
	return s, nil
}

func (d *Decoder) strings() ([]string, error) {
	if c, err := d.r.Peek(); err == nil && c == mpack.Nil {
		return nil, d.r.Nil()
	}
	n, err := d.arrayLen(0)
	if err != nil {
		return nil, wrap("layers", err)
	}
	if n > MaxLayers {
		return nil, errText("layers: ", itoa(n), " names, at most ", itoa(MaxLayers), " allowed")
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
	v, err := d.r.Int()
	if err != nil {
		return 0, wrap(what, err)
	}
	return v, nil
}

func (d *Decoder) float(what string) (float64, error) {
	v, err := d.r.Float()
	if err != nil {
		return 0, wrap(what, err)
	}
	return v, nil
}

func (d *Decoder) smallInt(what string, max int64) (int, error) {
	c, err := d.r.Peek()
	if err != nil {
		return 0, err
	}
	if c == 0xcf {
		// Beyond int64: DecodeInt64 would wrap it to a negative number.
		u, err := d.r.Uint()
		if err != nil {
			return 0, wrap(what, err)
		}
		if u > uint64(max) {
			return 0, errText(what, ": ", utoa(u), " is outside [0, ", i64(max), "]")
		}
		return int(u), nil
	}
	v, err := d.integer(what)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > max {
		return 0, errText(what, ": ", i64(v), " is outside [0, ", i64(max), "]")
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
	if fields >= 5 {
		declutter, err := d.smallInt("declutter", 1)
		if err != nil {
			return nil, err
		}
		h.Declutter = declutter == 1
	}
	return h, d.skip(fields-5, 1)
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
		return 0, errText(itoa(fields), " fields, want at least 1")
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
		if w.ClusterZoom, err = d.smallInt("cluster zoom", geo.MaxZoom); err != nil {
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
		return nil, wrap("views", err)
	}
	if n > MaxViewID+1 {
		return nil, errText("views: ", itoa(n), ", at most ", itoa(MaxViewID+1), " allowed")
	}
	if n > 0 {
		r.Views = make([]View, n)
	}
	for i := range r.Views {
		m, err := d.arrayLen(6)
		if err != nil {
			return nil, wrap("view "+itoa(i), err)
		}
		if r.Views[i], err = d.view(); err != nil {
			return nil, wrap("view "+itoa(i), err)
		}
		read := 6
		if m >= 7 {
			vf, err := d.smallInt("view flags", 255)
			if err != nil {
				return nil, wrap("view "+itoa(i), err)
			}
			read++
			if Flags(vf)&FlagClusters != 0 {
				if r.Clustered == nil {
					r.Clustered = make([]bool, n)
					r.ClusterZooms = make([]int, n)
				}
				r.Clustered[i] = true
				r.ClusterZooms[i] = -1
				if m >= 8 {
					if r.ClusterZooms[i], err = d.smallInt("cluster zoom", geo.MaxZoom); err != nil {
						return nil, wrap("view "+itoa(i), err)
					}
					read++
				}
			}
		}
		if err := d.skip(m-read, 3); err != nil {
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
		c, err := d.r.Peek()
		if err != nil {
			return nil, err
		}
		if mpack.IsStr(c) {
			ops[i].Remove = true
			if ops[i].Marker.ID, err = d.str("marker id", MaxIDLen); err != nil {
				return nil, wrap("op "+itoa(i), err)
			}
			continue
		}
		if err := d.op(&ops[i]); err != nil {
			return nil, wrap("op "+itoa(i), err)
		}
	}
	return ops, nil
}

// op decodes an array op: a marker upsert, or a tagged tile or cluster op.
func (d *Decoder) op(op *Op) error {
	n, err := d.arrayLen(5)
	if err != nil {
		return wrap("op", err)
	}
	c, err := d.r.Peek()
	if err != nil {
		return err
	}
	if mpack.IsStr(c) {
		return d.marker(&op.Marker, n)
	}
	tag, err := d.r.Uint()
	if err != nil {
		return wrap("op tag", err)
	}
	switch tag {
	case TagTile:
		op.Tile = &TileChange{}
		return d.tile(op.Tile, n)
	case TagCluster:
		if n < 8 {
			return errText("cluster op of ", itoa(n), " elements, want 8")
		}
		op.Cluster = &Cluster{}
		return d.cluster(op.Cluster, n)
	}
	return errText("unknown op tag ", utoa(tag))
}

func (d *Decoder) tileXYZ(z *uint8, x, y *uint32) error {
	zz, err := d.smallInt("zoom", geo.MaxZoom)
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
	if t.Version, err = d.r.Uint(); err != nil {
		return wrap("version", err)
	}
	return d.skip(n-6, 2)
}

func (d *Decoder) cluster(c *Cluster, n int) error {
	var err error
	if c.View, err = d.smallInt("view id", 1<<16); err != nil {
		return err
	}
	id, err := d.smallInt("cluster id", MaxClusterID)
	if err != nil {
		return err
	}
	c.ID = uint64(id)
	z, err := d.smallInt("cluster zoom", geo.MaxZoom)
	if err != nil {
		return err
	}
	c.Z = uint8(z)
	if c.Count, err = d.r.Uint(); err != nil {
		return wrap("count", err)
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
	ez, err := d.smallInt("expansion zoom", geo.MaxZoom)
	if err != nil {
		return err
	}
	c.ExpansionZoom = uint8(ez)
	if n >= 9 {
		// The marker of a cluster of count 1: an upsert op one level
		// deeper than a batch's (frame, op, marker, props), its props
		// held to a batch upsert's limit all the same (so a frame may
		// nest MaxDepth + 1 here, still bounded; a server sends no
		// deeper than MaxDepth: Encoder.LoneClusterOp). One decoding of
		// markers keeps the browser's .wasm small.
		mn, err := d.arrayLen(5)
		if err != nil {
			return err
		}
		c.Marker = new(Marker)
		if err := d.marker(c.Marker, mn); err != nil {
			return err
		}
	}
	return d.skip(n-9, 2)
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
	if m.Version, err = d.r.Uint(); err != nil {
		return wrap("version", err)
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
	c, err := d.r.Peek()
	if err != nil {
		return nil, err
	}
	if c == mpack.Nil {
		return nil, d.r.Nil()
	}
	n, err := d.r.MapLen()
	if err != nil {
		return nil, wrap("props", err)
	}
	if n > MaxPropsSize {
		return nil, errText("props: ", itoa(n), " entries, at most ", itoa(MaxPropsSize), " allowed")
	}
	if n > d.r.Len() {
		return nil, errText("props: ", itoa(n), " entries in ", itoa(d.r.Len()), " remaining bytes")
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
			return nil, wrap("property "+quote(k), err)
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
	c, err := d.r.Peek()
	if err != nil {
		return nil, err
	}
	if mpack.IsUint(c) {
		u, err := d.r.Uint()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	}
	isMap, isArray := mpack.IsMap(c), mpack.IsArray(c)
	if !isMap && !isArray {
		return d.r.Scalar()
	}
	if left <= 0 {
		return nil, errText("nested deeper than ", itoa(MaxDepth), " levels")
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
	n, err := d.r.MapLen()
	if err != nil {
		return nil, err
	}
	if 2*n > d.r.Len() {
		return nil, errText("map of ", itoa(n), " entries in ", itoa(d.r.Len()), " remaining bytes")
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
