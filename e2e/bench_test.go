//go:build !js

package e2e_test

import (
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

// BenchmarkFirstMarker measures the time from navigating to the demo page
// to the first marker drawn: loading MapLibre, the basemap and the .wasm
// (precompressed, from the browser's cache after the first run), connecting,
// the view's snapshot and the first render. Each run opens a new tab.
func BenchmarkFirstMarker(b *testing.B) {
	d := startDemo(b)
	d.upsert(car("louvre", 2.3376, 48.8606))
	br, _ := benchPage(b, d, "")
	var ms []float64
	for b.Loop() {
		start := time.Now()
		p, err := br.Open(b.Context(), d.url("lon=2.35&lat=48.85&zoom=10"))
		if err != nil {
			b.Fatal(err)
		}
		err = p.WaitFor(b.Context(), `(globalThis.__pushmapAdapters ?? []).length > 0 && __pushmapAdapters[0].shownMarkers().length > 0`)
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		p.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(median(ms), "ms-median")
	b.ReportMetric(slices.Min(ms), "ms-min")
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
	_, p := benchPage(b, d, "lon=2.35&lat=48.85&zoom=11")
	if err := p.WaitFor(b.Context(), `__pushmapAdapters[0].shownMarkers().length === 1000`); err != nil {
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
