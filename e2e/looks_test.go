//go:build !js

package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// TestDemoAsMapUsersExpect checks, on both demo pages, what users of
// MapLibre and Leaflet expect of a live map: a favicon; a status panel with
// a legend, clear of the map's zoom buttons, counting cluster updates;
// clusters labelled with their count; a click on a cluster zooms into it;
// a click on a marker opens a popup with its props.
func TestDemoAsMapUsersExpect(t *testing.T) {
	for _, tc := range []struct{ name, page, worldZoom, cityZoom string }{
		{"maplibre", "/", "0", "11"},
		{"leaflet", "/leaflet.html", "1", "12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemoWith(t, &server.Options{Budget: 50})
			world := worldMarkers(600)
			louvre := wire.Marker{ID: "louvre", Layer: "vehicles", Pos: geo.Pt(2.3376, 48.8606),
				Props: map[string]any{"name": "Musée du Louvre", "speed": 3}}
			d.upsert(append(world, louvre)...)
			p := openPage(t, d, tc.page+"?declutter=0&lon=0&lat=20&zoom="+tc.worldZoom)
			ctx := testCtx(t, 2*time.Minute)

			// The favicon the page names is there.
			icon, err := e2e.Eval[string](ctx, p, `document.querySelector('link[rel=icon]')?.href ?? ''`)
			if err != nil || icon == "" {
				t.Fatalf("no <link rel=icon> (err %v)", err)
			}
			resp, err := http.Get(icon)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(body), "<svg") {
				t.Errorf("favicon %s: HTTP %d, %s", icon, resp.StatusCode, resp.Header.Get("Content-Type"))
			}

			// The panel: a legend, and no overlap with the zoom buttons.
			// (The MapLibre page adds its controls with the decoration,
			// after the first marker.)
			if err := p.WaitFor(ctx, `document.querySelector('.maplibregl-ctrl-group, .leaflet-control-zoom') !== null`); err != nil {
				t.Fatal(err)
			}
			var panel struct {
				Legend  []string
				Overlap []string
			}
			err = p.Eval(ctx, `(() => {
				const r = document.getElementById('status').getBoundingClientRect();
				const controls = [...document.querySelectorAll('.maplibregl-ctrl-group, .leaflet-control-zoom')];
				const overlap = controls.filter((c) => { const q = c.getBoundingClientRect();
					return q.width > 0 && r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom; });
				return { Legend: [...document.querySelectorAll('#st-legend li')].map((li) => li.textContent),
					Overlap: overlap.map((c) => c.className), Controls: controls.length };
			})()`, &panel)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"flights", "vehicles", "cluster (markers in it)", "density (live tiles)"} {
				if !slices.ContainsFunc(panel.Legend, func(s string) bool { return strings.Contains(s, want) }) {
					t.Errorf("legend %q lacks %q", panel.Legend, want)
				}
			}
			if len(panel.Overlap) > 0 {
				t.Errorf("the status panel covers the map controls %v", panel.Overlap)
			}

			// Every cluster drawn carries its count as a label.
			shown := waitClusterSum(t, p, uint64(len(world)+1))
			err = p.WaitFor(ctx, `(() => { const a = __pushmapAdapters[0];
				const labels = new Map(a.shownClusterLabels().map((l) => [l.key, l.label]));
				const cs = a.shownClusters();
				return cs.length > 0 && cs.every((c) => labels.has(c.key)); })()`)
			if err != nil {
				t.Fatalf("clusters without labels: %v", err)
			}
			var labels []struct{ Key, Label string }
			if err := p.Eval(ctx, `__pushmapAdapters[0].shownClusterLabels().map((l) => ({Key: l.key, Label: l.label}))`, &labels); err != nil {
				t.Fatal(err)
			}
			for _, l := range labels {
				for _, c := range shown {
					if c.Key == l.Key && l.Label != fmt.Sprint(c.Count) && c.Count < 1000 {
						t.Errorf("cluster %v labelled %q", c, l.Label)
					}
				}
			}

			// Cluster changes count as updates in the panel.
			for i := range 5 {
				d.upsert(car(fmt.Sprint("w", i), float64(-170+60*i), 10))
			}
			if err := p.WaitFor(ctx, `pushmapDemo.stats.clusterUpdatesPerSec > 0`); err != nil {
				t.Errorf("cluster updates not counted: %v", err)
			}

			// A click on the largest cluster zooms to its expansion zoom,
			// centred on it: the cluster splits there.
			big := slices.MaxFunc(shown, func(a, b e2e.ShownCluster) int { return int(a.Count) - int(b.Count) })
			zoom := func() float64 {
				z, err := e2e.Eval[float64](ctx, p, `__pushmapAdapters[0].map.getZoom()`)
				if err != nil {
					t.Fatal(err)
				}
				return z
			}
			before := zoom()
			if err := p.ClickAt(ctx, big.Lon, big.Lat); err != nil {
				t.Fatal(err)
			}
			// The map's zoom is the protocol's less the adapter's offset
			// (MapLibre 1, Leaflet 0).
			want := float64(big.ExpansionZoom)
			if tc.name == "maplibre" {
				want--
			}
			err = p.WaitFor(ctx, fmt.Sprintf(`(() => { const m = __pushmapAdapters[0].map; const b = m.getBounds();
				const moving = m.isMoving ? m.isMoving() : m._animatingZoom; // MapLibre, Leaflet
				return !moving && Math.abs(m.getZoom() - %v) < 1e-6 && b.contains(%s); })()`, want, latLng(tc.name, big.Lon, big.Lat)))
			if err != nil {
				t.Fatalf("a click on cluster %v did not zoom to its expansion zoom %v (zoom %v before): %v", big, want, before, err)
			}
			// There it is drawn as several clusters, or as markers.
			split := func() string {
				cs, err := p.ShownClusters(ctx)
				if err != nil {
					return err.Error()
				}
				ms, err := p.ShownMarkers(ctx)
				if err != nil {
					return err.Error()
				}
				if len(cs) < 2 && len(ms) < 2 {
					return fmt.Sprintf("%d clusters, %d markers in view", len(cs), len(ms))
				}
				return ""
			}
			for msg := split(); msg != ""; msg = split() {
				if ctx.Err() != nil {
					t.Fatalf("at its expansion zoom, cluster %v did not split: %s", big, msg)
				}
				time.Sleep(50 * time.Millisecond)
			}

			// A click on a marker opens a popup with its props.
			if err := p.JumpTo(ctx, 2.3376, 48.8606, atof(tc.cityZoom)); err != nil {
				t.Fatal(err)
			}
			waitShownIDs(t, p, "louvre")
			if err := p.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.ClickAt(ctx, 2.3376, 48.8606); err != nil {
				t.Fatal(err)
			}
			if err := p.WaitFor(ctx, `(document.querySelector('.pushmap-popup')?.textContent ?? '').includes('Musée du Louvre')`); err != nil {
				t.Fatalf("no popup with the marker's props: %v", err)
			}
			shot := e2e.ArtifactPath(t, "popup.png")
			if err := p.Screenshot(ctx, shot); err != nil {
				t.Fatal(err)
			}
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
			// Nothing the page asked for is missing (but the density tiles:
			// this server has no density layer).
			missing, err := e2e.Eval[[]string](ctx, p, `performance.getEntriesByType('resource')
				.filter((e) => e.responseStatus >= 400 && !e.name.includes('/tiles/density/')).map((e) => e.name)`)
			if err != nil || len(missing) > 0 {
				t.Errorf("resources missing: %v (err %v)", missing, err)
			}
		})
	}
}

// latLng is the JS for a point the map's bounds can test, for the kind.
func latLng(kind string, lon, lat float64) string {
	if kind == "leaflet" {
		return fmt.Sprintf("[%v, %v]", lat, lon)
	}
	return fmt.Sprintf("[%v, %v]", lon, lat)
}

func atof(s string) float64 {
	var f float64
	fmt.Sscan(s, &f)
	return f
}
