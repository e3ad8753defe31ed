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

	"github.com/pushmap/pushmap/geo"
)

// The density layer: PNG tiles the server renders from its marker counts,
// showing where markers are thick. With Options.DensityLayer set, the server
// remembers where markers moved; FlushDensity then sends a tile change for
// just the density tiles that changed to the views showing them, so a map
// re-fetches those tiles and no others.

// densityDirtyZoom is the zoom of the cells in which the server remembers
// movement between two flushes.
const densityDirtyZoom = 12

// densityGrid is the number of cells across a density tile: 32 × 32 cells
// of 8 × 8 pixels.
const densityGrid = 32

// markDensityLocked remembers that the density around p changed.
func (s *Server) markDensityLocked(p geo.Point) {
	if s.opts.DensityLayer == "" {
		return
	}
	if s.densityDirty == nil {
		s.densityDirty = make(map[geo.Tile]struct{})
	}
	s.densityDirty[geo.TileOf(p, min(densityDirtyZoom, s.opts.ClusterZoom))] = struct{}{}
}

// FlushDensity sends a tile change of the density layer (Options.
// DensityLayer) to every view showing a density tile in which markers
// moved since the last flush: at the view's zoom, the tiles covering where
// the movement was. Call it periodically (the demo does every second). It
// does nothing when the density layer is off.
func (s *Server) FlushDensity() {
	layer := s.opts.DensityLayer
	if layer == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.densityDirty) == 0 {
		return
	}
	change := s.tileChangeLocked(layer)
	for d := range s.densityDirty {
		s.searchAllViews(d.Bounds(), func(vp *viewPart) bool {
			if !vp.c.layers.has(layer) {
				return true
			}
			vz := viewZoom(vp.c.viewOf(vp).v)
			if vz <= int(d.Z) {
				t := geo.Tile{Z: uint8(vz), X: d.X >> (int(d.Z) - vz), Y: d.Y >> (int(d.Z) - vz)}
				change.deliver(vp.c, t)
				return true
			}
			if shown, ok := intersect(d.Bounds(), vp.box); ok {
				for _, t := range geo.TilesCovering(shown, vz) {
					change.deliver(vp.c, t)
				}
			}
			return true
		})
	}
	clear(s.densityDirty)
}

// DensityTile renders density tile t as a 256 × 256 PNG: the markers of
// every layer counted in 32 × 32 cells, transparent where there are none,
// from yellow to red as they get denser.
func (s *Server) DensityTile(t geo.Tile) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var counts [densityGrid][densityGrid]uint64
	gz := int(t.Z) + 5 // 2^5 = densityGrid
	s.mu.Lock()
	if gz <= s.opts.ClusterZoom {
		for j := range densityGrid {
			for i := range densityGrid {
				sub := geo.Tile{Z: uint8(gz), X: t.X<<5 + uint32(i), Y: t.Y<<5 + uint32(j)}
				counts[j][i] = s.clusters.cluster(sub, nil).Count
			}
		}
	} else {
		b := t.Bounds()
		scale := math.Exp2(float64(t.Z))
		s.markersIn(b, func(rec *marker) bool {
			x := ((rec.m.Pos.Lon+180)/360*scale - float64(t.X)) * densityGrid
			y := (geo.MercatorY(rec.m.Pos.Lat)*scale - float64(t.Y)) * densityGrid
			i, j := min(max(int(x), 0), densityGrid-1), min(max(int(y), 0), densityGrid-1)
			counts[j][i]++
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
func (s *Server) DensityHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "pushmap: density tiles are read with GET", http.StatusMethodNotAllowed)
			return
		}
		t, err := parseTilePath(r.URL.Path)
		if err != nil {
			http.Error(w, "pushmap: "+err.Error(), http.StatusNotFound)
			return
		}
		b, err := s.DensityTile(t)
		if err != nil {
			http.Error(w, "pushmap: "+err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-cache")
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
