package server

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/store"
)

// The density layer: PNG tiles the server renders from its marker counts,
// showing where markers are thick. It is an opt-in consumer of the store's
// changes: with Options.DensityLayer set, it remembers where markers moved;
// FlushDensity then sends a tile change for just the density tiles that
// changed to the views showing them, so a map re-fetches those tiles and
// no others.

// densityDirtyZoom is the zoom of the cells in which the server remembers
// movement between two flushes.
const densityDirtyZoom = 12

// densityGrid is the number of cells across a density tile: 32 × 32 cells
// of 8 × 8 pixels.
const densityGrid = 32

// A densityLayer remembers where markers moved since the last flush: the
// tiles at its dirty zoom whose density changed. Server.mu guards it.
type densityLayer struct {
	name  string // the tile layer, Options.DensityLayer
	zoom  int    // of the dirty tiles: densityDirtyZoom, or the cluster zoom when coarser
	dirty map[geo.Tile]struct{}
}

func newDensityLayer(name string, clusterZoom int) *densityLayer {
	return &densityLayer{name: name, zoom: min(densityDirtyZoom, clusterZoom), dirty: make(map[geo.Tile]struct{})}
}

// changed remembers where change ch of the store changed the density:
// where the marker was and where it is.
func (d *densityLayer) changed(ch *store.Change) {
	if ch.Had() {
		d.dirty[geo.TileOf(ch.Old.Pos, d.zoom)] = struct{}{}
	}
	if ch.Has() {
		d.dirty[geo.TileOf(ch.New.Pos, d.zoom)] = struct{}{}
	}
}

// FlushDensity sends a tile change of the density layer (Options.
// DensityLayer) to every view showing a density tile in which markers
// moved since the last flush: at the view's zoom, the tiles covering where
// the movement was. Call it periodically (the demo does every second). It
// does nothing when the density layer is off.
func (s *Server) FlushDensity() {
	if s.density == nil {
		return
	}
	layer := s.density.name
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.density.dirty) == 0 {
		return
	}
	s.beginBatchLocked(0)
	defer s.endBatchLocked()
	change := s.tileChangeLocked(layer)
	for d := range s.density.dirty {
		s.searchAllViews(d.Bounds(), func(vp *viewPart) bool {
			if !vp.c.layers.Has(layer) {
				return true
			}
			vz := viewZoom(vp.c.viewOf(vp).v)
			if vz <= int(d.Z) {
				t := geo.Tile{Z: uint8(vz), X: d.X >> (int(d.Z) - vz), Y: d.Y >> (int(d.Z) - vz)}
				change.send(vp.c, t)
				return true
			}
			if shown, n := geo.Intersect(d.Bounds(), vp.box); n > 0 {
				for _, t := range geo.TilesCovering(shown[0], vz) {
					change.send(vp.c, t)
				}
			}
			return true
		})
	}
	clear(s.density.dirty)
}

// DensityTile renders density tile t as a 256 × 256 PNG: the markers of
// every layer counted in 32 × 32 cells, transparent where there are none,
// from yellow to red as they get denser. It is DensityTileFor with the
// zero Grant.
func (s *Server) DensityTile(t geo.Tile) ([]byte, error) {
	return s.DensityTileFor(t, auth.Grant{})
}

