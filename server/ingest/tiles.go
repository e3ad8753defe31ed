package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/internal/feeditem"
)

// invalidation is the body of POST /tiles/invalidate.
type invalidation struct {
	Layer string            `json:"layer"`
	Tiles []json.RawMessage `json:"tiles"` // [z, x, y] each
	BBox  []float64         `json:"bbox"`  // [west, south, east, north]
}

// postInvalidate serves POST /tiles/invalidate:
// {"layer": "...", "tiles": [[z,x,y], ...]} or {"layer": "...", "bbox": [w,s,e,n]}.
func (h *Handler) postInvalidate(w http.ResponseWriter, r *http.Request, k *hashedKey) {
	if !h.requireJSON(w, r) {
		return
	}
	buf := h.readBody(w, r)
	if buf == nil {
		return
	}
	defer h.putBuf(buf)
	var inv invalidation
	if p := decodeStrict(buf.Bytes(), &inv); p != nil {
		h.writeProblem(w, r, p)
		return
	}
	switch {
	case inv.Layer == "":
		h.writeProblem(w, r, newProblem("malformed-body", "layer is missing: name the tile layer that changed"))
		return
	case (inv.Tiles == nil) == (inv.BBox == nil):
		h.writeProblem(w, r, newProblem("malformed-body", "give either tiles ([[z,x,y], ...]) or bbox ([west,south,east,north]), not both or neither"))
		return
	case len(inv.Tiles) > h.maxBatch:
		h.writeProblem(w, r, newProblem("batch-too-large", "%d tiles, at most %d allowed", len(inv.Tiles), h.maxBatch))
		return
	case !k.allows(inv.Layer):
		h.writeProblem(w, r, newProblem("layer-forbidden", "tile layer %q is not one this key may write; nothing was invalidated", inv.Layer))
		return
	}
	if inv.BBox != nil {
		if len(inv.BBox) != 4 {
			h.writeProblem(w, r, newProblem("malformed-body", "bbox has %d numbers, want 4: [west, south, east, north]", len(inv.BBox)))
			return
		}
		box := geo.BBox(inv.BBox[0], inv.BBox[1], inv.BBox[2], inv.BBox[3])
		if err := h.feed.InvalidateBox(inv.Layer, box); err != nil {
			h.writeProblem(w, r, newProblem("malformed-body", "bbox: %v", err))
			return
		}
		writeApplied(w, 1)
		return
	}
	tiles := make([]geo.Tile, 0, len(inv.Tiles))
	var bad []ItemError
	nbad := 0
	for i, raw := range inv.Tiles {
		t, err := parseTile(raw)
		if err != nil {
			if nbad++; len(bad) < feeditem.MaxItemErrors {
				bad = append(bad, ItemError{Index: i, ID: fmt.Sprintf("%.40s", raw), Reason: err.Error()})
			}
			continue
		}
		tiles = append(tiles, t)
	}
	if nbad > 0 {
		p := newProblem("invalid-items", "%d tiles are invalid; nothing was invalidated", nbad)
		p.Errors = bad
		h.writeProblem(w, r, p)
		return
	}
	if err := h.feed.InvalidateTiles(inv.Layer, tiles...); err != nil {
		h.writeProblem(w, r, newProblem("malformed-body", "%v", err))
		return
	}
	writeApplied(w, len(tiles))
}

// parseTile parses [z, x, y] and checks the tile.
func parseTile(raw json.RawMessage) (geo.Tile, error) {
	var zxy []float64
	if err := json.Unmarshal(raw, &zxy); err != nil || len(zxy) != 3 {
		return geo.Tile{}, fmt.Errorf("a tile is [z, x, y], got %.40s", raw)
	}
	for _, v := range zxy {
		if v < 0 || v != float64(int64(v)) || v > 1<<32 {
			return geo.Tile{}, errors.New("z, x and y must be integers ≥ 0")
		}
	}
	t := geo.Tile{Z: uint8(min(zxy[0], 255)), X: uint32(min(zxy[1], 1<<32-1)), Y: uint32(min(zxy[2], 1<<32-1))}
	if zxy[0] > 255 || zxy[1] >= 1<<32 || zxy[2] >= 1<<32 {
		return geo.Tile{}, errors.New("the tile is outside every zoom's grid")
	}
	if err := t.Validate(); err != nil {
		return geo.Tile{}, errors.New(strings.TrimPrefix(err.Error(), geo.ErrInvalid.Error()+": "))
	}
	return t, nil
}

// getInterest serves GET /interest?z=10&layer=vehicles. A key limited to
// some layers is told only about the clients of those layers.
func (h *Handler) getInterest(w http.ResponseWriter, r *http.Request, k *hashedKey) {
	q := r.URL.Query()
	z, err := strconv.Atoi(q.Get("z"))
	if err != nil {
		h.writeProblem(w, r, newProblem("invalid-query", "z=%q: give the zoom level, an integer from 0 to %d", q.Get("z"), geo.MaxZoom))
		return
	}
	layers := k.layers // "" asks about any layer: any of the key's
	if layer := q.Get("layer"); layer != "" {
		if !k.allows(layer) {
			h.writeProblem(w, r, newProblem("layer-forbidden", "layer %q is not one this key may use", layer))
			return
		}
		layers = []string{layer}
	}
	watched, err := h.feed.InterestIn(z, layers)
	if errors.Is(err, server.ErrTooManyTiles) {
		h.writeProblem(w, r, newProblem("too-many-tiles", "%v", err))
		return
	}
	if err != nil {
		h.writeProblem(w, r, newProblem("invalid-query", "%v", err))
		return
	}
	b := make([]byte, 0, 16+len(watched)*40)
	b = append(b, '[')
	for i, wt := range watched {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"z":%d,"x":%d,"y":%d,"viewers":%d}`, wt.Tile.Z, wt.Tile.X, wt.Tile.Y, wt.Viewers)
	}
	b = append(b, ']', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// decodeStrict decodes a JSON object into v, refusing unknown members and
// trailing data, and returns the problem or nil.
func decodeStrict(body []byte, v any) *Problem {
	if err := feeditem.CheckJSON(body); err != nil { // depth, UTF-8
		return fromDecode(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off := max(se.Offset-1, 0)
			p := newProblem("malformed-body", "malformed JSON at byte %d: %v", off, se)
			p.Offset = &off
			return p
		case errors.As(err, &te) && te.Field == "":
			return newProblem("malformed-body", "the body must be a JSON object, got a %s", te.Value)
		case errors.As(err, &te):
			return newProblem("malformed-body", "member %s has the wrong type: %s", te.Field, te.Value)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return newProblem("malformed-body", "the body ends before the end of the JSON document")
		}
		return newProblem("malformed-body", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return newProblem("malformed-body", "data after the end of the JSON document")
	}
	return nil
}
