package feeditem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/pushmap/pushmap/server"
)

// jsonItem is an item in the JSON format. Lon and Lat start as NaN, which
// JSON cannot carry, to tell a missing coordinate from 0.
type jsonItem struct {
	ID      json.RawMessage `json:"id"`
	Layer   string          `json:"layer"`
	Lon     float64         `json:"lon"`
	Lat     float64         `json:"lat"`
	Version *uint64         `json:"version"` // nil when absent (or null)
	Time    int64           `json:"time"`
	TTL     float64         `json:"ttl"`
	Props   map[string]any  `json:"props"`
	Remove  bool            `json:"remove"`
}

// jsonWants says what each member of an item must be, for error reasons.
var jsonWants = map[string]string{
	"id":      "a string or a number",
	"layer":   "a string",
	"lon":     "a number of degrees",
	"lat":     "a number of degrees",
	"version": "an integer ≥ 0",
	"time":    "an integer (Unix milliseconds)",
	"ttl":     "a number of seconds",
	"props":   "an object",
	"remove":  "true or false",
}

// DecodeJSON decodes a JSON body: one item object or an array of them,
// {"id", "layer", "lon", "lat", "version", "time", "ttl", "props",
// "remove"}. It returns the updates in order, or an *Error: Malformed for
// a syntax error (with its offset) or what CheckJSON refuses, TooMany past
// maxItems (0 for no limit), Invalid naming every bad item. Integer props
// within int64 or uint64 stay exact (see exactNumber); "version": 0 is a
// version, unlike an absent one.
func DecodeJSON(body []byte, maxItems int) ([]server.Update, error) {
	if err := CheckJSON(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var c collector
	switch firstByte(body) {
	case '{':
		c.updates = make([]server.Update, 0, 1)
		if err := decodeJSONItem(dec, body, 0, &c); err != nil {
			return nil, err
		}
	case '[':
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(err, dec, body)
		}
		c.updates = make([]server.Update, 0, min(len(body)/48+1, max(maxItems, 1)))
		for i := 0; dec.More(); i++ {
			if maxItems > 0 && i >= maxItems {
				return nil, tooMany(maxItems)
			}
			if err := decodeJSONItem(dec, body, i, &c); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(err, dec, body)
		}
	case 0:
		return nil, malformed(0, "the body is empty; send a JSON object or an array of objects")
	default:
		return nil, malformed(int64(len(body)-len(bytes.TrimLeft(body, " \t\r\n"))), "the body must be a JSON object or an array of objects")
	}
	if err := jsonEnd(dec); err != nil {
		return nil, err
	}
	return c.result()
}

// decodeJSONItem decodes the next item of dec into c. Only a syntax error,
// after which dec cannot go on, is returned.
func decodeJSONItem(dec *json.Decoder, body []byte, i int, c *collector) error {
	ji := jsonItem{Lon: math.NaN(), Lat: math.NaN()}
	if err := dec.Decode(&ji); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return jsonSyntax(err, dec, body)
		}
		id, _ := jsonID(ji.ID)
		c.fail(i, id, jsonReason(err))
		return nil
	}
	id, err := jsonID(ji.ID)
	if err != nil {
		c.fail(i, "", err.Error())
		return nil
	}
	it := Item{
		ID: id, Layer: ji.Layer, Lon: ji.Lon, Lat: ji.Lat,
		HasLon: !math.IsNaN(ji.Lon), HasLat: !math.IsNaN(ji.Lat),
		Time: ji.Time, TTL: ji.TTL, Props: ji.Props, Remove: ji.Remove,
	}
	if ji.Version != nil {
		it.Version, it.HasVersion = *ji.Version, true
	}
	exactNumbers(it.Props)
	if len(it.Props) == 0 {
		it.Props = nil
	}
	c.add(i, &it)
	return nil
}

// DecodeJSONIDs decodes a JSON array of marker ids (strings or numbers) as
// remove updates, with the errors of DecodeJSON.
func DecodeJSONIDs(body []byte, maxItems int) ([]server.Update, error) {
	if firstByte(body) != '[' {
		return nil, malformed(0, "the body must be a JSON array of marker ids")
	}
	if err := CheckJSON(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, jsonSyntax(err, dec, body)
	}
	var c collector
	for i := 0; dec.More(); i++ {
		if maxItems > 0 && i >= maxItems {
			return nil, tooMany(maxItems)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonSyntax(err, dec, body)
		}
		id, err := jsonID(raw)
		if err != nil {
			c.fail(i, "", err.Error())
			continue
		}
		c.add(i, &Item{ID: id, Remove: true})
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonSyntax(err, dec, body)
	}
	if err := jsonEnd(dec); err != nil {
		return nil, err
	}
	return c.result()
}

// jsonID turns the raw id member into a string: a string as is, a number as
// written. Absent or null gives "".
func jsonID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("id: %v", err)
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("id must be a string or a number, got %s", jsonKind(raw[0]))
}

func jsonKind(b byte) string {
	switch b {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "something else"
}

// jsonReason turns a non-syntax decoding error of one item into a reason.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("the item must be a JSON object, got a %s", te.Value)
		}
		field, _, _ := strings.Cut(te.Field, ".")
		if want, ok := jsonWants[field]; ok && field == te.Field {
			return fmt.Sprintf("%s must be %s, got %s", field, want, te.Value)
		}
		return fmt.Sprintf("%s: cannot use a %s", te.Field, te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown member " + name + "; put your own data in props"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonSyntax wraps a syntax error met by dec in body as a Malformed Error.
func jsonSyntax(err error, dec *json.Decoder, body []byte) *Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// A Decoder's offsets inside an array are off by the separators
		// it skipped: take json.Unmarshal's, on this error path only.
		var raw json.RawMessage
		if uerr := json.Unmarshal(body, &raw); errors.As(uerr, &se) {
			return syntaxError(se)
		}
	}
	off := dec.InputOffset()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(int64(len(body)), "malformed JSON: the body ends too early, at byte %d", len(body))
	}
	return malformed(off, "malformed JSON at byte %d: %v", off, err)
}

// syntaxError turns a json.SyntaxError of json.Unmarshal into a Malformed
// Error whose offset is the offending byte's, counted from 0.
func syntaxError(se *json.SyntaxError) *Error {
	off := max(se.Offset-1, 0)
	return malformed(off, "malformed JSON at byte %d: %v", off, se)
}

// jsonEnd checks that nothing but white space follows the document.
func jsonEnd(dec *json.Decoder) *Error {
	off := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return malformed(off, "malformed JSON at byte %d: data after the end of the document", off)
	}
	return nil
}

// firstByte returns the first byte of body that is not JSON white space, or
// 0.
func firstByte(body []byte) byte {
	for _, b := range body {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b
	}
	return 0
}
