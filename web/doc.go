// Package web serves pushmap's browser side: the npm package of the
// WebAssembly client's JavaScript API and map adapters, and the demo pages.
//
// # What the directory holds
//
// The Go package is one file, static.go: [Handler] serves a directory of
// static files, choosing a precompressed variant (X.br, X.gz) when the
// browser accepts it, and marking content-hashed names immutable. The rest
// of web/ is the front end:
//
//   - lib/: the npm package @pushmap/client (package.json, exports map,
//     `npm pack` ships only lib/). lib/pushmap.js is the JS API: load()
//     starts pushmap.wasm (the Go client, GOOS=js GOARCH=wasm) with
//     wasm_exec.js, both next to it (`make wasm` puts them there; they are
//     not committed); connect() returns a Client with on/off events,
//     setView, setLayers, markers, clusters, status and close.
//     lib/adapters/maplibre.js and lib/adapters/leaflet.js keep a MapLibre GL
//     or Leaflet map in step with a Client — its markers, or the clusters
//     the server sends for a view over its budget — push the map's view to
//     it and re-fetch the tiles of tile layers the server says changed
//     (MapLibre: just those tiles; Leaflet: the whole layer, at most once a
//     second). They know no layer names: colours are an option. They
//     register on globalThis.__pushmapAdapters, the end-to-end harness's
//     hook, only when a test defined that array. lib/types/ holds the
//     typings, apart from the JavaScript so that `tsc --checkJs` checks the
//     one against the other (test/tsconfig.json, `make test-js`).
//   - demo/: the demo pages, written as an application would be (importing
//     @pushmap/client by name): index.html + demo.js (MapLibre) and
//     leaflet.html + leaflet-demo.js (Leaflet), over an offline basemap and
//     the server's live density tiles, with a status panel (demo-stats.js,
//     demo.css).
//   - build.mjs: builds the demo into dist/ (below).
//   - test/: the package's unit tests (node --test) and typing checks.
//   - package.json, package-lock.json: the package, and what the demo and
//     tests develop with (maplibre-gl, leaflet, esbuild, vite, typescript).
//     An override pins @mapbox/jsonlint-lines-primitives, a dependency of
//     MapLibre's style-spec tools, to 2.0.2: 2.0.3 only raised its engines
//     field to Node 22, which made `npm ci` warn on Node 20; the browser
//     build of MapLibre does not contain it.
//
// # Building dist/
//
// web/dist/ is build output and is not committed (nor is node_modules/):
//
//	make web
//
// runs `npm ci` when package-lock.json changed, `make wasm` when a Go source
// of the client changed, and `node build.mjs all` when any of those or web/'s
// sources did. build.mjs bundles each demo page's script with esbuild,
// copies MapLibre (module, worker, CSS) and Leaflet's CSS, converts the
// world-atlas countries into basemap.json (GeoJSON whose rings crossing the
// antimeridian are mended, so maps draw no false land bands), names every
// one of these files by its content's SHA-256 (name.<12 hex digits>.ext),
// writes manifest.json and the two pages with those names, and precompresses
// (.br, .gz) the larger files. The pages preload the wasm and wasm_exec.js
// before the map library. They must be served over http(s): MapLibre starts
// a worker.
//
// Serve the result with, for example:
//
//	http.Handle("/", web.Handler(os.DirFS("web/dist")))
package web
