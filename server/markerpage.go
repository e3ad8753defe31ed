package server

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
)

// The page sizes of MarkersPage.
const (
	DefaultMarkersPage = 1000
	MaxMarkersPage     = 10000
)

// A MarkersQuery asks MarkersPage for one page of the markers in a box.
type MarkersQuery struct {
	Box    geo.Box    // the area asked for; it may cross the antimeridian
	Layers []string   // the layers asked for; nil: every layer
	Grant  auth.Grant // what the asker may read; the zero Grant allows everything
	Cursor string     // Page.Next of the previous page; "" for the first page
	Limit  int        // most markers in the page, 1 to MaxMarkersPage; 0: DefaultMarkersPage
}

// A Page is one page of markers from MarkersPage.
type Page struct {
	Markers []wire.Marker
	// Next is the cursor of the next page, "" when this page is the last.
	// A page may be full and the next one empty.
	Next string
}

// ErrBadCursor is wrapped by the error of MarkersPage for a cursor it did
// not make, or that a server with another ClusterZoom made.
var ErrBadCursor = errors.New("server: not a cursor of this server")

// MarkersPage returns a page of the markers inside q.Box, in the layers of
// both q.Layers and q.Grant.Layers, inside q.Grant.Box: what a client with
// that grant may read, and nothing else. Markers come in a fixed order (by
// their tile at the cluster zoom along a Z-order curve, then by id), and a
// page's Next resumes after its last marker: paging through a box with
// nothing changing returns every marker once. Markers that move while a
// client pages may be returned twice or missed, as with any paging over
// live data.
//
// MarkersPage never holds the server lock for long: it walks the quadtree
// of the cluster counts, skipping empty tiles, and releases the lock after
// every q.Limit markers it looks at, so that a feed waits for at most one
// such step (a tile at the cluster zoom holding more markers than the limit
// is read in one step). It returns an error for an invalid box, limit or
// cursor.
func (s *Server) MarkersPage(q MarkersQuery) (Page, error) {
	if err := q.Box.Validate(); err != nil {
		return Page{}, err
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxMarkersPage:
		return Page{}, fmt.Errorf("server: page limit %d is outside [1, %d]", q.Limit, MaxMarkersPage)
	case q.Limit == 0:
		q.Limit = DefaultMarkersPage
	}
	w := &pageWalk{s: s, cz: s.opts.ClusterZoom, limit: q.Limit}
	if q.Cursor != "" {
		var err error
		if w.key, w.id, err = decodeCursor(q.Cursor, w.cz); err != nil {
			return Page{}, err
		}
	}
	layers, none := intersectLayers(q.Layers, q.Grant.Layers)
	if none {
		return Page{Markers: []wire.Marker{}}, nil
	}
	w.layers = newLayerSet(layers)
	w.boxes = clipBoxes(q.Box, q.Grant.Box)
	if len(w.boxes) == 0 {
		return Page{Markers: []wire.Marker{}}, nil
	}
	w.out = make([]wire.Marker, 0, min(q.Limit, 256))
	for {
		s.mu.Lock()
		w.visited = 0
		stopped := w.tile(0, 0, 0)
		visited := w.visited
		s.mu.Unlock()
		if hook := s.pageHold; hook != nil {
			hook(visited)
		}
		switch {
		case !stopped:
			return Page{Markers: w.out}, nil
		case len(w.out) == w.limit:
			return Page{Markers: w.out, Next: encodeCursor(w.cz, w.key, w.id)}, nil
		}
		// Paused after visiting its share: let the writers in, then go on.
	}
}

// A pageWalk is one MarkersPage in progress. Its position (key, id) says
// where it is: what is left are the markers after it in (key, id) order,
// key being the Z-order of the marker's tile at zoom cz.
type pageWalk struct {
	s      *Server
	cz     int
	boxes  []geo.Box // do not cross the antimeridian
	layers layerSet
	limit  int

	key uint64
	id  string // "": from key on, inclusive

	out     []wire.Marker
	visited int // markers looked at since the lock was taken
	leaf    []pageItem
}

type pageItem struct {
	key uint64
	rec *store.Record
}

