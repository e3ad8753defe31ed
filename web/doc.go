// Package web serves pushmap's browser side: the JavaScript API of the
// WebAssembly client, the map adapters and the demo pages.
//
// # What the directory holds
//
// The Go package is one file, static.go: [Handler] serves a directory of
// static files, choosing a precompressed variant (X.br, X.gz) when the
// browser accepts it. The rest of web/ is the front end, plain ES modules
// with no bundler:
//
//   - pushmap.js, pushmap.d.ts: the public JS API. load() starts
//     pushmap.wasm (the Go client, GOOS=js GOARCH=wasm) with wasm_exec.js,
//     connect() returns a Client with on/off events, setView, setLayers,
//     markers, clusters, status and close.
//   - adapters/maplibre.js, adapters/leaflet.js (+ .d.ts): keep a MapLibre GL
//     or Leaflet map in step with a Client — its markers, or the clusters
//     the server sends for a view over its budget — push the map's view to
//     it and re-fetch the tiles of tile layers the server says changed
//     (MapLibre: just those tiles; Leaflet: the whole layer, at most once a
//     second). Each registers itself on globalThis.__pushmapAdapters, where
//     the end-to-end test helpers find the map.
//   - index.html + demo.js (MapLibre) and leaflet.html + leaflet-demo.js
//     (Leaflet): demo pages over an offline basemap and the server's live
//     density tiles (/tiles/density/{z}/{x}/{y}.png), with a status panel
//     (demo-stats.js, demo.css).
//   - build.mjs, package.json, package-lock.json: the asset build.
//
// # Building dist/
//
// web/dist/ is build output and is not committed (nor is node_modules/):
//
//	cd web && npm ci && node build.mjs
//	GOOS=js GOARCH=wasm go build -o web/dist/pushmap.wasm ./wasmclient/cmd/pushmap-wasm
//	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" web/dist/
//	cd web && node build.mjs compress
//
// `node build.mjs` copies maplibre-gl's ES module, its worker and CSS and
// Leaflet's script and CSS into dist/vendor/, converts the world-atlas
// countries into dist/basemap.json (GeoJSON whose rings crossing the
// antimeridian are mended, so maps draw no false land bands) and copies the
// page sources. `node build.mjs compress` writes .br and .gz variants of
// dist/'s larger files, the wasm among them; `node build.mjs all` does both.
// The pages must be served over http(s): MapLibre starts its worker relative
// to its module's URL.
//
// Serve the result with, for example:
//
//	http.Handle("/", web.Handler(os.DirFS("web/dist")))
package web
