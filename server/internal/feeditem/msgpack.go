package feeditem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// DecodeMsgpack decodes a MessagePack body: one map with the keys of the
// JSON format, or an array of them. Numbers may be of any MessagePack
// number type; an id may be a string or an integer. Integer props decode
// as int64 (uint64 beyond int64), as the wire decoder gives them. Errors
// are those of DecodeJSON; a Malformed error's offset is where decoding
// stopped. Arrays and maps nested deeper than wire.MaxDepth are malformed,
// found without recursion.
//
// It reads the body in place (docs/design.md, "The feed's MessagePack
// decoded by hand"): the only allocations are the updates, one string per
// id, one per new layer name and the props.
func DecodeMsgpack(body []byte, maxItems int) ([]server.Update, error) {
	if len(body) == 0 {
		return nil, malformed(0, "the body is empty; send a MessagePack map or an array of maps")
	}
	d := mpDecoder{b: body, level: 1}
	var c collector
	switch code := body[0]; {
	case isMap(code):
		c.updates = make([]server.Update, 0, 1)
		if err := d.item(0, &c); err != nil {
			return nil, d.malformed(err)
		}
	case isArray(code):
		n, err := d.containerLen(code)
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
	if d.i < len(body) {
		return nil, malformed(int64(d.i), "malformed MessagePack at byte %d: data after the end of the value", d.i)
	}
	return c.result()
}

// An mpDecoder reads a MessagePack body in place: i is the offset of the
// next byte to read. Its reads fail as msgpack.Decoder's did on a
// bytes.Reader, with the same offset: a value cut short is io.EOF or
// io.ErrUnexpectedEOF with i at the end of the body (the reader had read
// what there was), but for the checked lengths of keys and layer names and
// for skipped values, where i stays before the missing bytes.
type mpDecoder struct {
	b []byte
	i int
	// level is how deep the items' maps are: 1 in a body of one item, 2
	// in an array.
	level int
	layer string // the last layer decoded, given again to items of the same layer
}

func (d *mpDecoder) malformed(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(int64(d.i), "malformed MessagePack: the body ends too early, at byte %d", d.i)
	}
	return malformed(int64(d.i), "malformed MessagePack at byte %d: %v", d.i, err)
}

// peek returns the code of the next value without reading it.
func (d *mpDecoder) peek() (byte, error) {
	if d.i >= len(d.b) {
		return 0, io.EOF
	}
	return d.b[d.i], nil
}

// cutShort is a read past the end of the body: the reader read what there
// was.
func (d *mpDecoder) cutShort() error {
	d.i = len(d.b)
	return io.ErrUnexpectedEOF
}