// tile walks tile z/x/y and its descendants in Z-order, under s.mu. It
// returns true when the walk must stop: the page is full, or the walk
// visited its share of markers for this lock hold.
func (w *pageWalk) tile(z int, x, y uint32) bool {
	shift := 2 * uint(w.cz-z)
	lo := geo.ZOrder(x, y) << shift
	hi := lo + 1<<shift
	if hi <= w.key {
		return false // before the position
	}
	b := tileBox(z, x, y)
	if !w.meets(b) {
		return false
	}
	n := w.s.store.Cluster(geo.Tile{Z: uint8(z), X: x, Y: y}, w.layers).Count
	if n == 0 {
		return false
	}
	if z < w.cz && n > uint64(w.limit) {
		for _, c := range [4][2]uint32{{2 * x, 2 * y}, {2*x + 1, 2 * y}, {2 * x, 2*y + 1}, {2*x + 1, 2*y + 1}} {
			if w.tile(z+1, c[0], c[1]) {
				return true
			}
		}
		return false
	}
	return w.readLeaf(b, lo, hi)
}

// readLeaf appends the markers of a tile (box b, keys [lo, hi)) after the
// position to the page, in order.
func (w *pageWalk) readLeaf(b geo.Box, lo, hi uint64) bool {
	items := w.leaf[:0]
	for _, box := range w.boxes {
		part, n := geo.Intersect(b, box) // one part at most: neither crosses
		if n == 0 {
			continue
		}
		w.s.store.Search(part[0], func(rec *store.Record) bool {
			w.visited++
			if !w.layers.Has(rec.Marker.Layer) {
				return true
			}
			t := geo.TileOf(rec.Marker.Pos, w.cz)
			k := geo.ZOrder(t.X, t.Y)
			if k < lo || k >= hi || k < w.key || k == w.key && rec.Marker.ID <= w.id {
				return true // another tile's, or before the position
			}
			items = append(items, pageItem{k, rec})
			return true
		})
	}
	slices.SortFunc(items, func(a, b pageItem) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.rec.Marker.ID, b.rec.Marker.ID)
	})
	if room := w.limit - len(w.out); len(items) >= room {
		for _, it := range items[:room] {
			w.out = append(w.out, it.rec.Marker)
		}
		last := items[room-1]
		w.key, w.id = last.key, last.rec.Marker.ID
		clear(items)
		w.leaf = items[:0]
		return true
	}
	for _, it := range items {
		w.out = append(w.out, it.rec.Marker)
	}
	clear(items)
	w.leaf = items[:0]
	w.key, w.id = hi, ""
	return w.visited >= w.limit
}

// meets reports whether b meets one of the walk's boxes.
func (w *pageWalk) meets(b geo.Box) bool {
	for _, box := range w.boxes {
		if geo.Intersects(b, box) {
			return true
		}
	}
	return false
}

// tileBox returns the bounds of tile z/x/y, stretched to the poles for the
// first and last rows: a marker beyond Web Mercator's latitudes belongs to
// the tile of that row (geo.TileOf).
func tileBox(z int, x, y uint32) geo.Box {
	b := geo.Tile{Z: uint8(z), X: x, Y: y}.Bounds()
	if y == 0 {
		b.North = 90
	}
	if y == 1<<z-1 {
		b.South = -90
	}
	return b
}

// A cursor is, base64url without padding: the cluster zoom, the position's
// key as a uvarint, and its id.
func encodeCursor(cz int, key uint64, id string) string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(id))
	b = append(b, byte(cz))
	b = binary.AppendUvarint(b, key)
	b = append(b, id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, cz int) (key uint64, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || int(b[0]) != cz {
		return 0, "", fmt.Errorf("%w: %.40q", ErrBadCursor, s)
	}
	key, n := binary.Uvarint(b[1:])
	if n <= 0 || key >= 1<<(2*uint(cz)) || len(b[1+n:]) > wire.MaxIDLen {
		return 0, "", fmt.Errorf("%w: %.40q", ErrBadCursor, s)
	}
	return key, string(b[1+n:]), nil
}

// intersectLayers returns the layers in both a and b, each nil for every
// layer; none is true when there is no such layer.
func intersectLayers(a, b []string) (layers []string, none bool) {
	switch {
	case a == nil && b == nil:
		return nil, false
	case a == nil:
		return b, len(b) == 0
	case b == nil:
		return a, len(a) == 0
	}
	for _, l := range a {
		if slices.Contains(b, l) {
			layers = append(layers, l)
		}
	}
	return layers, len(layers) == 0
}

// clipBoxes returns the parts of box inside clip (nil: the world), as
// boxes that do not cross the antimeridian.
func clipBoxes(box geo.Box, clip *geo.Box) []geo.Box {
	c := geo.World
	if clip != nil {
		c = *clip
	}
	parts, n := geo.Intersect(box, c)
	return parts[:n]
}
