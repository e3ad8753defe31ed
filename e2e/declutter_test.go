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
// cluster labelled with their count, an isolated marker as a cluster of 1,
// and no marker is drawn as well; when a marker leaves the blob for the
// isolated one, the counts follow. With ?declutter=0 the same view draws
// every marker.
func TestDemoDeclutters(t *testing.T) {
	d := startDemo(t)
	var ids []string
	for i := range 30 { // within about 150 m of one another: overlapping at slippy zoom 11
		id := fmt.Sprint("blob", i)
		ids = append(ids, id)
		d.upsert(car(id, 2.35+0.002*sin(float64(i)), 48.85+0.001*cos(float64(i))))
	}
	d.upsert(car("alone", 2.45, 48.85)) // about 7 km east: 270 px away
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
	shown := waitClusterSum(t, p, 31) // and no marker drawn
	if n := counts(shown); len(shown) != 2 || n[30] != 1 || n[1] != 1 {
		t.Fatalf("clusters drawn %v, want one of 30 and one of 1", shown)
	}
	var labels []struct{ Key, Label string }
	if err := p.Eval(ctx, `__pushmapAdapters[0].shownClusterLabels().map((l) => ({Key: l.key, Label: l.label}))`, &labels); err != nil {
		t.Fatal(err)
	}
	labelled := false
	for _, l := range labels {
		labelled = labelled || l.Label == "30"
	}
	if !labelled {
		t.Errorf("count labels drawn %v, want one reading 30", labels)
	}
	if ms, err := p.CachedMarkers(ctx); err != nil || len(ms) != 0 {
		t.Errorf("the client holds %d markers besides its clusters (err %v), want none", len(ms), err)
	}

	// One marker of the blob joins the isolated one: 29 and 2.
	d.upsert(car("blob0", 2.4505, 48.8502))
	err := p.WaitClusters(testCtx(t, 20*time.Second), func(cs []e2e.ShownCluster) bool {
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
