package baseline

import (
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// Poll is a polling endpoint as a competent engineer would write one for a
// live map, the polling baseline of the load benchmark: a client asks for
// its box once, then only for what changed in it since its last answer,
// with conditional requests and gzip. (The naive poller asks pushmap's
// GET /feed/markers for the whole box every time, uncompressed.)
//
//	GET {path}?bbox=w,s,e,n             every marker in the box
//	GET {path}?bbox=w,s,e,n&since=C     the markers that changed in the box since cursor C
//
// An answer is a JSON array of markers, as pushmap's GET /feed/markers
// writes them ({"id", "layer", "lon", "lat", "version", "time"}), with the
// cursor of the state it describes in the Poll-Cursor header and as its
// ETag. A changes answer holds every marker that moved in the box, moved
// into it, or moved out of it since C, at its current position: a marker
// outside the box has left it. It is 304 Not Modified, without a body,
// when nothing changed and the request's If-None-Match names C. When C is
// older than the changes kept (Options.KeepBatches), the answer is the
// whole box, said by the header Poll-Full: 1. A client that accepts gzip
// gets answers of 1 KiB and more compressed (level 1, nginx's default).
//
// Inside, markers are kept in cells (the tiles of one zoom), each with its
// markers and a log of its changes in publish order; a marker's JSON is
// encoded once per change and shared by every answer. A request reads
// under a read lock, so requests run in parallel.
type Poll struct {
	zoom int
	keep uint64

	mu      sync.RWMutex
	seq     uint64 // batches published: the cursor of the current state
	markers map[string]*pollMarker
	cells   map[geo.Tile]*pollCell
}

// A pollMarker is a marker's latest state.
type pollMarker struct {
	pos  geo.Point
	tile geo.Tile
	item []byte // its JSON
}

// A pollCell is the markers of one tile and its recent changes.
type pollCell struct {
	markers map[*pollMarker]struct{}
	log     []pollChange // in publish order
}

// A pollChange is one change of a marker in a cell: in batch seq it moved
// from from (if it existed) to its position after seq.
type pollChange struct {
	seq     uint64
	m       *pollMarker
	from    geo.Point
	hasFrom bool
}

// DefaultKeepBatches is how many batches of changes a Poll keeps by
// default: a minute of 100 ms batches.
const DefaultKeepBatches = 600

// pollCellZoom is the zoom of a Poll's cells: a zoom-14 view touches a
// few of them.
const pollCellZoom = 14

// gzipMin is the smallest answer a Poll compresses: below it, gzip's
// header and CPU cost more than they save.
const gzipMin = 1 << 10

// NewPoll returns a polling endpoint that keeps keepBatches batches of
// changes (0: DefaultKeepBatches).
func NewPoll(keepBatches int) *Poll {
	if keepBatches <= 0 {
		keepBatches = DefaultKeepBatches
	}
	return &Poll{zoom: pollCellZoom, keep: uint64(keepBatches), markers: map[string]*pollMarker{}, cells: map[geo.Tile]*pollCell{}}
}

// Publish applies a batch of marker upserts. The Poll keeps the markers'
// Props maps.
func (p *Poll) Publish(ms []wire.Marker) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	touched := map[*pollCell]struct{}{}
	for i := range ms {
		m := ms[i]
		m.Pos = wire.Quantize(m.Pos)
		tile := geo.TileOf(m.Pos, p.zoom)
		rec := p.markers[m.ID]
		ch := pollChange{seq: p.seq}
		if rec == nil {
			rec = &pollMarker{tile: tile}
			p.markers[m.ID] = rec
			p.cell(tile).markers[rec] = struct{}{}
		} else {
			ch.from, ch.hasFrom = rec.pos, true
			if rec.tile != tile {
				old := p.cells[rec.tile]
				delete(old.markers, rec)
				ch.m = rec
				old.log = append(old.log, ch)
				touched[old] = struct{}{}
				rec.tile = tile
				p.cell(tile).markers[rec] = struct{}{}
			}
		}
		// A new slice: answers being written may hold the old one.
		item, err := appendPollItem(nil, &m)
		if err != nil {
			return err
		}
		rec.pos, rec.item = m.Pos, item
		ch.m = rec
		c := p.cells[tile]
		c.log = append(c.log, ch)
		touched[c] = struct{}{}
	}
	// Forget the changes no cursor still asks about.
	if p.seq > p.keep {
		oldest := p.seq - p.keep
		for c := range touched {
			i, _ := slices.BinarySearchFunc(c.log, oldest+1, func(ch pollChange, s uint64) int { return cmp.Compare(ch.seq, s) })
			if i > len(c.log)/2 {
				n := copy(c.log, c.log[i:])
				clear(c.log[n:])
				c.log = c.log[:n]
			}
		}
	}
	return nil
}

// cell returns the cell of tile, making it. p.mu is held.
func (p *Poll) cell(tile geo.Tile) *pollCell {
	c := p.cells[tile]
	if c == nil {
		c = &pollCell{markers: map[*pollMarker]struct{}{}}
		p.cells[tile] = c
	}
	return c
}

