//go:build !js

package e2e_test

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/web"
	"github.com/pushmap/pushmap/wire"
)

// webDist returns the built demo assets: $PUSHMAP_WEB, else ../web/dist.
// Without them (make web builds them) the test is skipped, or fails when
// PUSHMAP_REQUIRE_BROWSER=1.
func webDist(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PUSHMAP_WEB")
	if dir == "" {
		dir = filepath.Join("..", "web", "dist")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatalf("demo assets missing in %s (run make web): %v", dir, err)
		}
		t.Skipf("demo assets missing in %s (run make web)", dir)
	}
	return dir
}

// A demoServer is the real demo page, the library unbundled at /lib/
// (web/lib, the npm package's files) and a real pushmap server on one
// address, which can be stopped and started again. When its server options
// name a density layer it serves the density tiles at /tiles/density/ and
// counts the requests for each tile.
type demoServer struct {
	t    testing.TB
	dir  string
	addr string
	opts *server.Options
	srv  *server.Server
	hs   *http.Server

	mu        sync.Mutex     // guards tileHits
	tileHits  map[string]int // request path of a density tile → requests
	tileOrder []string       // request paths of density tiles, in order
}

// startDemo starts a demoServer with the server's default options.
func startDemo(t testing.TB) *demoServer { return startDemoWith(t, nil) }

// startDemoWith starts a demoServer whose server has opts (nil: defaults).
func startDemoWith(t testing.TB, opts *server.Options) *demoServer {
	d := &demoServer{t: t, dir: webDist(t), addr: "127.0.0.1:0", opts: opts, tileHits: make(map[string]int)}
	d.start(nil)
	t.Cleanup(d.stop)
	return d
}

// start runs a fresh server holding markers on d.addr.
func (d *demoServer) start(markers []wire.Marker) {
	d.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", d.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		d.t.Fatal(err)
	}
	d.addr = ln.Addr().String()
	if d.srv, err = server.New(d.opts); err != nil {
		d.t.Fatal(err)
	}
	if err := d.srv.Apply(server.Upserts(markers...)); err != nil {
		d.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", d.srv)
	if d.opts != nil && d.opts.DensityLayer != "" {
		tiles := http.StripPrefix("/tiles/density/", d.srv.DensityHandler())
		mux.Handle("/tiles/density/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d.mu.Lock()
			d.tileHits[r.URL.Path]++
			d.tileOrder = append(d.tileOrder, r.URL.Path)
			d.mu.Unlock()
			tiles.ServeHTTP(w, r)
		}))
	}
	// The library as the npm package holds it, for pages that import it
	// unbundled.
	mux.Handle("/lib/", http.StripPrefix("/lib/", web.Handler(os.DirFS(filepath.Join("..", "web", "lib")))))
	mux.HandleFunc("/nopreload.html", d.serveNoPreload)
	mux.Handle("/", web.Handler(os.DirFS(d.dir)))
	d.hs = &http.Server{Handler: mux}
	go d.hs.Serve(ln)
}

// serveNoPreload serves the MapLibre demo page with its preload and
// modulepreload links made inert (an unknown rel: the script still finds
// the URLs there): the page as it was before they were added, which fetches
// the wasm only once the map library has loaded and run; the baseline of
// BenchmarkFirstMarker.
func (d *demoServer) serveNoPreload(w http.ResponseWriter, r *http.Request) {
	page, err := os.ReadFile(filepath.Join(d.dir, "index.html"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	inert := strings.NewReplacer(`rel="preload"`, `rel="x-inert"`, `rel="modulepreload"`, `rel="x-inert"`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, inert.Replace(string(page)))
}

// tileRequests returns a copy of the density tile requests so far: path →
// count.
func (d *demoServer) tileRequests() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.tileHits)
}

func (d *demoServer) stop() {
	if d.srv == nil {
		return
	}
	d.srv.Close()
	d.hs.Close()
	d.srv = nil
}

func (d *demoServer) url(query string) string { return "http://" + d.addr + "/?" + query }

func (d *demoServer) upsert(ms ...wire.Marker) {
	d.t.Helper()
	if err := d.srv.Apply(server.Upserts(ms...)); err != nil {
		d.t.Fatal(err)
	}
}

