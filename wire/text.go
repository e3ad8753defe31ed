package wire

import (
	"strconv"
	"unicode/utf8"
)

// The wire package formats its error messages with strconv rather than
// fmt: the browser client links this package, and fmt (with reflect, which
// it needs) would add about 120 KB of brotli to the .wasm. These helpers
// give the same text as the fmt verbs named.

// wrapError is fmt.Errorf("<prefix>: %w", err).
type wrapError struct {
	prefix string
	err    error
}

func (e *wrapError) Error() string { return e.prefix + ": " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }

func wrap(prefix string, err error) error { return &wrapError{prefix, err} }

// as is errors.As for the type T, and is errors.Is, along chains of
// Unwrap() error (the only wrapping the decoders do): errors.As would link
// internal/reflectlite into the browser's .wasm, about 12 KB of brotli.
func as[T error](err error) (T, bool) {
	for ; err != nil; err = unwrapOne(err) {
		if t, ok := err.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

func is(err, target error) bool {
	for ; err != nil; err = unwrapOne(err) {
		if err == target {
			return true
		}
	}
	return false
}

func unwrapOne(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}

// textError is errors.New with its text built from parts.
type textError string

func (e textError) Error() string { return string(e) }

func errText(parts ...string) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return textError(b)
}

// itoa is %d of an int.
func itoa(v int) string { return strconv.Itoa(v) }

// utoa is %d of a uint64.
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// ftoa is %v (or %g) of a float64.
func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// hex2 is 0x%02x of a byte.
func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[c>>4], digits[c&15]})
}

// quote is %+q (strconv.QuoteToASCII), written out: printable ASCII as
// it is, the escapes Go writes for \a \b \f \n \r \t \v \\ and \",
// other control bytes and invalid UTF-8 as \xNN, every other rune as
// \uNNNN or \UNNNNNNNN. Not %q: strconv.Quote keeps the printable non-ASCII
// runes, and telling them apart links unicode's tables of printable runes
// (strconv.IsPrint) into the browser's .wasm, about 5 KB of brotli.
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendHex(append(b, '\\', 'x'), uint32(s[i]), 2)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r >= ' ' && r < 0x7f:
			b = append(b, byte(r))
		case r >= 0x10000:
			b = appendHex(append(b, '\\', 'U'), uint32(r), 8)
		case r >= 0x80:
			b = appendHex(append(b, '\\', 'u'), uint32(r), 4)
		default:
			b = appendControl(b, byte(r))
		}
		i += n
	}
	return string(append(b, '"'))
}

// appendControl appends the escape of an ASCII control byte: Go's letter
// escape where there is one, \xNN otherwise.
func appendControl(b []byte, c byte) []byte {
	const from, to = "\a\b\f\n\r\t\v", "abfnrtv"
	for i := range len(from) {
		if from[i] == c {
			return append(b, '\\', to[i])
		}
	}
	return appendHex(append(b, '\\', 'x'), uint32(c), 2)
}

// appendHex appends the last digits hexadecimal digits of v, lowercase.
func appendHex(b []byte, v uint32, digits int) []byte {
	const hex = "0123456789abcdef"
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b = append(b, hex[v>>shift&15])
	}
	return b
}

// quoteN is %+.Nq: s cut to n runes (each invalid byte counting as one), then
// quoted.
func quoteN(s string, n int) string {
	for i := range s {
		if n == 0 {
			s = s[:i]
			break
		}
		n--
	}
	return quote(s)
}

// i64 is %d of an int64.
func i64(v int64) string { return strconv.FormatInt(v, 10) }

// typeOf names the Go type of a property value Marker.Validate refuses,
// as %T would for the types that reach it from decoders (JSON and
// MessagePack give []any and map[string]any); others are named by kind
// only, which needs no reflection.
func typeOf(v any) string {
	switch v.(type) {
	case []any:
		return "[]interface {}"
	case map[string]any:
		return "map[string]interface {}"
	case []string:
		return "[]string"
	case []byte:
		return "[]uint8"
	case map[string]string:
		return "map[string]string"
	}
	return "value of another Go type"
}
