//go:build !js

package e2e_test

import (
	"bytes"
	"cmp"
	"fmt"
	"image"
	"image/png"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// motionPages are the two demo pages at the same scale over the Atlantic
// (nothing but ocean under the markers): MapLibre's zoom is one less than
// Leaflet's for the same scale.
var motionPages = []struct{ name, page, zoom string }{
	{"maplibre", "/", "12"},
	{"leaflet", "/leaflet.html", "13"},
}

// projectJS is a JS expression: p's screen position {x, y} on the page's map.
func projectJS(p geo.Point) string {
	return fmt.Sprintf(`(() => { const a = __pushmapAdapters[0]; return a.kind === 'maplibre' ? a.map.project([%v, %v]) : a.map.latLngToContainerPoint([%v, %v]); })()`,
		p.Lon, p.Lat, p.Lat, p.Lon)
}

// drawnAtJS is a JS function (kind, id) → the screen position [x, y] where
// the adapter draws marker id now, or null: on MapLibre from the features
// it rendered (their geometry as tiled), on Leaflet from the marker layer.
const drawnAtJS = `((id) => {
	const a = __pushmapAdapters[0];
	if (a.kind === 'maplibre') {
		const layers = [a.layerId, a.sourceId + '-headings'].filter((l) => a.map.getLayer(l));
		const f = a.map.queryRenderedFeatures({ layers }).find((f) => (f.properties.id ?? f.id) === id);
		if (!f) return null;
		const p = a.map.project(f.geometry.coordinates);
		return [p.x, p.y];
	}
	const c = a.layerGroup.getLayers().find((c) => c.pushmapId === id);
	if (!c) return null;
	const p = a.map.latLngToContainerPoint(c.getLatLng());
	return [p.x, p.y];
})`

// TestMarkersGlide checks smooth motion on both demo pages: a marker the
// feed moves is drawn, between the two updates, at positions in between
// (sampled at every frame of the page), advancing, and ends where the
// marker is; its first move, which has no interval to go by, is drawn at
// once.
func TestMarkersGlide(t *testing.T) {
	for _, tc := range motionPages {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t)
			a := geo.Pt(-30, 30)
			b := geo.Pt(-29.99, 30)  // ~58 px east at this scale
			c := geo.Pt(-29.975, 30) // ~87 px further
			glider := func(p geo.Point) wire.Marker {
				return wire.Marker{ID: "glider", Layer: "vehicles", Pos: p, Props: map[string]any{"heading": 90}}
			}
			d.upsert(glider(a))
			p := openPage(t, d, fmt.Sprintf("%s?lon=-29.99&lat=30&zoom=%s&layers=vehicles&declutter=0", tc.page, tc.zoom))
			ctx := testCtx(t, time.Minute)
			waitShownIDs(t, p, "glider")

			// The first move: drawn there at once (no glide to measure yet).
			d.upsert(glider(b))
			if err := p.WaitFor(ctx, fmt.Sprintf(`(() => { const s = %s('glider'); const a = __pushmapAdapters[0]; const b = a.kind === 'maplibre' ? a.map.project([%v, %v]) : a.map.latLngToContainerPoint([%v, %v]);
				return s && Math.hypot(s[0] - b.x, s[1] - b.y) < 1; })()`, drawnAtJS, b.Lon, b.Lat, b.Lat, b.Lon)); err != nil {
				t.Fatalf("the marker is not drawn at its first new position: %v", err)
			}
			// The feed's cadence: the next move comes 500 ms after it.
			time.Sleep(500 * time.Millisecond)
			err := p.Eval(ctx, fmt.Sprintf(`(() => {
				const drawnAt = %s;
				globalThis.__glide = { samples: [], done: false };
				const start = performance.now();
				const c = %s;
				let arrived = 0;
				// Every frame until 300 ms after the marker is drawn at C, 5 s at
				// most (a busy machine delays the update and MapLibre's worker).
				const sample = () => {
					const s = drawnAt('glider');
					if (s) __glide.samples.push(s);
					const now = performance.now();
					if (!arrived && s && Math.hypot(s[0] - c.x, s[1] - c.y) < 1) arrived = now;
					if ((arrived && now - arrived > 300) || now - start > 5000) __glide.done = true; else requestAnimationFrame(sample);
				};
				requestAnimationFrame(sample);
			})()`, drawnAtJS, projectJS(c)), nil)
			if err != nil {
				t.Fatal(err)
			}
			d.upsert(glider(c))
			if err := p.WaitFor(ctx, `__glide.done`); err != nil {
				t.Fatal(err)
			}
			var r struct {
				Samples [][2]float64
				B, C    [2]float64
			}
			err = p.Eval(ctx, fmt.Sprintf(`(() => { const m = __pushmapAdapters[0].map;
				const ml = __pushmapAdapters[0].kind === 'maplibre';
				const px = (lon, lat) => { const q = ml ? m.project([lon, lat]) : m.latLngToContainerPoint([lat, lon]); return [q.x, q.y]; };
				return { Samples: __glide.samples, B: px(%v, %v), C: px(%v, %v) }; })()`, b.Lon, b.Lat, c.Lon, c.Lat), &r)
			if err != nil {
				t.Fatal(err)
			}
			// Progress of each sample from B (0) to C (1) along the line.
			dx, dy := r.C[0]-r.B[0], r.C[1]-r.B[1]
			length := math.Hypot(dx, dy)
			var between, back int
			last := -1.0
			var progress []string
			for _, s := range r.Samples {
				f := ((s[0]-r.B[0])*dx + (s[1]-r.B[1])*dy) / (length * length)
				off := math.Abs((s[0]-r.B[0])*dy-(s[1]-r.B[1])*dx) / length
				if off > 1.5 {
					t.Errorf("drawn %.1f px off the line from B to C at %v", off, s)
				}
				if f > 0.1 && f < 0.9 {
					between++
				}
				if f < last-0.01 {
					back++
				}
				last = f
				progress = append(progress, fmt.Sprintf("%.2f", f))
			}
			t.Logf("%d frames sampled, %d between the two positions; progress: %v", len(r.Samples), between, progress)
			// MapLibre re-tiles the source in its worker for each frame's
			// positions: on SwiftShader under load it draws one or two of a
			// 500 ms glide; a jump draws none.
			if between < 1 {
				t.Errorf("drawn between the positions in %d frames, want at least 1 (a glide, not a jump)", between)
			}
			if back > 0 {
				t.Errorf("the marker went back %d times", back)
			}
			if len(r.Samples) == 0 || math.Abs(last-1) > 0.02 {
				t.Errorf("the glide ended at progress %.3f, want 1 (where the marker is)", last)
			}
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		})
	}
}

