//go:build !js

package e2e_test

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/wire"
)

// benchPage opens the demo page for a benchmark, on a browser of its own.
func benchPage(b *testing.B, d *demoServer, query string) (*e2e.Browser, *e2e.Page) {
	b.Helper()
	e2e.SkipIfNoBrowser(b)
	br, err := e2e.Start(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	if query == "" {
		return br, nil
	}
	p, err := br.Open(b.Context(), d.url(query))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	if err := p.WaitConnected(b.Context()); err != nil {
		b.Fatal(err)
	}
	return br, p
}

func median(ds []float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFirstMarker measures, in the page, the time from the start of
// the navigation to the first marker drawn on the MapLibre demo page
// (performance.now() when the adapter first draws one, as the demo's status
// panel records it): loading MapLibre, the basemap and the .wasm
// (precompressed, from localhost), connecting, the view's snapshot and the
// render.
//
//   - cold: a new browser (an empty cache) per run;
//   - warm: one browser that loaded the page before, a new tab per run (the
//     content-hashed files come from the cache without a request);
//   - baseline, in the same run: the same page cold with its preload links
//     made inert, which fetches the wasm only after MapLibre, as the page
//     did before.
//
// Goals: cold ≤ 1000 ms, warm ≤ 800 ms. It also times the steps before
// the first marker (firstMarkerSteps) in the same cold and warm runs, and
// writes their medians below the result. With -e2e.write-docs=FILE it
// rewrites the block between <!-- firstmarker:begin --> and
// <!-- firstmarker:end --> of FILE (docs/benchmarks.md; make bench).
func BenchmarkFirstMarker(b *testing.B) {
	e2e.SkipIfNoBrowser(b)
	d := startDemo(b)
	d.upsert(car("louvre", 2.3376, 48.8606))
	const query = "lon=2.35&lat=48.85&zoom=10&declutter=0"
	page := d.url(query)
	baseline := "http://" + d.addr + "/nopreload.html?" + query

	warmBrowser := newBrowser(b)
	defer warmBrowser.Close()
	firstMarker(b, warmBrowser, page) // fills its cache
	var cold, warm, base []float64
	coldSteps, warmSteps := map[string][]float64{}, map[string][]float64{}
	for b.Loop() {
		ms, steps := firstMarkerCold(b, page)
		cold = append(cold, ms)
		addSteps(coldSteps, steps)
		ms, _ = firstMarkerCold(b, baseline)
		base = append(base, ms)
		ms, steps = firstMarker(b, warmBrowser, page)
		warm = append(warm, ms)
		addSteps(warmSteps, steps)
	}
	b.ReportMetric(median(cold), "cold-ms-median")
	b.ReportMetric(median(warm), "warm-ms-median")
	b.ReportMetric(median(base), "baseline-cold-ms-median")
	b.ReportMetric(median(cold)/median(base), "cold/baseline")
	if *writeDocs != "" {
		rows := []string{
			"| page | runs | cold median | cold fastest | warm median | warm fastest | goal |",
			"| --- | --- | --- | --- | --- | --- | --- |",
			fmt.Sprintf("| MapLibre demo (wasm and wasm_exec.js preloaded first) | %d | %.0f ms | %.0f ms | %.0f ms | %.0f ms | cold ≤ 1000 ms, warm ≤ 800 ms |",
				len(cold), median(cold), slices.Min(cold), median(warm), slices.Min(warm)),
			fmt.Sprintf("| baseline: the same page, preload links inert | %d | %.0f ms | %.0f ms | | | |",
				len(base), median(base), slices.Min(base)),
			"",
			fmt.Sprintf("Cold, preloaded against the baseline: %.2f× the time (medians of the same run). %s",
				median(cold)/median(base), e2e.MachineLoad()),
			"",
			"Where the time goes: each step's median time since the navigation's start, in the same runs (the page's performance marks and the wasm's resource timing; a step missing from a run is left out of its median).",
			"",
			"| step | cold median | warm median |",
			"| --- | --- | --- |",
		}
		for _, s := range firstMarkerSteps {
			rows = append(rows, fmt.Sprintf("| %s | %s | %s |", s.what, stepMedian(coldSteps[s.name]), stepMedian(warmSteps[s.name])))
		}
		if err := rewriteBlock(*writeDocs, "firstmarker", rows); err != nil {
			b.Fatal(err)
		}
	}
}

// writeDocs names the Markdown file whose generated blocks the benchmarks
// rewrite (make bench: docs/benchmarks.md); empty: none.
var writeDocs = flag.String("e2e.write-docs", "", "rewrite the benchmarks' generated blocks of this Markdown `file`")

// rewriteBlock rewrites the block name of file (e2e.RewriteDocBlock),
// saying which benchmark wrote it.
func rewriteBlock(file, name string, rows []string) error {
	return e2e.RewriteDocBlock(file, name, "make bench (go test -bench "+benchOf(name)+" ./e2e -e2e.write-docs)", rows)
}

// benchOf names the benchmark that writes the block name.
func benchOf(name string) string {
	return map[string]string{"firstmarker": "FirstMarker"}[name]
}

// newBrowser starts a browser of the benchmark's own.
func newBrowser(b *testing.B) *e2e.Browser {
	b.Helper()
	br, err := e2e.Start(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

// firstMarkerSteps are the steps of the MapLibre demo page's start that
// BenchmarkFirstMarker times: performance marks of web/demo/demo.js (name
// "pushmap:…"), and "wasm-fetched", the end of the wasm's download (its
// resource timing), in the order they usually happen.
var firstMarkerSteps = []struct{ name, what string }{
	{"wasm-fetched", "wasm downloaded (preloaded; from the cache when warm)"},
	{"pushmap:maplibre", "MapLibre's module run, its workers started"},
	{"pushmap:loaded", "wasm compiled and running"},
	{"pushmap:open", "WebSocket open"},
	{"pushmap:ready", "first snapshot in the client"},
	{"pushmap:map", "map made (WebGL context)"},
	{"pushmap:workers", "MapLibre's workers answered a ping (their module run)"},
	{"pushmap:style", "style loaded, sources added"},
	{"pushmap:first-frame", "first frame drawn (no markers yet)"},
	{"pushmap:markers-in-worker", "markers' source loaded by a worker"},
	{"pushmap:first-marker", "first marker drawn"},
}

// stepsJS reads firstMarkerSteps' times in the page: {name: ms}.
const stepsJS = `(() => {
  const out = {};
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('pushmap:') && !(m.name in out)) out[m.name] = m.startTime;
  const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));
  if (wasm) out['wasm-fetched'] = wasm.responseEnd;
  return out;
})()`

// addSteps appends the times of one run to all, by step.
func addSteps(all map[string][]float64, run map[string]float64) {
	for name, ms := range run {
		all[name] = append(all[name], ms)
	}
}

// stepMedian is the median of ms as a table cell, "–" without any.
func stepMedian(ms []float64) string {
	if len(ms) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", median(ms))
}

// firstMarkerCold measures url in a new browser, whose cache is empty.
func firstMarkerCold(b *testing.B, url string) (float64, map[string]float64) {
	br := newBrowser(b)
	defer br.Close()
	return firstMarker(b, br, url)
}

// firstMarker opens url in a new tab of br and returns the demo panel's
// firstMarkerMs (the time from the navigation's start to the first marker
// drawn, measured in the page) and the times of the steps before it
// (firstMarkerSteps; those the page marked).
func firstMarker(b *testing.B, br *e2e.Browser, url string) (float64, map[string]float64) {
	b.Helper()
	p, err := br.Open(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitFor(b.Context(), `globalThis.pushmapDemo?.stats?.firstMarkerMs > 0`); err != nil {
		b.Fatal(err)
	}
	ms, err := e2e.Eval[float64](b.Context(), p, `pushmapDemo.stats.firstMarkerMs`)
	if err != nil {
		b.Fatal(err)
	}
	steps, err := e2e.Eval[map[string]float64](b.Context(), p, stepsJS)
	if err != nil {
		b.Fatal(err)
	}
	return ms, steps
}

// BenchmarkApply1000 measures the browser's side of a batch of 1,000
// marker moves in view: from the server's Apply to the map drawn with
// them (total: WebSocket, wasm decoding, JS objects, the MapLibre source
// update and the render), and the part after the client's 'changes' event
// (in-page: adapter and MapLibre alone).
func BenchmarkApply1000(b *testing.B) {
	d := startDemo(b)
	move := func(round int) []wire.Marker {
		ms := make([]wire.Marker, 1000)
		for i := range ms {
			ms[i] = car(fmt.Sprint("m", i), 2.25+float64(i%40)*0.005+float64(round%10)*1e-4, 48.82+float64(i/40)*0.003)
		}
		return ms
	}
	d.upsert(move(0)...)
	// motion=0: the markers are drawn where they moved at once, not after
	// a glide of up to a second; declutter=0: drawn as markers, not grouped.
	_, p := benchPage(b, d, "lon=2.35&lat=48.85&zoom=11&motion=0&declutter=0")
	if err := p.WaitFor(b.Context(), `__pushmapAdapters[0].shownMarkers().length === 1000`); err != nil {
		b.Fatal(err)
	}
	// The page decorates itself (basemap, streets, density) after the
	// first snapshot: timed rounds start once that is loaded, as on a page
	// someone has been looking at. (A batch drawn while the decoration's
	// sources were still loading left MapLibre with no 'idle' event.)
	if err := p.WaitFor(b.Context(), `pushmapDemo.decorated !== undefined && __pushmapAdapters[0].map.getSource('basemap') !== undefined && __pushmapAdapters[0].map.loaded()`); err != nil {
		b.Fatal(err)
	}
	var total, inPage, frames []float64
	round := 0
	for b.Loop() {
		round++
		err := p.Eval(b.Context(), `(() => {
  const a = __pushmapAdapters[0];
  window.__bench = {changed: 0, drawn: 0, frames: 0};
  let moved = 0;
  // The batch may arrive in several frames: from the first to the map
  // idle after the last.
  const off = a.client.on('changes', (ch) => {
    if (!__bench.changed) __bench.changed = performance.timeOrigin + performance.now();
    __bench.frames++;
    moved += ch.updated.length;
    if (moved < 1000) return;
    off();
    a.map.once('idle', () => { __bench.drawn = performance.timeOrigin + performance.now(); });
  });
  return true;
})()`, nil)
		if err != nil {
			b.Fatal(err)
		}
		start := float64(time.Now().UnixMicro()) / 1000
		d.upsert(move(round)...)
		if err := p.WaitFor(b.Context(), `__bench.drawn > 0`); err != nil {
			b.Fatal(err)
		}
		var r struct{ Changed, Drawn, Frames float64 }
		if err := p.Eval(b.Context(), `({Changed: __bench.changed, Drawn: __bench.drawn, Frames: __bench.frames})`, &r); err != nil {
			b.Fatal(err)
		}
		total = append(total, r.Drawn-start)
		inPage = append(inPage, r.Drawn-r.Changed)
		frames = append(frames, r.Frames)
	}
	b.ReportMetric(median(frames), "frames-median")
	b.ReportMetric(median(total), "ms-total-median")
	b.ReportMetric(median(inPage), "ms-after-changes-median")
}
