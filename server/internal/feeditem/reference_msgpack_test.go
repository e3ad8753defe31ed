package feeditem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file keeps the MessagePack feed decoder as it was before issue 13,
// built on msgpack.Decoder over a bytes.Reader, unchanged but for its
// names: the decoder that parses the body by hand (msgpack.go) must give
// the same updates and the same errors, offsets included, and
// FuzzDecodeMsgpackSameAsReference checks that it does.

// referenceDecodeMsgpack is DecodeMsgpack as it was before issue 13.
func referenceDecodeMsgpack(body []byte, maxItems int) ([]server.Update, error) {
	r := bytes.NewReader(body)
	d := &refDecoder{dec: msgpack.NewDecoder(r), r: r, body: body, level: 1}
	var c collector
	code, err := d.dec.PeekCode()
	if err != nil {
		return nil, malformed(0, "the body is empty; send a MessagePack map or an array of maps")
	}
	switch {
	case refIsMap(code):
		c.updates = make([]server.Update, 0, 1)
		if err := d.item(0, &c); err != nil {
			return nil, d.malformed(err)
		}
	case refIsArray(code):
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return nil, d.malformed(err)
		}
		if maxItems > 0 && n > maxItems {
			return nil, tooMany(maxItems)
		}
		if n > len(body) { // every item takes at least one byte
			return nil, d.malformed(fmt.Errorf("array of %d items in %d bytes", n, len(body)))
		}
		d.level = 2
		c.updates = make([]server.Update, 0, n)
		for i := range n {
			if err := d.item(i, &c); err != nil {
				return nil, d.malformed(err)
			}
		}
	default:
		return nil, malformed(0, "the body must be a MessagePack map or an array of maps, got code 0x%02x", code)
	}
	if r.Len() > 0 {
		return nil, malformed(d.offset(), "malformed MessagePack at byte %d: data after the end of the value", d.offset())
	}
	return c.result()
}

type refDecoder struct {
	dec  *msgpack.Decoder
	r    *bytes.Reader
	body []byte
	// level is how deep the items' maps are: 1 in a body of one item, 2
	// in an array.
	level int

	key   [32]byte // holds a map key while its value is decoded: keys are not kept
	val   [32]byte // holds a layer name while it is compared with the last
	layer string   // the last layer decoded, given again to items of the same layer
}

// offset is how far decoding went. msgpack.Decoder reads a bytes.Reader
// directly (it is an io.ByteScanner), so this is exact.
func (d *refDecoder) offset() int64 { return int64(len(d.body) - d.r.Len()) }

func (d *refDecoder) malformed(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(d.offset(), "malformed MessagePack: the body ends too early, at byte %d", d.offset())
	}
	return malformed(d.offset(), "malformed MessagePack at byte %d: %v", d.offset(), err)
}

// item decodes the next value as item i into c. It returns an error only
// when the body is malformed: a well-formed value of the wrong type makes
// the item bad and decoding goes on.
func (d *refDecoder) item(i int, c *collector) error {
	code, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if !refIsMap(code) {
		if err := d.skipValue(d.level-1, "the item"); err != nil {
			return err
		}
		c.fail(i, "", fmt.Sprintf("the item must be a map, got %s", refCodeKind(code)))
		return nil
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return err
	}
	var it Item
	var reason string
	for range n {
		code, err := d.dec.PeekCode()
		if err != nil {
			return err
		}
		if !msgpcode.IsString(code) {
			if err := d.skip(2, d.level, "a map key or its value"); err != nil {
				return err
			}
			if reason == "" {
				reason = fmt.Sprintf("map keys must be strings, got %s", refCodeKind(code))
			}
			continue
		}
		key, err := d.readKey()
		if err != nil {
			return err
		}
		bad, err := d.field(key, &it)
		if err != nil {
			return err
		}
		if reason == "" {
			reason = bad
		}
	}
	if reason != "" {
		c.fail(i, it.ID, reason)
		return nil
	}
	if len(it.Props) == 0 {
		it.Props = nil
	}
	c.add(i, &it)
	return nil
}

