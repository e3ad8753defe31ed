package wire

import "strconv"

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

// quote is %q.
func quote(s string) string { return strconv.Quote(s) }

// quoteN is %.Nq: s cut to n runes (each invalid byte counting as one), then
// quoted.
func quoteN(s string, n int) string {
	for i := range s {
		if n == 0 {
			s = s[:i]
			break
		}
		n--
	}
	return strconv.Quote(s)
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
