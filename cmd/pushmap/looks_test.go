package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
)

var updateLooks = flag.Bool("update-looks", false, "rewrite the reference screenshots of TestDemoLooksAsBefore in testdata/")

// webDist returns the built demo page: $PUSHMAP_WEB, else ../../web/dist
// (make web). Without it the test is skipped, or fails when
// PUSHMAP_REQUIRE_BROWSER=1.
func webDist(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PUSHMAP_WEB")
	if dir == "" {
		dir = filepath.Join("..", "..", "web", "dist")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatalf("demo page missing in %s (run make web): %v", dir, err)
		}
		t.Skipf("demo page missing in %s (run make web)", dir)
	}
	return dir
}

// Screenshot comparison: a pixel differs when its channels differ by more
// than pixelTolerance in all (of 3 × 255; white streets on the beige land
// differ by 51); a screenshot matches its reference
// when at most maxDifferent of its pixels differ. Rendering the same page
// twice differs by anti-aliasing at most; each layer of the demo covers
// more (the test checks it: each layer hidden in turn must fail).
const (
	pixelTolerance = 30
	maxDifferent   = 0.004
)

// demoLooks are the views TestDemoLooksAsBefore compares: a city at street
// zoom (basemap, streets, vehicles with headings, density tiles) and the
// default view (countries, clusters with their labels, density tiles).
var demoLooks = []struct {
	name, query string
	ready       string   // JS: true once everything is drawn
	layers      []string // MapLibre layers each of which must show
}{
	{"paris", "lon=2.3522&lat=48.8566&zoom=12.5&declutter=0",
		`(() => { const a = pushmapDemo.adapter, b = pushmapDemo.map.getBounds();
			const want = a.client.markers().filter((m) => b.contains([m.lon, m.lat])).length;
			return want > 20 && a.shownMarkers().length >= want; })() && pushmapDemo.map.getLayer('streets-minor') && pushmapDemo.map.isSourceLoaded('streets') && pushmapDemo.map.isSourceLoaded('density')`,
		[]string{"countries", "streets-minor", "streets-major", "pushmap-headings"}},
	{"europe", "",
		`pushmapDemo.stats.clusters > 20 && pushmapDemo.map.getLayer('countries') && pushmapDemo.map.isSourceLoaded('basemap') && pushmapDemo.map.isSourceLoaded('density') &&
			(() => { const a = pushmapDemo.adapter; const labels = new Set(a.shownClusterLabels().map((l) => l.key));
				return a.shownClusters().every((c) => labels.has(c.key)); })()`,
		[]string{"countries", "pushmap-clusters", "pushmap-cluster-labels", "density"}},
}

// TestDemoLooksAsBefore renders the real demo (pushmap demo: its synthetic
// fleet from a fixed seed, its steps held back by a one-hour interval so
// nothing moves, the status panel hidden) in headless Chromium and compares
// each view with its reference image in testdata/, within a tolerance. Then
// it hides each layer the view shows in turn and checks that the
// comparison fails: a layer that stops drawing fails this test.
// go test -run TestDemoLooksAsBefore -args -update-looks rewrites the
// references (look at them before committing).
func TestDemoLooksAsBefore(t *testing.T) {
	e2e.SkipIfNoBrowser(t)
	dist := webDist(t)
	r := start(t, "demo", "--addr", "127.0.0.1:0", "--web", dist, "--seed", "1", "--interval", "1h")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := e2e.Start(ctx, &e2e.Options{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, look := range demoLooks {
		t.Run(look.name, func(t *testing.T) {
			p, err := b.Open(ctx, r.url+"?"+look.query)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			wctx, wcancel := context.WithTimeout(ctx, 45*time.Second)
			defer wcancel()
			if err := p.WaitFor(wctx, look.ready); err != nil {
				var state any
				p.Eval(ctx, `(() => { const a = pushmapDemo.adapter; const l = new Set(a.shownClusterLabels().map((x) => x.key));
					const m = pushmapDemo.map;
				return {clusters: pushmapDemo.stats.clusters, loaded: ['basemap', 'density'].map((s) => m.getSource(s) && m.isSourceLoaded(s)), images: ['1', '2', '3', '380'].map((t) => m.hasImage('pushmap-count:' + t)), labels: [...l].length,
					unlabelled: a.shownClusters().filter((c) => !l.has(c.key)).map((c) => c.key + ':' + c.count)}; })()`, &state)
				t.Fatalf("the page is not drawn: %v\nstate %v\n%s", err, state, strings.Join(p.ConsoleLines(), "\n"))
			}
			if err := p.Eval(ctx, `document.getElementById('status').style.visibility = 'hidden'`, nil); err != nil {
				t.Fatal(err)
			}
			shot := func() image.Image {
				t.Helper()
				if err := p.WaitIdle(ctx); err != nil {
					t.Fatal(err)
				}
				data, err := p.ScreenshotPNG(ctx)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				return img
			}
			got := shot()
			ref := filepath.Join("testdata", "looks-"+look.name+".png")
			if *updateLooks {
				writePNG(t, ref, got)
			}
			want := readPNG(t, ref)
			diff := different(got, want)
			t.Logf("%s: %.3f%% of the pixels differ from %s", look.name, 100*diff, ref)
			if diff > maxDifferent {
				path := e2e.ArtifactPath(t, "looks-"+look.name+".png")
				writePNG(t, path, got)
				t.Errorf("%.2f%% of the pixels differ from %s (at most %.2f%%): the page as drawn now is in %s", 100*diff, ref, 100*maxDifferent, path)
			}
			// Each layer hidden in turn: the comparison must fail.
			for _, layer := range look.layers {
				set := func(v string) {
					if err := p.Eval(ctx, fmt.Sprintf(`void pushmapDemo.map.setLayoutProperty(%q, 'visibility', %q)`, layer, v), nil); err != nil {
						t.Fatal(err)
					}
				}
				set("none")
				d := different(shot(), want)
				set("visible")
				t.Logf("%s without layer %s: %.3f%% differ", look.name, layer, 100*d)
				if d <= maxDifferent {
					t.Errorf("hiding layer %s changes %.3f%% of the pixels: within the tolerance, a test that would not see it stop drawing", layer, 100*d)
				}
			}
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		})
	}
}

// different returns the share of the pixels of a and b that differ by
// more than pixelTolerance in a channel (all of them when the sizes differ).
func different(a, b image.Image) float64 {
	if a.Bounds() != b.Bounds() {
		return 1
	}
	bd := a.Bounds()
	n := 0
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > pixelTolerance {
				n++
			}
		}
	}
	return float64(n) / float64(bd.Dx()*bd.Dy())
}

func absDiff(a, b uint32) uint32 {
	a, b = a>>8, b>>8
	if a > b {
		return a - b
	}
	return b - a
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reference %s: %v (go test -run TestDemoLooksAsBefore -args -update-looks writes it)", path, err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reference %s: %v", path, err)
	}
	return img
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
