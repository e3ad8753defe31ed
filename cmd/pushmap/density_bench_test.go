package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
)

var writeDocs = flag.String("demo.write-docs", "", "rewrite the demo benchmarks' generated blocks of this Markdown `file` (make bench: docs/benchmarks.md)")

// densityWindow is how long each run watches the page's density tiles,
// from densityWarmUp after they first came.
const (
	densityWindow = 15 * time.Second
	densityWarmUp = 3 * time.Second
)

// BenchmarkDemoDensity measures the bytes per second the density layer of
// the demo costs a page on its default view (Europe; the real pushmap demo
// and its synthetic fleet, seed 1): the density tiles the page fetches
// (the transfer size of each response, headers included, from the page's
// resource timing) over densityWindow (after a warm-up), throttled (each
// tile re-fetched at most every 2 s, and every 5 s, the demo's default)
// against the baseline without a throttle (?densityMs=0: every change the
// server announces, at the next frame), in the same run, pages taking
// turns. The issue asks the throttle to at least halve them. With
// -demo.write-docs=FILE it rewrites the block between <!-- density:begin
// --> and <!-- density:end --> of FILE.
func BenchmarkDemoDensity(b *testing.B) {
	e2e.SkipIfNoBrowser(b)
	r := start(b, "demo", "--addr", "127.0.0.1:0", "--web", webDist(b), "--seed", "1")
	br, err := e2e.Start(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	type run struct{ bytesPerSec, tilesPerSec float64 }
	measure := func(query string) run {
		ctx, cancel := context.WithTimeout(b.Context(), densityWindow+time.Minute)
		defer cancel()
		p, err := br.Open(ctx, r.url+"?"+query)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		// Drawn, the density tiles of the view being fetched (without the
		// throttle the source is never done loading: wait for a first tile).
		if err := p.WaitFor(ctx, `pushmapDemo.stats.clusters > 0 && pushmapDemo.map?.getSource('density') &&
			performance.getEntriesByType('resource').some((e) => e.name.includes('/tiles/density/'))`); err != nil {
			b.Fatal(err)
		}
		err = p.Eval(ctx, `(() => {
			globalThis.__density = { bytes: 0, tiles: 0 };
			new PerformanceObserver((list) => {
				for (const e of list.getEntries()) {
					if (!e.name.includes('/tiles/density/')) continue;
					__density.bytes += e.transferSize;
					__density.tiles++;
				}
			}).observe({ type: 'resource' });
		})()`, nil)
		if err != nil {
			b.Fatal(err)
		}
		// The view's first tiles are not the layer's running cost: the
		// window starts densityWarmUp later. (Sleeps: the time measured,
		// not a wait for a condition.)
		time.Sleep(densityWarmUp)
		if err := p.Eval(ctx, `(() => { __density.bytes = 0; __density.tiles = 0; })()`, nil); err != nil {
			b.Fatal(err)
		}
		time.Sleep(densityWindow)
		var got struct{ Bytes, Tiles float64 }
		if err := p.Eval(ctx, `({Bytes: __density.bytes, Tiles: __density.tiles})`, &got); err != nil {
			b.Fatal(err)
		}
		s := densityWindow.Seconds()
		return run{got.Bytes / s, got.Tiles / s}
	}
	// The modes, taking turns: the baseline first.
	modes := []struct {
		label, query string
		runs         []run
	}{
		{label: "baseline: every change, at the next frame (?densityMs=0)", query: "densityMs=0"},
		{label: "each tile at most every 2 s (?densityMs=2000)", query: "densityMs=2000"},
		{label: "each tile at most every 5 s (?densityMs=5000, the demo's default)", query: "densityMs=5000"},
	}
	for b.Loop() {
		for i := range modes {
			modes[i].runs = append(modes[i].runs, measure(modes[i].query))
		}
	}
	med := func(rs []run, f func(run) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	bps := func(r run) float64 { return r.bytesPerSec }
	tps := func(r run) float64 { return r.tilesPerSec }
	base := med(modes[0].runs, bps)
	b.ReportMetric(base, "every-change-B/s")
	for _, m := range modes[1:] {
		name := strings.TrimPrefix(m.query, "densityMs=")
		b.ReportMetric(med(m.runs, bps), name+"ms-B/s")
		b.ReportMetric(med(m.runs, bps)/base, name+"ms/every")
	}
	if *writeDocs != "" {
		rows := []string{
			"| density tiles of the default view | runs of " + densityWindow.String() + " | bytes/s (median) | tiles/s (median) | bytes against the baseline |",
			"| --- | --- | --- | --- | --- |",
		}
		for _, m := range modes {
			rows = append(rows, fmt.Sprintf("| %s | %d | %.0f | %.1f | %.2f× |", m.label, len(m.runs), med(m.runs, bps), med(m.runs, tps), med(m.runs, bps)/base))
		}
		rows = append(rows, "", "Medians of the same run; the goal: at most 0.5× the baseline's bytes. "+e2e.MachineLoad())
		if err := e2e.RewriteDocBlock(*writeDocs, "density", "make bench (go test -bench DemoDensity ./cmd/pushmap -demo.write-docs)", rows); err != nil {
			b.Fatal(err)
		}
	}
}
