package ingest

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/internal/feeditem"
	"github.com/pushmap/pushmap/wire"
)

// formats are the decoders of POST /markers by media type.
var formats = map[string]format{
	"application/json":      feeditem.DecodeJSON,
	"application/geo+json":  feeditem.DecodeGeoJSON,
	"application/msgpack":   feeditem.DecodeMsgpack,
	"application/x-msgpack": feeditem.DecodeMsgpack,
}

const acceptMarkers = "application/json, application/geo+json, application/msgpack, application/x-msgpack"

// postMarkers serves POST /markers.
func (h *Handler) postMarkers(w http.ResponseWriter, r *http.Request, k *hashedKey) {
	mt := mediaType(r)
	decode, ok := formats[mt]
	if !ok {
		w.Header().Set("Accept-Post", acceptMarkers)
		h.writeProblem(w, r, newProblem("unsupported-media-type", "content type %q; send one of %s", mt, acceptMarkers))
		return
	}
	h.decodeAndApply(w, r, k, decode)
}

// postRemove serves POST /markers/remove: a JSON array of ids.
func (h *Handler) postRemove(w http.ResponseWriter, r *http.Request, k *hashedKey) {
	if h.requireJSON(w, r) {
		h.decodeAndApply(w, r, k, feeditem.DecodeJSONIDs)
	}
}

func (h *Handler) decodeAndApply(w http.ResponseWriter, r *http.Request, k *hashedKey, decode format) {
	buf := h.readBody(w, r)
	if buf == nil {
		return
	}
	updates, err := decode(buf.Bytes(), h.maxBatch)
	h.putBuf(buf) // the updates hold no reference to the body
	if err != nil {
		h.writeProblem(w, r, fromDecode(err))
		return
	}
	h.apply(w, r, k, updates)
}

// deleteMarker serves DELETE /markers/{id}.
func (h *Handler) deleteMarker(w http.ResponseWriter, r *http.Request, k *hashedKey, id string) {
	if len(id) > wire.MaxIDLen {
		p := newProblem("invalid-items", "1 item is invalid; nothing was applied")
		p.Errors = []ItemError{{Index: 0, Reason: "id is " + strconv.Itoa(len(id)) + " bytes, at most " + strconv.Itoa(wire.MaxIDLen) + " allowed"}}
		h.writeProblem(w, r, p)
		return
	}
	h.apply(w, r, k, []server.Update{{Marker: wire.Marker{ID: id}, Remove: true}})
}

// getMarkers serves GET /markers?bbox=w,s,e,n&layers=a,b&limit=n&cursor=c:
// a page of the markers in the box as a JSON array of items, streamed as
// they are encoded, with the next page's cursor in the Link and
// Pushmap-Next-Cursor headers.
func (h *Handler) getMarkers(w http.ResponseWriter, r *http.Request) {
	grant, ok := h.readGrant(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	box, err := parseBox(q.Get("bbox"))
	if err != nil {
		h.writeProblem(w, r, newProblem("invalid-query", "bbox: %v", err))
		return
	}
	mq := server.MarkersQuery{Box: box, Grant: grant, Cursor: q.Get("cursor")}
	if s := q.Get("layers"); s != "" {
		mq.Layers = strings.Split(s, ",")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > server.MaxMarkersPage {
			h.writeProblem(w, r, newProblem("invalid-query", "limit=%q: give the most markers a page may hold, an integer from 1 to %d", s, server.MaxMarkersPage))
			return
		}
		mq.Limit = n
	}
	page, err := h.feed.MarkersPage(mq)
	if err != nil {
		h.writeProblem(w, r, newProblem("invalid-query", "%v", err))
		return
	}
	ms := page.Markers
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if page.Next != "" {
		next := url.Values{}
		for _, name := range []string{"bbox", "layers", "limit"} {
			if v := q.Get(name); v != "" {
				next.Set(name, v)
			}
		}
		next.Set("cursor", page.Next)
		w.Header().Set("Link", "<?"+next.Encode()+`>; rel="next"`)
		w.Header().Set("Pushmap-Next-Cursor", page.Next)
	}
	const flushAt = 32 << 10
	b := make([]byte, 0, min(flushAt+4096, 64+len(ms)*96))
	b = append(b, '[')
	for i := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMarker(b, &ms[i])
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return
			}
			b = b[:0]
		}
	}
	b = append(b, ']', '\n')
	w.Write(b)
}

// parseBox parses "west,south,east,north" in degrees; west > east crosses
// the antimeridian.
func parseBox(s string) (geo.Box, error) {
	if s == "" {
		return geo.Box{}, errorString("missing; give bbox=west,south,east,north in degrees")
	}
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return geo.Box{}, errorString("want 4 numbers west,south,east,north, got " + strconv.Itoa(len(parts)))
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return geo.Box{}, errorString(strconv.Quote(p) + " is not a number")
		}
		v[i] = f
	}
	box := geo.BBox(v[0], v[1], v[2], v[3])
	if err := box.Validate(); err != nil {
		return geo.Box{}, err
	}
	return box, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// appendMarker appends m as a JSON item, the format POST /markers takes:
// {"id","layer","lon","lat","version","time"?,"props"?}.
func appendMarker(b []byte, m *wire.Marker) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"layer":`...)
	b = appendString(b, m.Layer)
	b = append(b, `,"lon":`...)
	b = appendFloat(b, m.Pos.Lon)
	b = append(b, `,"lat":`...)
	b = appendFloat(b, m.Pos.Lat)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, m.Version, 10)
	if m.Time != 0 {
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, m.Time, 10)
	}
	if len(m.Props) > 0 {
		if props, err := json.Marshal(m.Props); err == nil {
			b = append(b, `,"props":`...)
			b = append(b, props...)
		}
	}
	return append(b, '}')
}

// appendFloat appends a finite float as JSON ("null" for NaN or ±Inf, which
// valid markers never hold).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
