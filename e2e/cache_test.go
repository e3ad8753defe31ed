//go:build !js

package e2e_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
)

// hashedName matches the content-hashed file names of web/dist
// (name.<12 hex digits>.ext), which web.Handler serves immutable.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{12}\.[a-z]+$`)

// TestDemoWarmLoadFromCache checks what BenchmarkFirstMarker's warm runs
// rely on: the demo page opened again in the same browser takes every
// content-hashed file it loads (the wasm, wasm_exec.js, the bundles,
// MapLibre, the CSS, the favicon) from the browser's cache without a
// request (transferSize 0 in its resource timing); only the page itself is
// revalidated.
func TestDemoWarmLoadFromCache(t *testing.T) {
	e2e.SkipIfNoBrowser(t)
	d := startDemo(t)
	d.upsert(car("louvre", 2.3376, 48.8606))
	br := browser(t)
	type resource struct {
		Name         string
		TransferSize float64
	}
	load := func() []resource {
		t.Helper()
		ctx := testCtx(t, 30*time.Second)
		p, err := br.Open(ctx, d.url("lon=2.35&lat=48.85&zoom=10&declutter=0&layers=vehicles"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// The first marker, then the map idle after the basemap came: every
		// file of the page has been loaded.
		if err := p.WaitFor(ctx, `pushmapDemo.stats.firstMarkerMs > 0 && pushmapDemo.map?.getSource('basemap') !== undefined && pushmapDemo.map.loaded()`); err != nil {
			t.Fatal(err)
		}
		rs, err := e2e.Eval[[]resource](ctx, p, `performance.getEntriesByType('resource').map((e) => ({Name: e.name, TransferSize: e.transferSize}))`)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	load() // fills the cache
	hashed := 0
	for _, r := range load() {
		if !hashedName.MatchString(r.Name) {
			continue
		}
		hashed++
		if r.TransferSize != 0 {
			t.Errorf("%s: %v B transferred on a warm load, want 0 (from the cache, no request)", r.Name, r.TransferSize)
		}
	}
	// wasm, wasm_exec.js, demo.js, maplibre-gl.mjs, two CSS, the favicon.
	if hashed < 6 {
		t.Errorf("the warm load listed %d content-hashed files, want at least 6", hashed)
	}
}