func car(id string, lon, lat float64) wire.Marker {
	return wire.Marker{ID: id, Layer: "vehicles", Pos: geo.Pt(lon, lat)}
}

// openDemo opens the demo page, logging its console if the test fails.
func openDemo(t *testing.T, d *demoServer, query string) *e2e.Page {
	t.Helper()
	return openPage(t, d, "/?"+query)
}

// openPage opens the page at path (and query) of d, as openDemo does.
func openPage(t *testing.T, d *demoServer, pathQuery string) *e2e.Page {
	t.Helper()
	b := browser(t)
	p, err := b.Open(testCtx(t, 30*time.Second), "http://"+d.addr+pathQuery)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console of the demo page:\n\t%s", strings.Join(p.ConsoleLines(), "\n\t"))
		}
		p.Close()
	})
	if err := p.WaitConnected(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitShownIDs waits until the page draws exactly the markers ids.
func waitShownIDs(t *testing.T, p *e2e.Page, ids ...string) {
	t.Helper()
	slices.Sort(ids)
	var last []string
	err := p.WaitShown(testCtx(t, 20*time.Second), func(shown []e2e.Shown) bool {
		last = last[:0]
		for _, s := range shown {
			last = append(last, s.ID)
		}
		slices.Sort(last)
		return slices.Equal(last, ids)
	})
	if err != nil {
		t.Fatalf("page shows %v, want %v: %v", last, ids, err)
	}
}

// TestDemoPage drives the real demo page — MapLibre, the real .wasm, the
// real server — through the life of a map user.
func TestDemoPage(t *testing.T) {
	d := startDemo(t)
	// Paris at slippy zoom 11: about 2.1°..2.6° × 48.7°..48.95°.
	p := openDemo(t, d, "lon=2.35&lat=48.85&zoom=10&declutter=0")
	ctx := testCtx(t, 2*time.Minute)

	// Markers injected inside the view appear; ones outside do not.
	d.upsert(car("louvre", 2.3376, 48.8606), car("bastille", 2.3692, 48.8533),
		car("london", -0.1276, 51.5072), car("lyon", 4.8357, 45.764))
	waitShownIDs(t, p, "bastille", "louvre")

	// Moving a marker out of the view removes it.
	d.upsert(car("louvre", 4.84, 45.76))
	waitShownIDs(t, p, "bastille")

	// Panning shows the new area's markers and drops the old ones.
	if err := p.JumpTo(ctx, -0.1276, 51.5072, 11); err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p, "london")

	// A view across the antimeridian (the Pacific near Fiji).
	d.upsert(car("fiji", 178.4, -18.1), car("samoa", -172.1, -13.8), car("hawaii", -157.8, 21.3))
	if err := p.FitBox(ctx, geo.BBox(170, -25, -168, -10)); err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p, "fiji", "samoa")

	shot := e2e.ArtifactPath(t, "pacific.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}

// TestDemoDecoratesAfterTheSnapshot checks that the basemap comes once the
// first snapshot is drawn, not only after the fallback timer: the page
// once listened for the client's 'ready' after the client had emitted it
// (the snapshot came before the map), so the basemap always waited for the
// timer. The timer is an hour here (?decorateMs=).
func TestDemoDecoratesAfterTheSnapshot(t *testing.T) {
	checkDecoratedBySnapshot(t, "/?lon=2.35&lat=48.85&zoom=10&declutter=0&decorateMs=3600000",
		`pushmapDemo.map.getSource('basemap') !== undefined`)
}

// TestDemoAddsSourcesOnceWorkersAnswer checks the MapLibre page's start
// order (BenchmarkFirstMarker; docs/design.md, "First marker before
// decoration", sixth round): MapLibre's workers have answered a ping before
// the page adds its style and the adapter's sources, so the markers' source
// goes straight to a worker; a message to a worker whose start the page's
// main thread had not yet seen waited for the end of the map's first frame.
// The page's cap on that wait is an hour here (?startWaitMs=).
func TestDemoAddsSourcesOnceWorkersAnswer(t *testing.T) {
	d := startDemo(t)
	d.upsert(car("louvre", 2.3376, 48.8606))
	p := openDemo(t, d, "lon=2.35&lat=48.85&zoom=10&declutter=0&startWaitMs=3600000")
	waitShownIDs(t, p, "louvre")
	steps, err := e2e.Eval[map[string]float64](testCtx(t, time.Minute), p, stepsJS)
	if err != nil {
		t.Fatal(err)
	}
	workers, answered := steps["pushmap:workers"]
	added, ok := steps["pushmap:style"]
	switch {
	case !answered:
		t.Errorf("no pushmap:workers mark: the sources were added without the workers' answer to a ping (marks %v)", steps)
	case !ok:
		t.Errorf("no pushmap:style mark (marks %v)", steps)
	case workers > added:
		t.Errorf("workers answered at %.0f ms, after the style and sources were added at %.0f ms", workers, added)
	}
}

// TestLeafletDemoDecoratesAfterTheSnapshot is TestDemoDecoratesAfterTheSnapshot
// for the Leaflet page: its basemap too comes once the first snapshot is
// in, not after the fallback timer (an hour here).
func TestLeafletDemoDecoratesAfterTheSnapshot(t *testing.T) {
	checkDecoratedBySnapshot(t, "/leaflet.html?lon=2.35&lat=48.85&zoom=11&declutter=0&decorateMs=3600000",
		`pushmapDemo.basemap`)
}

// checkDecoratedBySnapshot opens the demo page at path with one marker
// fed, waits for the marker and for basemapDrawn (a JavaScript condition),
// and fails unless the page says the snapshot, not its timer, decorated it.
func checkDecoratedBySnapshot(t *testing.T, path, basemapDrawn string) {
	t.Helper()
	d := startDemo(t)
	d.upsert(car("louvre", 2.3376, 48.8606))
	p := openPage(t, d, path)
	ctx := testCtx(t, time.Minute)
	waitShownIDs(t, p, "louvre")
	if err := p.WaitFor(ctx, `pushmapDemo.decorated !== undefined && `+basemapDrawn); err != nil {
		t.Fatal(err)
	}
	why, err := e2e.Eval[string](ctx, p, `pushmapDemo.decorated`)
	if err != nil {
		t.Fatal(err)
	}
	if why != "snapshot" {
		t.Errorf("decorated by %q, want \"snapshot\"", why)
	}
}

// TestDemoReconnects kills the server and starts another on the same
// address with a different state: the page reconnects by itself and shows
// exactly the new server's markers.
func TestDemoReconnects(t *testing.T) {
	d := startDemo(t)
	p := openDemo(t, d, "lon=2.35&lat=48.85&zoom=10&declutter=0")
	d.upsert(car("stays", 2.35, 48.85), car("goes", 2.36, 48.86))
	waitShownIDs(t, p, "goes", "stays")

	d.stop()
	if err := p.WaitFor(testCtx(t, 20*time.Second), `__pushmapAdapters[0].client.status === 'reconnecting'`); err != nil {
		t.Fatal(err)
	}
	d.start([]wire.Marker{car("stays", 2.35, 48.85), car("new", 2.34, 48.84), car("far", 10, 10)})
	if err := p.WaitConnected(testCtx(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p, "new", "stays")
}

// TestDemoScreenshot renders the demo with a few hundred markers over
// Europe into the test's artifacts (PUSHMAP_ARTIFACTS).
func TestDemoScreenshot(t *testing.T) {
	d := startDemo(t)
	var ms []wire.Marker
	for i := range 400 {
		// A ring of vehicles around each of a few cities.
		c := [][2]float64{{2.35, 48.85}, {13.4, 52.52}, {-3.7, 40.42}, {12.5, 41.9}, {-0.13, 51.5}}[i%5]
		a := float64(i) * 0.7
		ms = append(ms, wire.Marker{ID: fmt.Sprint("v", i), Layer: []string{"vehicles", "flights"}[i%2],
			Pos: geo.Pt(c[0]+1.5*sin(a)*float64(i%7)/7, c[1]+cos(a)*float64(i%7)/7)})
	}
	d.upsert(ms...)
	p := openDemo(t, d, "lon=6&lat=47&zoom=3.8&declutter=0")
	ctx := testCtx(t, time.Minute)
	if err := p.WaitShown(ctx, func(s []e2e.Shown) bool { return len(s) >= 100 }); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	path := e2e.ArtifactPath(t, "demo.png")
	if err := p.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func sin(x float64) float64 { return math.Sin(x) }
func cos(x float64) float64 { return math.Cos(x) }
