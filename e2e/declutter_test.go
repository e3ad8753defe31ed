//go:build !js

package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pushmap/pushmap/e2e"
)

// TestDemoDeclutters: on the demo (declutter on by default) at a city zoom,
// far below the budget, markers that overlap on screen are drawn as one
// cluster labelled with their count, and an isolated marker as itself —
// a marker, not a cluster labelled 1 — whose popup shows its props on a
// click; no marker is drawn twice or both ways. When a marker leaves the
// blob for the isolated one, the counts follow: 29, and 2 where the
// isolated marker was (no longer drawn as a marker). With ?declutter=0
// the same view draws every marker.
func TestDemoDeclutters(t *testing.T) {
	d := startDemo(t)
	var ids []string
	for i := range 30 { // within about 150 m of one another: overlapping at slippy zoom 11
		id := fmt.Sprint("blob", i)
		ids = append(ids, id)
		d.upsert(car(id, 2.35+0.002*sin(float64(i)), 48.85+0.001*cos(float64(i))))
	}
	alone := car("alone", 2.45, 48.85) // about 7 km east: 270 px away
	alone.Props = map[string]any{"driver": "Zoé Lonely", "heading": 90.0}
	d.upsert(alone)
	ids = append(ids, "alone")

	p := openDemo(t, d, "lon=2.35&lat=48.85&zoom=10") // slippy zoom 11
	ctx := testCtx(t, 2*time.Minute)
	counts := func(cs []e2e.ShownCluster) map[uint64]int {
		n := map[uint64]int{}
		for _, c := range cs {
			n[c.Count]++
		}
		return n
	}
	var shown []e2e.ShownCluster
	err := p.WaitClusters(testCtx(t, 20*time.Second), func(cs []e2e.ShownCluster) bool {
		shown = cs
		return len(cs) == 1 && cs[0].Count == 30
	})
	if err != nil {
		t.Fatalf("clusters drawn %v, want one of 30 (the isolated car drawn as a marker): %v", shown, err)
	}
	waitShownIDs(t, p, "alone")
	var labels []struct{ Key, Label string }
	if err := p.Eval(ctx, `__pushmapAdapters[0].shownClusterLabels().map((l) => ({Key: l.key, Label: l.label}))`, &labels); err != nil {
		t.Fatal(err)
	}
	if len(labels) != 1 || labels[0].Label != "30" {
		t.Errorf("count labels drawn %v, want one reading 30 (none reading 1)", labels)
	}
	if ms, err := p.CachedMarkers(ctx); err != nil || len(ms) != 0 {
		t.Errorf("the client holds %d markers besides its clusters (err %v), want none", len(ms), err)
	}

	// A click on the isolated car opens its popup, with its props.
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.ClickAt(ctx, 2.45, 48.85); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, `(document.querySelector('.pushmap-popup')?.textContent ?? '').includes('Zoé Lonely')`); err != nil {
		t.Fatalf("no popup with the isolated car's props: %v", err)
	}

	// One marker of the blob joins the isolated one: 29 and 2, and the
	// isolated car is no longer drawn as a marker.
	d.upsert(car("blob0", 2.4505, 48.8502))
	err = p.WaitClusters(testCtx(t, 20*time.Second), func(cs []e2e.ShownCluster) bool {
		n := counts(cs)
		return len(cs) == 2 && n[29] == 1 && n[2] == 1
	})
	if err != nil {
		t.Fatal(err)
	}
	waitShownIDs(t, p)

	plain := openDemo(t, d, "lon=2.35&lat=48.85&zoom=10&declutter=0")
	waitShownIDs(t, plain, ids...)
	if errs := p.Errors(); len(errs) > 0 {
		t.Fatalf("page errors: %v", errs)
	}
}