// maxPollTiles caps the cells one request may read: a box much larger
// than a screen at the cell zoom is refused.
const maxPollTiles = 4096

// ServeHTTP answers a poll (see Poll).
func (p *Poll) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	box, err := parseBBox(q.Get("bbox"))
	if err != nil {
		http.Error(w, "bbox: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n := geo.CountTilesTouching(box, p.zoom); n > maxPollTiles {
		http.Error(w, fmt.Sprintf("bbox %v touches %d tiles at zoom %d, more than %d", box, n, p.zoom, maxPollTiles), http.StatusBadRequest)
		return
	}
	tiles := geo.TilesTouching(box, p.zoom)
	var since uint64
	delta := q.Has("since")
	if delta {
		if since, err = strconv.ParseUint(q.Get("since"), 10, 64); err != nil {
			http.Error(w, fmt.Sprintf("since=%q: want a Poll-Cursor of this server", q.Get("since")), http.StatusBadRequest)
			return
		}
	}

	b := append(make([]byte, 0, 4096), '[')
	n := 0
	add := func(m *pollMarker) {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, m.item...)
		n++
	}
	p.mu.RLock()
	cur := p.seq
	switch {
	case delta && since > cur:
		p.mu.RUnlock()
		http.Error(w, fmt.Sprintf("since=%d: this server's cursor is %d", since, cur), http.StatusBadRequest)
		return
	case delta && cur > p.keep && since < cur-p.keep:
		delta = false // older than the changes kept: the whole box
	}
	if delta {
		seen := map[*pollMarker]struct{}{}
		for _, t := range tiles {
			c := p.cells[t]
			if c == nil {
				continue
			}
			i, _ := slices.BinarySearchFunc(c.log, since+1, func(ch pollChange, s uint64) int { return cmp.Compare(ch.seq, s) })
			for _, ch := range c.log[i:] {
				if _, ok := seen[ch.m]; ok {
					continue
				}
				if box.Contains(ch.m.pos) || ch.hasFrom && box.Contains(ch.from) {
					seen[ch.m] = struct{}{}
					add(ch.m)
				}
			}
		}
	} else {
		for _, t := range tiles {
			if c := p.cells[t]; c != nil {
				for m := range c.markers {
					if box.Contains(m.pos) {
						add(m)
					}
				}
			}
		}
	}
	p.mu.RUnlock()
	b = append(b, ']', '\n')

	h := w.Header()
	cursor := strconv.FormatUint(cur, 10)
	h.Set("Poll-Cursor", cursor)
	h.Set("Cache-Control", "no-cache")
	if delta && n == 0 && r.Header.Get("If-None-Match") == `"`+q.Get("since")+`"` {
		h.Set("ETag", `"`+q.Get("since")+`"`)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("ETag", `"`+cursor+`"`)
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept-Encoding")
	if !delta && q.Has("since") {
		h.Set("Poll-Full", "1")
	}
	if len(b) < gzipMin || !acceptsGzip(r) {
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzipPool.Get().(*gzip.Writer)
	gz.Reset(w)
	gz.Write(b)
	gz.Close()
	gz.Reset(io.Discard)
	gzipPool.Put(gz)
}

var gzipPool = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return gz
}}

// acceptsGzip reports whether r's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for f := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(f), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// parseBBox parses "west,south,east,north" in degrees.
func parseBBox(s string) (geo.Box, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return geo.Box{}, fmt.Errorf("%q: want west,south,east,north", s)
	}
	var v [4]float64
	for i, f := range parts {
		var err error
		if v[i], err = strconv.ParseFloat(f, 64); err != nil {
			return geo.Box{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	b := geo.BBox(v[0], v[1], v[2], v[3])
	if err := b.Validate(); err != nil {
		return geo.Box{}, fmt.Errorf("%q: %w", s, err)
	}
	if b.CrossesAntimeridian() {
		return geo.Box{}, fmt.Errorf("%q: a box across the antimeridian is not supported", s)
	}
	return b, nil
}

var errBadID = errors.New("baseline: a marker id must be valid UTF-8 without control characters")

// appendPollItem appends m as the JSON item pushmap's GET /feed/markers
// writes (props aside).
func appendPollItem(b []byte, m *wire.Marker) ([]byte, error) {
	b = append(b, `{"id":`...)
	var err error
	if b, err = appendJSONString(b, m.ID); err != nil {
		return nil, err
	}
	b = append(b, `,"layer":`...)
	if b, err = appendJSONString(b, m.Layer); err != nil {
		return nil, err
	}
	b = strconv.AppendFloat(append(b, `,"lon":`...), m.Pos.Lon, 'g', -1, 64)
	b = strconv.AppendFloat(append(b, `,"lat":`...), m.Pos.Lat, 'g', -1, 64)
	b = strconv.AppendUint(append(b, `,"version":`...), m.Version, 10)
	if m.Time != 0 {
		b = strconv.AppendInt(append(b, `,"time":`...), m.Time, 10)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted; ids and layers have no control
// characters (the ingest refuses them), so only quotes and backslashes are
// escaped.
func appendJSONString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20:
			return nil, fmt.Errorf("%w: %q", errBadID, s)
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"'), nil
}