// DensityTileFor renders density tile t for a client holding g: only the
// markers of g's layers are counted, and only the cells lying wholly inside
// g's box are drawn. A cell straddling the box's edge is left blank rather
// than counted or clipped: its count would include markers outside the
// box, and counting it exactly would mean a search per marker under the
// server lock. The tile's zoom must not be above Options.ClusterZoom (the
// counts are kept no finer).
func (s *Server) DensityTileFor(t geo.Tile, g auth.Grant) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if int(t.Z) > s.opts.ClusterZoom {
		return nil, fmt.Errorf("server: density tile %v: zoom %d is above the cluster zoom %d", t, t.Z, s.opts.ClusterZoom)
	}
	var counts [densityGrid][densityGrid]uint64
	var inside [densityGrid][densityGrid]bool
	if g.Layers == nil || len(g.Layers) > 0 {
		cellsInside(t, g.Box, &inside)
	}
	ls := newLayerSet(g.Layers)
	gz := int(t.Z) + 5 // 2^5 = densityGrid
	s.mu.Lock()
	if gz <= s.opts.ClusterZoom {
		for j := range densityGrid {
			for i := range densityGrid {
				if !inside[j][i] {
					continue
				}
				sub := geo.Tile{Z: uint8(gz), X: t.X<<5 + uint32(i), Y: t.Y<<5 + uint32(j)}
				counts[j][i] = s.store.Cluster(sub, ls).Count
			}
		}
	} else {
		b := t.Bounds()
		scale := math.Exp2(float64(t.Z))
		s.store.Search(b, func(rec *store.Record) bool {
			if !ls.Has(rec.Marker.Layer) {
				return true
			}
			x := ((rec.Marker.Pos.Lon+180)/360*scale - float64(t.X)) * densityGrid
			y := (geo.MercatorY(rec.Marker.Pos.Lat)*scale - float64(t.Y)) * densityGrid
			i, j := min(max(int(x), 0), densityGrid-1), min(max(int(y), 0), densityGrid-1)
			if inside[j][i] {
				counts[j][i]++
			}
			return true
		})
	}
	s.mu.Unlock()

	img := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	const px = 256 / densityGrid
	for j := range densityGrid {
		for i := range densityGrid {
			n := counts[j][i]
			if n == 0 {
				continue
			}
			c := heat(n)
			for y := j * px; y < (j+1)*px; y++ {
				for x := i * px; x < (i+1)*px; x++ {
					img.SetNRGBA(x, y, c)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cellsInside marks the cells of tile t that lie wholly inside box (nil:
// the world). The cells of the world's first and last rows reach the poles:
// markers beyond Web Mercator's latitudes are counted in them.
func cellsInside(t geo.Tile, box *geo.Box, inside *[densityGrid][densityGrid]bool) {
	if box == nil {
		for j := range inside {
			for i := range inside[j] {
				inside[j][i] = true
			}
		}
		return
	}
	parts, n := box.Split()
	scale := math.Exp2(float64(t.Z)) * densityGrid
	last := uint32(1)<<t.Z - 1
	for j := range densityGrid {
		north := geo.LatFromMercatorY((float64(t.Y)*densityGrid + float64(j)) / scale)
		south := geo.LatFromMercatorY((float64(t.Y)*densityGrid + float64(j+1)) / scale)
		if t.Y == 0 && j == 0 {
			north = 90
		}
		if t.Y == last && j == densityGrid-1 {
			south = -90
		}
		for i := range densityGrid {
			west := (float64(t.X)*densityGrid+float64(i))/scale*360 - 180
			east := (float64(t.X)*densityGrid+float64(i+1))/scale*360 - 180
			for _, p := range parts[:n] {
				if p.West <= west && east <= p.East && p.South <= south && north <= p.North {
					inside[j][i] = true
				}
			}
		}
	}
}

// heat maps a count to a colour: one marker a warm yellow, twenty or more
// a deep red, on a log scale, opaque enough to read under markers.
func heat(n uint64) color.NRGBA {
	f := min(math.Log10(float64(n))/math.Log10(20), 1) // 1 → 0, 20 → 1
	return color.NRGBA{R: 255, G: uint8(200 - 170*f), B: uint8(40 - 40*f), A: uint8(160 + 80*f)}
}

// DensityHandler serves density tiles at "{z}/{x}/{y}.png" relative to
// where it is mounted, e.g.
//
//	mux.Handle("/tiles/density/", http.StripPrefix("/tiles/density/", srv.DensityHandler()))
//
// Tiles change as markers move: they are sent with Cache-Control: no-cache,
// and maps re-fetch them on the tile changes FlushDensity sends.
//
// With Options.Authorize set, a tile needs a client credential, as the
// WebSocket does: "Authorization: Bearer <token>" or, for map libraries
// that fetch tiles as images, ?access_token=<token>. Without one the answer
// is 401, with one the Authorizer refuses (or an expired grant) 403; a
// tile shows only what the grant allows (DensityTileFor) and is sent with
// Cache-Control: private, no-cache. A zoom above Options.ClusterZoom, or
// not a tile path, is 404.
func (s *Server) DensityHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "pushmap: density tiles are read with GET", http.StatusMethodNotAllowed)
			return
		}
		var g auth.Grant
		cache := "no-cache"
		if authorize := s.opts.Authorize; authorize != nil {
			var ok bool
			if g, ok = s.httpGrant(w, r, authorize); !ok {
				return
			}
			// A tile shows what its holder may read: no shared cache may
			// hand it to another.
			cache = "private, no-cache"
			w.Header().Set("Vary", "Authorization")
		}
		t, err := parseTilePath(r.URL.Path)
		if err != nil {
			http.Error(w, "pushmap: "+err.Error(), http.StatusNotFound)
			return
		}
		b, err := s.DensityTileFor(t, g)
		if err != nil {
			http.Error(w, "pushmap: "+err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", cache)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}

// parseTilePath parses "z/x/y.png".
func parseTilePath(p string) (geo.Tile, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], ".png") {
		return geo.Tile{}, fmt.Errorf("tile path %q is not z/x/y.png", p)
	}
	parts[2] = strings.TrimSuffix(parts[2], ".png")
	var v [3]uint64
	for i, part := range parts {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return geo.Tile{}, fmt.Errorf("tile path %q: %q is not a number", p, part)
		}
		v[i] = n
	}
	if v[0] > geo.MaxZoom {
		return geo.Tile{}, fmt.Errorf("tile path %q: zoom %d is above %d", p, v[0], geo.MaxZoom)
	}
	t := geo.Tile{Z: uint8(v[0]), X: uint32(v[1]), Y: uint32(v[2])}
	return t, t.Validate()
}