// TestHeadingRotatesMarkers checks, in the pixels both demo pages draw,
// that a marker with props.heading points that way: the marker's colour
// reaches further out on its heading's side (the point drawn out of the
// circle), for headings north, east and south-south-west.
func TestHeadingRotatesMarkers(t *testing.T) {
	headings := []float64{0, 90, 200}
	for _, tc := range motionPages {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t)
			var ms []wire.Marker
			for i, h := range headings {
				ms = append(ms, wire.Marker{ID: fmt.Sprint("h", h), Layer: "vehicles",
					Pos: geo.Pt(-30.02+0.02*float64(i), 30), Props: map[string]any{"heading": h}})
			}
			d.upsert(ms...)
			p := openPage(t, d, fmt.Sprintf("%s?lon=-30&lat=30&zoom=%s&layers=vehicles&declutter=0", tc.page, tc.zoom))
			ctx := testCtx(t, time.Minute)
			waitShownIDs(t, p, "h0", "h90", "h200")
			if err := p.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			var at map[string][2]float64
			err := p.Eval(ctx, `(() => { const m = __pushmapAdapters[0].map; const out = {};
				for (const mk of __pushmapAdapters[0].client.markers()) {
					const q = __pushmapAdapters[0].kind === 'maplibre' ? m.project([mk.lon, mk.lat]) : m.latLngToContainerPoint([mk.lat, mk.lon]);
					out[mk.id] = [q.x, q.y]; }
				return out; })()`, &at)
			if err != nil {
				t.Fatal(err)
			}
			shot, err := p.ScreenshotPNG(ctx)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range headings {
				id := fmt.Sprint("h", h)
				tip, reach, n := farthestColour(img, at[id], 24, [3]float64{0x19, 0x71, 0xc2})
				wantX, wantY := math.Sin(h*math.Pi/180), -math.Cos(h*math.Pi/180)
				angle := math.Acos((tip[0]*wantX+tip[1]*wantY)/math.Hypot(tip[0], tip[1])) * 180 / math.Pi
				t.Logf("heading %v: %d pixels of the marker's colour, reaching %.1f px from its centre at most, %.0f° off the heading", h, n, reach, angle)
				if n < 20 || !(angle <= 25) {
					t.Errorf("marker with heading %v does not point that way: its colour reaches furthest towards %.2f, %.2f (%.0f° off; %d pixels)", h, tip[0], tip[1], angle, n)
				}
			}
			if t.Failed() {
				path := e2e.ArtifactPath(t, "headings.png")
				if err := p.Screenshot(ctx, path); err == nil {
					t.Logf("screenshot: %s", path)
				}
			}
		})
	}
}

// farthestColour finds the pixels of img within r pixels of at whose colour
// is near want (RGB), and returns the mean direction (unnormalised) from at
// of the farthest fifth of them, the farthest one's distance, and how many
// there are: a marker drawn out into a point reaches furthest towards it.
func farthestColour(img image.Image, at [2]float64, r int, want [3]float64) (dir [2]float64, reach float64, n int) {
	type px struct{ dx, dy, d float64 }
	var found []px
	x0, y0 := int(at[0]), int(at[1])
	for py := y0 - r; py <= y0+r; py++ {
		for pxl := x0 - r; pxl <= x0+r; pxl++ {
			cr, cg, cb, _ := img.At(pxl, py).RGBA()
			d := math.Abs(float64(cr>>8)-want[0]) + math.Abs(float64(cg>>8)-want[1]) + math.Abs(float64(cb>>8)-want[2])
			if d < 60 {
				dx, dy := float64(pxl)+0.5-at[0], float64(py)+0.5-at[1]
				found = append(found, px{dx, dy, math.Hypot(dx, dy)})
			}
		}
	}
	if len(found) == 0 {
		return dir, 0, 0
	}
	slices.SortFunc(found, func(a, b px) int { return cmp.Compare(b.d, a.d) })
	far := found[:max(1, len(found)/5)]
	for _, p := range far {
		dir[0] += p.dx / p.d
		dir[1] += p.dy / p.d
	}
	return dir, found[0].d, len(found)
}
