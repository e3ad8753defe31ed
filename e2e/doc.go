// Package e2e drives live map pages in headless Chromium, for end-to-end
// tests of pages that show pushmap markers through pushmap's JavaScript map
// adapters (MapLibre GL and Leaflet).
//
// It serves pushmap's own tests and yours: start one [Browser] per test
// binary, open a [Page] per test, wait until the page's pushmap client is
// connected, move the map and compare the markers it draws with the markers
// you expect.
//
//	b, err := e2e.Start(ctx, nil)
//	...
//	defer b.Close()
//	p, err := b.Open(ctx, "http://127.0.0.1:8080/map.html")
//	...
//	defer p.Close()
//	err = p.WaitConnected(ctx)
//	err = p.JumpTo(ctx, 2.35, 48.85, 12) // lon, lat, zoom
//	shown, err := p.ShownMarkers(ctx)
//	err = p.ClickAt(ctx, 2.35, 48.85) // a real mouse click where the map shows that point
//
// # The page contract
//
// The harness talks to the page through one global array,
// globalThis.__pushmapAdapters, which [Browser.Open] defines (empty) before
// any script of the page runs. pushmap's adapters register there only when
// the array exists, so a page in production exposes nothing; a page of your
// own pushes one object per map adapter:
//
//	{
//	  kind: 'maplibre' | 'leaflet',
//	  map,             // the maplibregl.Map or L.Map
//	  client,          // the pushmap client: client.status, client.markers(), client.clusters()
//	  shownMarkers(),  // [{id, layer, lon, lat}] drawn in the viewport
//	  shownClusters(), // [{key, view, id, z, count, lon, lat, expansionZoom}] drawn in the viewport
//	  detach(),
//	}
//
// client.status is 'connecting', 'open', 'reconnecting' or 'closed';
// client.markers() returns the client's cache as [{id, layer, lon, lat,
// version, time, props}], client.clusters() the clusters it holds (the
// server sends clusters instead of markers for a view over its budget) as
// [{key, view, id, z, count, lon, lat, expansionZoom}]. shownClusters and client.clusters are needed
// only by [Page.ShownClusters], [Page.WaitClusters] and
// [Page.CachedClusters]. pushmap's adapters implement this contract; a page
// of your own that implements it can be tested in the same way.
//
// The methods of [Page] act on adapter 0, the first adapter the page
// registered; [Page.Adapter] selects another one. MapLibre maps are moved with
// jumpTo and fitBounds and are idle once !isMoving() && loaded() and one
// 'idle' event has fired; Leaflet maps are moved with setView and fitBounds
// without animation and are idle two animation frames later.
//
// # Coordinates
//
// As everywhere in pushmap, longitude comes before latitude, in degrees, and
// zoom levels are slippy-map zoom levels. [Page.FitBox] takes a
// [geo.Box]; a box whose West is greater than its East crosses the
// antimeridian and is passed to the map with East+360.
//
// # The browser
//
// [Start] runs Chromium with --headless (unless [Options.Headful]),
// --no-sandbox, --disable-gpu, --disable-quic, --no-first-run,
// --disable-background-networking, --disable-component-update,
// --disable-sync, chromedp's other defaults (such as --disable-dev-shm-usage)
// and a fresh temporary --user-data-dir that [Browser.Close] removes. Each
// page gets an exact viewport of [Options.Width] × [Options.Height] CSS
// pixels (default 1024×640) through device-metrics emulation, so screenshots
// have the same size on every machine. WebGL works headless with
// --disable-gpu through SwiftShader, which MapLibre needs.
//
// The package runs a native process, so under GOOS=js it holds only this
// documentation, and a wasm vet or build of ./... passes over it.
//
// # Environment
//
//   - PUSHMAP_CHROMIUM: the Chromium binary to run when [Options.ExecPath]
//     is empty. Otherwise /usr/bin/chromium, then chromium,
//     chromium-browser, google-chrome and google-chrome-stable on PATH.
//   - PUSHMAP_REQUIRE_BROWSER: when "1", [SkipIfNoBrowser] fails the test
//     instead of skipping it, so that CI never passes by skipping. pushmap's
//     make test sets it.
//   - PUSHMAP_ARTIFACTS: a directory that keeps screenshots and other files
//     a test writes through [ArtifactPath]; without it they go to the test's
//     temporary directory and are removed with it.
package e2e