// skipValue skips the next value, which is inside a container at nesting
// level (the body's top value being level 1), without recursion: arrays and
// maps nested past wire.MaxDepth are an error naming what is skipped and
// the limit. msgpack's Decoder.Skip recursed without a limit, and a prop
// of 8 million nested arrays overflowed the stack and ended the process.
func (d *refDecoder) skipValue(level int, what string) error {
	size, err := wire.ValueLen(d.body[len(d.body)-d.r.Len():], wire.MaxDepth-level)
	if err != nil {
		if errors.Is(err, wire.ErrTooDeep) {
			return fmt.Errorf("%s nested deeper than %d levels", what, wire.MaxDepth)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	_, err = d.r.Seek(int64(size), io.SeekCurrent)
	return err
}

// skip skips n values, as skipValue.
func (d *refDecoder) skip(n, level int, what string) error {
	for range n {
		if err := d.skipValue(level, what); err != nil {
			return err
		}
	}
	return nil
}

// readKey reads a string map key into d.key when it fits: a feed sends six
// keys per marker, and allocating each was a fifth of the decoding.
func (d *refDecoder) readKey() ([]byte, error) {
	n, err := d.dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n > d.r.Len() {
		return nil, io.ErrUnexpectedEOF
	}
	key := d.key[:0]
	if n > len(d.key) {
		key = make([]byte, n)
	}
	key = key[:max(n, 0)]
	return key, d.dec.ReadFull(key)
}

// readLayer reads a layer name; a name equal to the last one read is
// not allocated again.
func (d *refDecoder) readLayer() (string, error) {
	n, err := d.dec.DecodeBytesLen()
	if err != nil {
		return "", err
	}
	if n > d.r.Len() {
		return "", io.ErrUnexpectedEOF
	}
	if n <= len(d.val) {
		b := d.val[:max(n, 0)]
		if err := d.dec.ReadFull(b); err != nil {
			return "", err
		}
		if string(b) != d.layer {
			d.layer = string(b)
		}
		return d.layer, nil
	}
	b := make([]byte, n)
	err = d.dec.ReadFull(b)
	return string(b), err
}

// field decodes the value of key into it. It returns a reason when the
// value has the wrong type (the value is then skipped), and an error when
// the body is malformed.
func (d *refDecoder) field(key []byte, it *Item) (string, error) {
	code, err := d.dec.PeekCode()
	if err != nil {
		return "", err
	}
	wrong := func(want string) (string, error) {
		if err := d.skipValue(d.level, shorten(string(key))); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s must be %s, got %s", key, want, refCodeKind(code)), nil
	}
	switch string(key) {
	case "id":
		switch {
		case msgpcode.IsString(code):
			it.ID, err = d.dec.DecodeString()
		case refIsInt(code):
			var v int64
			v, err = d.dec.DecodeInt64()
			it.ID = strconv.FormatInt(v, 10)
		case refIsUint(code):
			var v uint64
			v, err = d.dec.DecodeUint64()
			it.ID = strconv.FormatUint(v, 10)
		case code == msgpcode.Nil:
			err = d.dec.DecodeNil()
		default:
			return wrong("a string or an integer")
		}
	case "layer":
		switch {
		case msgpcode.IsString(code):
			it.Layer, err = d.readLayer()
		case code == msgpcode.Nil:
			err = d.dec.DecodeNil()
		default:
			return wrong("a string")
		}
	case "lon", "lat", "ttl":
		if !refIsNumber(code) {
			return wrong("a number")
		}
		var v float64
		if refIsUint(code) {
			var u uint64
			u, err = d.dec.DecodeUint64()
			v = float64(u)
		} else {
			v, err = d.dec.DecodeFloat64()
		}
		switch string(key) {
		case "lon":
			it.Lon, it.HasLon = v, true
		case "lat":
			it.Lat, it.HasLat = v, true
		default:
			it.TTL = v
		}
	case "version":
		switch {
		case refIsUint(code):
			it.Version, err = d.dec.DecodeUint64()
			it.HasVersion = true
		case refIsInt(code):
			var v int64
			if v, err = d.dec.DecodeInt64(); err == nil && v < 0 {
				return fmt.Sprintf("version must be an integer ≥ 0, got %d", v), nil
			}
			it.Version, it.HasVersion = uint64(v), true
		default:
			return wrong("an integer ≥ 0")
		}
	case "time":
		switch {
		case refIsInt(code):
			it.Time, err = d.dec.DecodeInt64()
		case refIsUint(code):
			var v uint64
			if v, err = d.dec.DecodeUint64(); err == nil && v > math.MaxInt64 {
				return fmt.Sprintf("time %d is too large", v), nil
			}
			it.Time = int64(v)
		default:
			return wrong("an integer (Unix milliseconds)")
		}
	case "props":
		switch {
		case refIsMap(code):
			var reason string
			if it.Props, reason, err = d.props(); err == nil && reason != "" {
				return reason, nil
			}
		case code == msgpcode.Nil:
			err = d.dec.DecodeNil()
		default:
			return wrong("a map")
		}
	case "remove":
		switch code {
		case msgpcode.True, msgpcode.False:
			it.Remove, err = d.dec.DecodeBool()
		default:
			return wrong("true or false")
		}
	default:
		if err := d.skipValue(d.level, shorten(string(key))); err != nil {
			return "", err
		}
		return fmt.Sprintf("unknown key %q; put your own data in props", shorten(string(key))), nil
	}
	return "", err
}

// props decodes a props map. Integers decode as int64 (uint64 beyond
// int64), floats as float64; CheckProps judges them later. A name that is
// not a string or a value that is not a scalar gives a reason.
func (d *refDecoder) props() (map[string]any, string, error) {
	level := d.level + 1 // of the props map
	n, err := d.dec.DecodeMapLen()
	if err != nil || n <= 0 {
		return nil, "", err
	}
	props := make(map[string]any, min(n, 64))
	reason := ""
	for range n {
		code, err := d.dec.PeekCode()
		if err != nil {
			return nil, "", err
		}
		if !msgpcode.IsString(code) {
			if err := d.skip(2, level, "a props name or its value"); err != nil {
				return nil, "", err
			}
			if reason == "" {
				reason = fmt.Sprintf("props names must be strings, got %s", refCodeKind(code))
			}
			continue
		}
		k, err := d.dec.DecodeString()
		if err != nil {
			return nil, "", err
		}
		if code, err = d.dec.PeekCode(); err != nil {
			return nil, "", err
		}
		if !refIsNumber(code) && !msgpcode.IsString(code) && code != msgpcode.Nil && code != msgpcode.True && code != msgpcode.False {
			if err := d.skipValue(level, "props."+shorten(k)); err != nil {
				return nil, "", err
			}
			if reason == "" {
				reason = fmt.Sprintf("props.%s is %s; values must be strings, numbers, booleans or nil", shorten(k), refCodeKind(code))
			}
			continue
		}
		var v any
		if refIsUint(code) {
			var u uint64
			if u, err = d.dec.DecodeUint64(); u <= math.MaxInt64 {
				v = int64(u)
			} else {
				v = u
			}
		} else {
			v, err = d.dec.DecodeInterfaceLoose() // a scalar: no recursion
		}
		if err != nil {
			return nil, "", err
		}
		props[k] = v
	}
	return props, reason, nil
}

func refIsMap(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}
func refIsArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func refIsUint(c byte) bool {
	return c <= msgpcode.PosFixedNumHigh || (c >= msgpcode.Uint8 && c <= msgpcode.Uint64)
}

func refIsInt(c byte) bool {
	return c >= msgpcode.NegFixedNumLow || (c >= msgpcode.Int8 && c <= msgpcode.Int64)
}

func refIsNumber(c byte) bool {
	return refIsUint(c) || refIsInt(c) || c == msgpcode.Float || c == msgpcode.Double
}

func refCodeKind(c byte) string {
	switch {
	case refIsMap(c):
		return "a map"
	case refIsArray(c):
		return "an array"
	case msgpcode.IsString(c):
		return "a string"
	case refIsNumber(c):
		return "a number"
	case c == msgpcode.Nil:
		return "nil"
	case c == msgpcode.True || c == msgpcode.False:
		return "a boolean"
	case msgpcode.IsBin(c):
		return "binary data"
	case msgpcode.IsExt(c):
		return "an extension value"
	}
	return fmt.Sprintf("code 0x%02x", c)
}
