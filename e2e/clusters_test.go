//go:build !js

package e2e_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// worldMarkers returns n markers spread over the world (latitudes within
// ±70°), none within 3° of Paris, from a fixed seed, alternately flights and
// vehicles.
func worldMarkers(n int) []wire.Marker {
	r := rand.New(rand.NewPCG(4, 2))
	ms := make([]wire.Marker, 0, n)
	for len(ms) < n {
		lon, lat := r.Float64()*360-180, r.Float64()*140-70
		if lon > -1 && lon < 6 && lat > 46 && lat < 52 {
			continue
		}
		i := len(ms)
		ms = append(ms, wire.Marker{ID: fmt.Sprint("w", i), Layer: []string{"flights", "vehicles"}[i%2], Pos: geo.Pt(lon, lat)})
	}
	return ms
}

// clusterSum returns the markers the clusters stand for.
func clusterSum(cs []e2e.ShownCluster) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.Count
	}
	return n
}

// waitClusterSum waits until the page draws clusters whose counts, with
// the isolated markers drawn as markers (a cluster of 1 carrying its
// marker), sum to want, while the client holds no marker (its view is in
// cluster mode: every marker drawn is an isolated one), and returns the
// clusters.
func waitClusterSum(t *testing.T, p *e2e.Page, want uint64) []e2e.ShownCluster {
	t.Helper()
	var got []e2e.ShownCluster
	var lone, held int
	ctx := testCtx(t, 20*time.Second)
	err := p.WaitClusters(ctx, func(cs []e2e.ShownCluster) bool {
		got = cs
		shown, err1 := p.ShownMarkers(ctx)
		cached, err2 := p.CachedMarkers(ctx)
		if err1 != nil || err2 != nil {
			return false
		}
		lone, held = len(shown), len(cached)
		return len(cs) > 0 && held == 0 && clusterSum(cs)+uint64(lone) == want
	})
	if err != nil {
		t.Fatalf("clusters in view sum to %d and %d isolated markers are drawn (the client holds %d markers), want %d in all and none held: %v",
			clusterSum(got), lone, held, want, err)
	}
	return got
}

