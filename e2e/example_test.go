//go:build !js

package e2e_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/pushmap/pushmap/e2e"
	"github.com/pushmap/pushmap/geo"
)

// A test of your own page: a map served at pageURL that shows pushmap markers
// through pushmap's MapLibre or Leaflet adapter. In a real test, start the
// Browser once (in TestMain or behind a sync.Once), call
// e2e.SkipIfNoBrowser(t) first, use t.Fatal instead of log.Fatal and
// e2e.ArtifactPath(t, "paris.png") for the screenshot.
func Example() {
	const pageURL = "http://127.0.0.1:8080/map.html" // your page

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	b, err := e2e.Start(ctx, &e2e.Options{Width: 800, Height: 600})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	p, err := b.Open(ctx, pageURL)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// The page's adapter exists and its client is connected.
	if err := p.WaitConnected(ctx); err != nil {
		log.Fatal(err)
	}

	// Look at Paris (longitude first) at zoom 12; JumpTo returns when the
	// map is idle, so what it draws now is final.
	if err := p.JumpTo(ctx, 2.35, 48.85, 12); err != nil {
		log.Fatal(err)
	}
	shown, err := p.ShownMarkers(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range shown {
		fmt.Println(m.Layer, m.ID, m.Lon, m.Lat)
	}

	if err := p.Screenshot(ctx, "artifacts/paris.png"); err != nil {
		log.Fatal(err)
	}
	if errs := p.Errors(); len(errs) > 0 {
		log.Fatalf("the page reported errors: %q", errs)
	}
}

// Markers pushed by a server arrive asynchronously: wait for them with
// WaitShown instead of sleeping.
func ExamplePage_WaitShown() {
	var p *e2e.Page // from Browser.Open, connected
	ctx := context.Background()

	// Show the Pacific across the antimeridian, then wait for the bus that
	// a feed is about to publish there.
	if err := p.FitBox(ctx, geo.BBox(170, -30, -170, 0)); err != nil {
		log.Fatal(err)
	}
	err := p.WaitShown(ctx, func(ms []e2e.Shown) bool {
		return slices.ContainsFunc(ms, func(m e2e.Shown) bool { return m.ID == "bus-42" })
	})
	if err != nil {
		log.Fatal(err) // says which markers were shown last
	}
}

// A view holding more markers than the server's budget shows clusters
// instead: wait until they account for every marker in the world.
func ExamplePage_WaitClusters() {
	var p *e2e.Page // from Browser.Open, connected
	ctx := context.Background()

	if err := p.JumpTo(ctx, 0, 20, 1); err != nil { // the whole world
		log.Fatal(err)
	}
	err := p.WaitClusters(ctx, func(cs []e2e.ShownCluster) bool {
		var n uint64
		for _, c := range cs {
			n += c.Count
		}
		return n == 100_000
	})
	if err != nil {
		log.Fatal(err) // says which clusters were shown last
	}
}