// bigEndian reads an unsigned integer of size 1, 2, 4 or 8 bytes.
func (d *mpDecoder) bigEndian(size int) (uint64, error) {
	if len(d.b)-d.i < size {
		return 0, d.cutShort()
	}
	p := d.b[d.i:]
	d.i += size
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// containerLen reads the header of the array or map of code: its number of
// elements (of pairs for a map).
func (d *mpDecoder) containerLen(code byte) (int, error) {
	d.i++
	switch code {
	case 0xdc, 0xde: // array 16, map 16
		n, err := d.bigEndian(2)
		return int(n), err
	case 0xdd, 0xdf: // array 32, map 32
		n, err := d.bigEndian(4)
		return int(n), err
	}
	return int(code & 0x0f), nil
}

// strLen reads the header of the string of code: its length in bytes.
func (d *mpDecoder) strLen(code byte) (int, error) {
	d.i++
	switch code {
	case 0xd9:
		n, err := d.bigEndian(1)
		return int(n), err
	case 0xda:
		n, err := d.bigEndian(2)
		return int(n), err
	case 0xdb:
		n, err := d.bigEndian(4)
		return int(n), err
	}
	return int(code & 0x1f), nil
}

// strBytes reads the string of code and returns its bytes, which alias
// the body. Unlike string, a length past the end of the body leaves i
// after the header, as readKey and readLayer did.
func (d *mpDecoder) strBytes(code byte) ([]byte, error) {
	var n int
	if code <= 0xbf { // a fixstr, as feeds write their keys
		d.i++
		n = int(code & 0x1f)
	} else {
		var err error
		if n, err = d.strLen(code); err != nil {
			return nil, err
		}
	}
	if n > len(d.b)-d.i {
		return nil, io.ErrUnexpectedEOF
	}
	s := d.b[d.i : d.i+n]
	d.i += n
	return s, nil
}

// string reads the string of code as a new string.
func (d *mpDecoder) string(code byte) (string, error) {
	n, err := d.strLen(code)
	if err != nil || n <= 0 {
		return "", err
	}
	if n > len(d.b)-d.i {
		return "", d.cutShort()
	}
	s := string(d.b[d.i : d.i+n])
	d.i += n
	return s, nil
}

// layerName reads a layer name; a name equal to the last one read is not
// allocated again.
func (d *mpDecoder) layerName(code byte) (string, error) {
	b, err := d.strBytes(code)
	if err != nil {
		return "", err
	}
	if string(b) != d.layer {
		d.layer = string(b)
	}
	return d.layer, nil
}

// uint reads the unsigned integer of code (a positive fixnum or uint 8 to
// 64).
func (d *mpDecoder) uint(code byte) (uint64, error) {
	d.i++
	if code <= 0x7f {
		return uint64(code), nil
	}
	return d.bigEndian(1 << (code - 0xcc))
}

// int reads the integer of code (a fixnum or any int or uint) as int64,
// wrapping a uint64 beyond it as msgpack.Decoder's DecodeInt64 did.
func (d *mpDecoder) int(code byte) (int64, error) {
	d.i++
	switch {
	case code <= 0x7f || code >= 0xe0:
		return int64(int8(code)), nil
	case code >= 0xcc && code <= 0xcf:
		n, err := d.bigEndian(1 << (code - 0xcc))
		return int64(n), err
	}
	n, err := d.bigEndian(1 << (code - 0xd0)) // int 8 to 64
	switch code {
	case 0xd0:
		return int64(int8(n)), err
	case 0xd1:
		return int64(int16(n)), err
	case 0xd2:
		return int64(int32(n)), err
	}
	return int64(n), err
}

// float reads the float of code (float 32 or 64); a float 32 is widened.
func (d *mpDecoder) float(code byte) (float64, error) {
	d.i++
	if code == 0xca {
		n, err := d.bigEndian(4)
		return float64(math.Float32frombits(uint32(n))), err
	}
	n, err := d.bigEndian(8)
	return math.Float64frombits(n), err
}

// number reads any number but an unsigned integer as float64, as
// msgpack.Decoder's DecodeFloat64 did, down to its error for a signed
// integer cut short.
func (d *mpDecoder) number(code byte) (float64, error) {
	if code == 0xca || code == 0xcb {
		return d.float(code)
	}
	v, err := d.int(code)
	if err != nil {
		return 0, fmt.Errorf("msgpack: invalid code=%x decoding float32", code)
	}
	return float64(v), nil
}

// item decodes the next value as item i into c. It returns an error only
// when the body is malformed: a well-formed value of the wrong type makes
// the item bad and decoding goes on.
func (d *mpDecoder) item(i int, c *collector) error {
	code, err := d.peek()
	if err != nil {
		return err
	}
	if !isMap(code) {
		if err := d.skipValue(d.level-1, "the item"); err != nil {
			return err
		}
		c.fail(i, "", fmt.Sprintf("the item must be a map, got %s", codeKind(code)))
		return nil
	}
	n, err := d.containerLen(code)
	if err != nil {
		return err
	}
	var it Item
	var reason string
	for range n {
		code, err := d.peek()
		if err != nil {
			return err
		}
		if !isString(code) {
			if err := d.skip(2, d.level, "a map key or its value"); err != nil {
				return err
			}
			if reason == "" {
				reason = fmt.Sprintf("map keys must be strings, got %s", codeKind(code))
			}
			continue
		}
		key, err := d.strBytes(code)
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
func (d *mpDecoder) skipValue(level int, what string) error {
	size, err := wire.ValueLen(d.b[d.i:], wire.MaxDepth-level)
	if err != nil {
		if errors.Is(err, wire.ErrTooDeep) {
			return fmt.Errorf("%s nested deeper than %d levels", what, wire.MaxDepth)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	d.i += size
	return nil
}

// skip skips n values, as skipValue.
func (d *mpDecoder) skip(n, level int, what string) error {
	for range n {
		if err := d.skipValue(level, what); err != nil {
			return err
		}
	}
	return nil
}

// wrong skips the value of key, of the wrong type, and says so.
func (d *mpDecoder) wrong(key []byte, code byte, want string) (string, error) {
	if err := d.skipValue(d.level, shorten(string(key))); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s must be %s, got %s", key, want, codeKind(code)), nil
}

// field decodes the value of key into it. It returns a reason when the
// value has the wrong type (the value is then skipped), and an error when
// the body is malformed.
func (d *mpDecoder) field(key []byte, it *Item) (string, error) {
	code, err := d.peek()
	if err != nil {
		return "", err
	}
	switch string(key) {
	case "id":
		switch {
		case isString(code):
			it.ID, err = d.string(code)
		case isInt(code):
			var v int64
			v, err = d.int(code)
			it.ID = strconv.FormatInt(v, 10)
		case isUint(code):
			var v uint64
			v, err = d.uint(code)
			it.ID = strconv.FormatUint(v, 10)
		case code == 0xc0:
			d.i++
		default:
			return d.wrong(key, code, "a string or an integer")
		}
	case "layer":
		switch {
		case isString(code):
			it.Layer, err = d.layerName(code)
		case code == 0xc0:
			d.i++
		default:
			return d.wrong(key, code, "a string")
		}
	case "lon", "lat", "ttl":
		if !isNumber(code) {
			return d.wrong(key, code, "a number")
		}
		var v float64
		if code == 0xcb && len(d.b)-d.i > 8 { // a float 64, as feeds write coordinates
			v = math.Float64frombits(binary.BigEndian.Uint64(d.b[d.i+1:]))
			d.i += 9
		} else if isUint(code) {
			var u uint64
			u, err = d.uint(code)
			v = float64(u)
		} else {
			v, err = d.number(code)
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
		case isUint(code):
			it.Version, err = d.uint(code)
			it.HasVersion = true
		case isInt(code):
			var v int64
			if v, err = d.int(code); err == nil && v < 0 {
				return fmt.Sprintf("version must be an integer ≥ 0, got %d", v), nil
			}
			it.Version, it.HasVersion = uint64(v), true
		default:
			return d.wrong(key, code, "an integer ≥ 0")
		}
	case "time":
		switch {
		case isInt(code):
			it.Time, err = d.int(code)
		case isUint(code):
			var v uint64
			if v, err = d.uint(code); err == nil && v > math.MaxInt64 {
				return fmt.Sprintf("time %d is too large", v), nil
			}
			it.Time = int64(v)
		default:
			return d.wrong(key, code, "an integer (Unix milliseconds)")
		}
	case "props":
		switch {
		case isMap(code):
			var reason string
			if it.Props, reason, err = d.props(code); err == nil && reason != "" {
				return reason, nil
			}
		case code == 0xc0:
			d.i++
		default:
			return d.wrong(key, code, "a map")
		}
	case "remove":
		switch code {
		case 0xc2, 0xc3:
			d.i++
			it.Remove = code == 0xc3
		default:
			return d.wrong(key, code, "true or false")
		}
	default:
		if err := d.skipValue(d.level, shorten(string(key))); err != nil {
			return "", err
		}
		return fmt.Sprintf("unknown key %q; put your own data in props", shorten(string(key))), nil
	}
	return "", err
}

// props decodes the props map of code. Integers decode as int64 (uint64
// beyond int64), floats as float64, as msgpack.Decoder's
// DecodeInterfaceLoose gave them; CheckProps judges them later. A name that
// is not a string or a value that is not a scalar gives a reason.
func (d *mpDecoder) props(code byte) (map[string]any, string, error) {
	level := d.level + 1 // of the props map
	n, err := d.containerLen(code)
	if err != nil || n <= 0 {
		return nil, "", err
	}
	props := make(map[string]any, min(n, 64))
	reason := ""
	for range n {
		code, err := d.peek()
		if err != nil {
			return nil, "", err
		}
		if !isString(code) {
			if err := d.skip(2, level, "a props name or its value"); err != nil {
				return nil, "", err
			}
			if reason == "" {
				reason = fmt.Sprintf("props names must be strings, got %s", codeKind(code))
			}
			continue
		}
		k, err := d.string(code)
		if err != nil {
			return nil, "", err
		}
		if code, err = d.peek(); err != nil {
			return nil, "", err
		}
		var v any
		switch {
		case isUint(code):
			var u uint64
			if u, err = d.uint(code); u <= math.MaxInt64 {
				v = int64(u)
			} else {
				v = u
			}
		case isInt(code):
			v, err = d.int(code)
		case code == 0xca || code == 0xcb:
			v, err = d.float(code)
		case isString(code):
			v, err = d.string(code)
		case code == 0xc0:
			d.i++
		case code == 0xc2 || code == 0xc3:
			d.i++
			v = code == 0xc3
		default:
			if err := d.skipValue(level, "props."+shorten(k)); err != nil {
				return nil, "", err
			}
			if reason == "" {
				reason = fmt.Sprintf("props.%s is %s; values must be strings, numbers, booleans or nil", shorten(k), codeKind(code))
			}
			continue
		}
		if err != nil {
			return nil, "", err
		}
		props[k] = v
	}
	return props, reason, nil
}

func isMap(c byte) bool   { return c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf }
func isArray(c byte) bool { return c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd }

func isString(c byte) bool { return c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb }

// isUint: a positive fixnum or uint 8 to 64.
func isUint(c byte) bool { return c <= 0x7f || c >= 0xcc && c <= 0xcf }

// isInt: a negative fixnum or int 8 to 64.
func isInt(c byte) bool { return c >= 0xe0 || c >= 0xd0 && c <= 0xd3 }

// isNumber: an integer or a float 32 or 64.
func isNumber(c byte) bool { return isUint(c) || isInt(c) || c == 0xca || c == 0xcb }

func codeKind(c byte) string {
	switch {
	case isMap(c):
		return "a map"
	case isArray(c):
		return "an array"
	case isString(c):
		return "a string"
	case isNumber(c):
		return "a number"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "a boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "binary data"
	case c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8:
		return "an extension value"
	}
	return fmt.Sprintf("code 0x%02x", c)
}