// TestDemoClusters drives the demo page between cluster mode and marker
// mode: a world view of more markers than the budget draws clusters and no
// markers; a city view under the budget draws the city's markers and no
// clusters; back to the world, clusters and no stale marker. In cluster
// mode, a marker moving between tiles updates the two clusters in place.
func TestDemoClusters(t *testing.T) {
	const budget = 200
	d := startDemoWith(t, &server.Options{Budget: budget})
	world := worldMarkers(2000)
	var city []string
	for i := range 40 {
		a := float64(i) * 0.9
		id := fmt.Sprint("paris", i)
		city = append(city, id)
		world = append(world, car(id, 2.35+0.04*sin(a)*float64(i%5)/5, 48.85+0.025*cos(a)*float64(i%5)/5))
	}
	d.upsert(world...)
	total := uint64(len(world))

	// The world: MapLibre zoom 0 on a 1024 × 640 page shows all of it.
	p := openDemo(t, d, "lon=0&lat=20&zoom=0&declutter=0")
	ctx := testCtx(t, 3*time.Minute)
	shown := waitClusterSum(t, p, total)
	if len(shown) > budget {
		t.Errorf("%d clusters shown, more than the budget %d", len(shown), budget)
	}
	held, err := p.CachedClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := clusterSum(held); got != total || len(held) != len(shown) {
		t.Errorf("client holds %d clusters of %d markers, want the %d shown of %d", len(held), got, len(shown), total)
	}
	for _, c := range shown {
		if c.Key != fmt.Sprintf("%d/%d", c.View, int64(c.ID)) || c.Count == 0 || c.ExpansionZoom <= c.Z {
			t.Errorf("cluster %v: want key view/id, a count above 0, an expansion zoom above its zoom %d (got %d)", c, c.Z, c.ExpansionZoom)
		}
	}
	if ms, err := p.CachedMarkers(ctx); err != nil || len(ms) != 0 {
		t.Errorf("client holds %d markers in cluster mode (err %v), want none", len(ms), err)
	}
	// The status panel counts them too (it updates once a second).
	if err := p.WaitFor(ctx, `pushmapDemo.stats.clusters > 0 && pushmapDemo.stats.clustered === `+fmt.Sprint(total)); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	shot := e2e.ArtifactPath(t, "world-clusters.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// In cluster mode, a marker moving from Paris to Sydney moves one
	// count from the clusters near Paris to those near Sydney; a new marker
	// adds one there.
	paris, sydney := countNear(shown, 2.35, 48.85), countNear(shown, 151.2, -33.9)
	d.upsert(car("paris0", 151.2, -33.9), car("new", 151.21, -33.91))
	err = p.WaitClusters(ctx, func(cs []e2e.ShownCluster) bool {
		return clusterSum(cs) == total+1 && countNear(cs, 2.35, 48.85) == paris-1 && countNear(cs, 151.2, -33.9) == sydney+2
	})
	if err != nil {
		t.Fatalf("after a move and an add in cluster mode (Paris %v, Sydney %v): %v", paris, sydney, err)
	}
	d.upsert(car("paris0", 2.35, 48.85))
	if err := d.srv.Remove("new"); err != nil {
		t.Fatal(err)
	}
	waitClusterSum(t, p, total)

	// A city under the budget: its markers, no clusters.
	if err := p.JumpTo(ctx, 2.35, 48.85, 11); err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p, city...)
	if err := p.WaitClusters(ctx, func(cs []e2e.ShownCluster) bool { return len(cs) == 0 }); err != nil {
		t.Fatalf("clusters left at city zoom: %v", err)
	}
	if cs, err := p.CachedClusters(ctx); err != nil || len(cs) != 0 {
		t.Errorf("client holds %d clusters in marker mode (err %v), want none", len(cs), err)
	}

	// Back to the world: clusters again, no marker left behind.
	if err := p.JumpTo(ctx, 0, 20, 1); err != nil {
		t.Fatal(err)
	}
	waitClusterSum(t, p, total)
	if ms, err := p.CachedMarkers(ctx); err != nil || len(ms) != 0 {
		t.Errorf("client holds %d markers after zooming out (err %v), want none", len(ms), err)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// countNear returns the markers of the clusters centred within 25° of
// lon, lat (a world view's clusters are a few degrees apart).
func countNear(cs []e2e.ShownCluster, lon, lat float64) uint64 {
	var n uint64
	for _, c := range cs {
		if math.Abs(c.Lon-lon) < 25 && math.Abs(c.Lat-lat) < 25 {
			n += c.Count
		}
	}
	return n
}

// densityMarkers returns n vehicles around Paris, thickest at its centre,
// from a fixed seed.
func densityMarkers(n int) []wire.Marker {
	r := rand.New(rand.NewPCG(7, 7))
	ms := make([]wire.Marker, n)
	for i := range ms {
		c := [][2]float64{{2.35, 48.85}, {2.25, 48.9}, {2.5, 48.8}}[i%3]
		ms[i] = car(fmt.Sprint("d", i), c[0]+r.NormFloat64()*0.06, c[1]+r.NormFloat64()*0.035)
	}
	return ms
}

// tilePath is the request path of density tile t.
func tilePath(t geo.Tile) string { return "/tiles/density/" + t.String() + ".png" }

// TestDemoDensity checks the demo's density layer: the page fetches the
// density tiles of its view, and after markers move inside one tile and the
// server flushes the density changes, the page fetches that tile again and
// no other. Movement out of view fetches nothing. At a fractional zoom, where
// MapLibre shows the raster tiles of the next zoom, the adapter re-fetches
// only the shown children of the tile the server names.
func TestDemoDensity(t *testing.T) {
	d := startDemoWith(t, &server.Options{DensityLayer: "density"})
	d.upsert(densityMarkers(2000)...)
	d.upsert(car("mover", 2.3376, 48.8606), car("tokyo", 139.69, 35.69))
	d.srv.FlushDensity() // forget the movement of the set-up: no view to tell yet

	// Slippy zoom 10 (the page's ?zoom= is MapLibre's, one less): the
	// raster source shows z10 tiles, the server sends z10.
	p := openDemo(t, d, "lon=2.35&lat=48.85&zoom=9&declutter=0")
	ctx := testCtx(t, 3*time.Minute)
	if err := p.Eval(ctx, `(() => { globalThis.__tiles = []; __pushmapAdapters[0].client.on('tile', (e) => __tiles.push(e)); })()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitShown(ctx, func(s []e2e.Shown) bool { return len(s) > 1000 }); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	moverTile := geo.TileOf(geo.Pt(2.3376, 48.8606), 10)
	before := d.tileRequests()
	if before[tilePath(moverTile)] == 0 || len(before) < 4 {
		t.Fatalf("the page fetched density tiles %v, want those of its view with %s among them", before, moverTile)
	}
	for path := range before {
		if !strings.HasPrefix(path, "/tiles/density/10/") {
			t.Errorf("density tile %s fetched at slippy zoom 10", path)
		}
	}
	if err := p.WaitFor(ctx, `pushmapDemo.stats.shown > 1000`); err != nil {
		t.Fatal(err)
	}
	shot := e2e.ArtifactPath(t, "city-density.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	// The markers hide the density tiles under them: one more without them.
	if err := p.Eval(ctx, `(() => { const a = __pushmapAdapters[0]; a.map.setLayoutProperty(a.layerId, 'visibility', 'none'); })()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	shot2 := e2e.ArtifactPath(t, "city-density-only.png")
	if err := p.Screenshot(ctx, shot2); err != nil {
		t.Fatal(err)
	}
	if err := p.Eval(ctx, `(() => { const a = __pushmapAdapters[0]; a.map.setLayoutProperty(a.layerId, 'visibility', 'visible'); })()`, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s, %s", shot, shot2)

	// The mover moves inside its z10 tile: that tile alone is fetched again.
	b := moverTile.Bounds()
	d.upsert(car("mover", (b.West+b.East)/2, (b.South+b.North)/2))
	d.srv.FlushDensity()
	expectRefetch(t, p, d, before, []string{tilePath(moverTile)}, nil)

	// Movement far out of view: nothing is fetched.
	before = d.tileRequests()
	d.upsert(car("tokyo", 139.7, 35.7))
	d.srv.FlushDensity()
	time.Sleep(1500 * time.Millisecond)
	if after := d.tileRequests(); !maps.Equal(before, after) {
		t.Errorf("movement in Tokyo made the page fetch %v", diffHits(before, after))
	}

	// Slippy zoom 10.7: the server still counts the view as zoom 10 and
	// names the z10 tile; MapLibre rounds the raster source's zoom and shows
	// z11 tiles. The mover's z11 tile is fetched again, and nothing but
	// children of the z10 tile is.
	if err := p.JumpTo(ctx, 2.35, 48.85, 10.7); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	before = d.tileRequests()
	at := geo.Pt(b.West+(b.East-b.West)*0.3, b.South+(b.North-b.South)*0.3)
	d.upsert(car("mover", at.Lon, at.Lat))
	d.srv.FlushDensity()
	child := geo.TileOf(at, 11)
	expectRefetch(t, p, d, before, []string{tilePath(child)}, func(path string) bool {
		for _, c := range moverTile.Children() {
			if path == tilePath(c) {
				return true
			}
		}
		return false
	})
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// expectRefetch waits until every path in want has been requested again
// since before, then waits a further second and fails if any other tile was
// requested, unless allowed says it may be.
func expectRefetch(t *testing.T, p *e2e.Page, d *demoServer, before map[string]int, want []string, allowed func(string) bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for {
		after := d.tileRequests()
		done := true
		for _, w := range want {
			if after[w] <= before[w] {
				done = false
			}
		}
		if done {
			t.Logf("%v fetched again after %v", want, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			var events any
			p.Eval(testCtx(t, 5*time.Second), `globalThis.__tiles`, &events)
			t.Fatalf("tiles %v were not fetched again; fetched since: %v; tile events the page got: %v", want, diffHits(before, after), events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	for path, n := range diffHits(before, d.tileRequests()) {
		if !slices.Contains(want, path) && (allowed == nil || !allowed(path)) {
			t.Errorf("tile %s fetched %d more times, want only %v", path, n, want)
		}
	}
}

// diffHits returns the requests in after that are not in before.
func diffHits(before, after map[string]int) map[string]int {
	out := make(map[string]int)
	for path, n := range after {
		if n > before[path] {
			out[path] = n - before[path]
		}
	}
	return out
}

// TestLeafletDemoClustersAndDensity checks the Leaflet demo page: clusters
// at world zoom, markers in a city, and the density layer, which Leaflet
// can only reload as a whole, reloaded after markers moved.
func TestLeafletDemoClustersAndDensity(t *testing.T) {
	d := startDemoWith(t, &server.Options{Budget: 200, DensityLayer: "density"})
	world := worldMarkers(2000)
	var city []string
	for i := range 40 {
		id := fmt.Sprint("paris", i)
		city = append(city, id)
		a := float64(i) * 0.9
		world = append(world, car(id, 2.35+0.04*sin(a)*float64(i%5)/5, 48.85+0.025*cos(a)*float64(i%5)/5))
	}
	d.upsert(world...)
	d.srv.FlushDensity()

	// Leaflet zoom 1 on a 1024 × 640 page shows the whole world.
	p := openPage(t, d, "/leaflet.html?lon=0&lat=20&zoom=1&declutter=0")
	ctx := testCtx(t, 2*time.Minute)
	waitClusterSum(t, p, uint64(len(world)))
	if err := p.WaitFor(ctx, `pushmapDemo.basemap && pushmapDemo.stats.clusters > 0`); err != nil {
		t.Fatal(err)
	}
	shot := e2e.ArtifactPath(t, "leaflet-world-clusters.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	if err := p.JumpTo(ctx, 2.35, 48.85, 12); err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p, city...)
	if err := p.WaitClusters(ctx, func(cs []e2e.ShownCluster) bool { return len(cs) == 0 }); err != nil {
		t.Fatalf("clusters left at city zoom: %v", err)
	}

	tile := geo.TileOf(geo.Pt(2.35, 48.85), 12)
	if err := p.WaitFor(ctx, `pushmapDemo.density && !pushmapDemo.density.isLoading()`); err != nil {
		t.Fatal(err)
	}
	before := d.tileRequests()
	if before[tilePath(tile)] == 0 {
		t.Fatalf("the page fetched density tiles %v, want %s among them", before, tile)
	}
	d.upsert(car("paris0", 2.351, 48.851))
	d.srv.FlushDensity()
	expectRefetch(t, p, d, before, []string{tilePath(tile)}, func(path string) bool {
		return strings.HasPrefix(path, "/tiles/density/12/") // the whole layer is reloaded
	})
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}
