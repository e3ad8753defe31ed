package feeditem

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pushmap/pushmap/wire"
)

// CheckJSON reports what encoding/json would let through or change in a
// JSON document: arrays and objects nested deeper than wire.MaxDepth,
// invalid UTF-8, and \u escapes of half a surrogate pair (both of which
// encoding/json silently turns into U+FFFD, so that an id would come back
// as another). It returns a Malformed *Error with the offending byte's
// offset, or nil; the rest of the syntax is left to the decoder. It runs
// in one pass over doc, without allocating.
func CheckJSON(doc []byte) *Error {
	if !utf8.Valid(doc) {
		off := 0
		for off < len(doc) {
			r, size := utf8.DecodeRune(doc[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return malformed(int64(off), "malformed JSON at byte %d: invalid UTF-8", off)
	}
	depth := 0
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '[', '{':
			depth++
			if depth > wire.MaxDepth {
				return malformed(int64(i), "malformed JSON at byte %d: arrays and objects nested deeper than %d levels", i, wire.MaxDepth)
			}
		case ']', '}':
			depth--
		case '"':
			end, bad := scanString(doc, i+1)
			if bad >= 0 {
				return malformed(int64(bad), "malformed JSON at byte %d: %.6s is half of a UTF-16 surrogate pair, not a character", bad, doc[bad:])
			}
			i = end
		}
	}
	return nil
}

// scanString returns the offset of the quote that closes the string whose
// content starts at doc[i] (len(doc) when none does), or the offset of a
// \u escape of an unpaired surrogate as bad (-1 when none).
func scanString(doc []byte, i int) (end, bad int) {
	for {
		q := bytes.IndexByte(doc[i:], '"')
		if q < 0 {
			return len(doc), -1
		}
		e := bytes.IndexByte(doc[i:i+q], '\\')
		if e < 0 {
			return i + q, -1
		}
		at := i + e // a backslash before the quote
		if at+1 >= len(doc) {
			return len(doc), -1
		}
		if doc[at+1] != 'u' {
			i = at + 2 // \" and the others
			continue
		}
		r, ok := hex4(doc, at+2)
		if !ok { // not 4 hex digits: the decoder reports it
			i = at + 2
			continue
		}
		i = at + 6
		if r < 0xd800 || r > 0xdfff {
			continue
		}
		if r >= 0xdc00 { // a low half first
			return 0, at
		}
		if i+1 < len(doc) && doc[i] == '\\' && doc[i+1] == 'u' {
			if lo, ok := hex4(doc, i+2); ok && lo >= 0xdc00 && lo <= 0xdfff {
				i += 6
				continue
			}
		}
		return 0, at
	}
}

// hex4 reads the 4 hex digits at doc[i:].
func hex4(doc []byte, i int) (rune, bool) {
	if i+4 > len(doc) {
		return 0, false
	}
	var r rune
	for _, c := range doc[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// exactNumber turns a JSON number decoded with UseNumber into an int64
// when it is an integer within int64, a uint64 when within uint64 only, and
// a float64 otherwise (±Inf when out of range, which CheckProps refuses):
// 1764102345123456789 stays exact, where decoding into float64 would round
// it to 1764102345123456768.
func exactNumber(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return v
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// exactNumbers replaces the JSON numbers among props' values with
// exactNumber's.
func exactNumbers(props map[string]any) {
	for k, v := range props {
		if n, ok := v.(json.Number); ok {
			props[k] = exactNumber(n)
		}
	}
}

// DecodeProps decodes a JSON object of props, as a Redis entry's props
// field carries: CheckJSON's checks first, then numbers kept exact as in
// DecodeJSON. null gives nil props.
func DecodeProps(doc []byte) (map[string]any, error) {
	if err := CheckJSON(doc); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var props map[string]any
	if err := dec.Decode(&props); err != nil {
		return nil, err
	}
	if err := jsonEnd(dec); err != nil {
		return nil, err
	}
	if props == nil && string(bytes.TrimSpace(doc)) != "null" {
		return nil, malformed(0, "want a JSON object")
	}
	exactNumbers(props)
	return props, nil
}
