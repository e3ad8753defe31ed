// demo.js: the MapLibre demo page (index.html). It uses the library as an
// application would, through the package's name; build.mjs bundles it with
// esbuild. A full-window map over an offline basemap (basemap.json, made by
// build.mjs), the server's live
// density tiles (/tiles/density/{z}/{x}/{y}.png) when the client sees the
// 'density' layer, the pushmap client connected to /ws and the MapLibre
// adapter, which draws markers, or clusters where the server sends them, and
// re-fetches just the density tiles the server says changed. URL parameters:
// see demo-stats.js demoParams. window.pushmapDemo = {map, client, adapter,
// stats}.

import { load } from '@pushmap/client';
import { attachMapLibre } from '@pushmap/client/maplibre';
import { DEMO_COLORS, StatusPanel, assetURL, demoLegend, demoParams, markerPopup, viewAround } from './demo-stats.js';

// Markers first, decoration second; the order is what makes the first
// marker early (BenchmarkFirstMarker; docs/design.md "First marker before
// decoration" has the timeline):
//  1. The page preloaded the wasm and wasm_exec.js before anything else:
//     start the client with those very URLs, connect at once and ask for
//     the view the map will have (viewAround), before any map exists.
//  2. At the same time MapLibre's module (preloaded too) and its workers
//     start: a worker fetches and compiles its own module off the main
//     thread, so the workers are ready to tile the markers by the time the
//     snapshot is there, not only after the map was made.
//  3. Give the handshake and the snapshot, a few short turns of the main
//     thread, up to START_WAIT_MS before the map is made: making it
//     (WebGL, shaders) holds the main thread for a few hundred ms.
//  4. The map, without a style (nothing drawn yet); then, once the workers
//     have answered a ping (workersReady, up to START_WAIT_MS), a style of
//     one background layer made at once (not a frame later), and the
//     adapter, which adds its sources with the markers the client already
//     holds in the same task.
//  5. Decoration once those are drawn (the map idle after the snapshot), or
//     after params.decorateMs: the basemap, whose countries cost a worker and
//     the main thread most of a second, the density tiles, and the map's
//     zoom buttons and attribution.
// Each step leaves a performance mark (pushmap:…); BenchmarkFirstMarker
// reads them for its breakdown.
const params = demoParams();
const panel = new StatusPanel(document.getElementById('status'));
panel.legend(demoLegend(params));
const demo = { map: null, client: null, adapter: null, stats: panel.stats, params };
window.pushmapDemo = demo;
const pushmapLoaded = load({ wasmURL: assetURL('pushmap-wasm'), wasmExecURL: assetURL('wasm-exec') });
let snapshotDrawn; // resolves once the client has its first snapshot
const snapshot = new Promise((resolve) => (snapshotDrawn = resolve));
const clientConnected = pushmapLoaded.then((pushmap) => {
  performance.mark('pushmap:loaded');
  const client = pushmap.connect(params.ws, { layers: params.layers, token: params.token, margin: 0.25, declutter: params.declutter });
  demo.client = client;
  panel.watch(client);
  const offOpen = client.on('status', (s) => {
    if (s?.state !== 'open') return;
    performance.mark('pushmap:open');
    offOpen();
  });
  client.on('ready', () => {
    performance.mark('pushmap:ready');
    snapshotDrawn();
  });
  // The view the map will have (MapLibre's 512-pixel tiles: zoom + 1 in
  // the protocol's), asked now: the snapshot arrives while MapLibre starts.
  const box = viewAround(params.lon, params.lat, params.zoom, innerWidth, innerHeight);
  client.setView(box, params.zoom + 1).catch(() => {}); // the adapter's own view follows
  return client;
});
clientConnected.catch(() => {}); // reported where it is awaited, below
// From the script's start: the snapshot comes about 0.3 s after it on an
// idle machine, the workers' answer a little later (docs/benchmarks.md has
// the breakdown); the default 600 ms (?startWaitMs=) leaves room for a busy
// one, and a page whose server does not answer still gets its map.
const START_WAIT_MS = params.startWaitMs;
const maplibreLoaded = import('maplibre-gl').then((maplibregl) => {
  maplibregl.setWorkerUrl(assetURL('maplibre-worker'));
  // Two workers: MapLibre's default is one, in which tiling the basemap's
  // countries would hold the markers' source back.
  maplibregl.setWorkerCount(2);
  maplibregl.prewarm(); // the workers now, not when the map is made
  performance.mark('pushmap:maplibre');
  return maplibregl;
});
// Resolves once both workers have answered a ping (true), or after
// START_WAIT_MS without an answer (false). A message posted to a worker
// that has not finished evaluating its module waits on the page's side
// until a main-thread task has seen it finish: the markers' source, sent
// in the task that made the map, waited behind the map's first frame,
// answered one frame later (docs/design.md, "First marker before
// decoration", sixth round). After the ping it goes straight to the worker.
const workersReady = maplibreLoaded.then((maplibregl) => maplibregl.getGlobalDispatcher().ping(START_WAIT_MS));
workersReady.then((answered) => answered && performance.mark('pushmap:workers'), () => {});
const startWaitOver = new Promise((later) => setTimeout(later, START_WAIT_MS));
await Promise.race([snapshot, startWaitOver]);
const maplibregl = await maplibreLoaded;

// The density tile layer of the server (pushmap --density-layer density),
// shown when the client subscribes to it (the default; see demoParams).
const DENSITY_LAYER = 'density';
const density = params.layers.includes(DENSITY_LAYER);

// No glyphs, no sprites, no remote URLs: nothing here needs the network.
// The density tiles come with the basemap (addDecoration). The map is
// made without a style and this layer added after (see below).
const OCEAN = { id: 'ocean', type: 'background', paint: { 'background-color': '#a9cce3' } };

// addDensity adds the density tile layer, drawn over the basemap and under
// the adapter's markers and clusters (under firstLayer of the adapter).
function addDensity(firstLayer) {
  if (!density || map.getSource('density')) return;
  map.addSource('density', {
    // 256-pixel tiles: the protocol's tile z/x/y is the source's.
    type: 'raster',
    // absolute, like basemap.json's URL; a server with client auth wants the
    // client's token on tiles too (an image request cannot set a header).
    tiles: [`${location.origin}/tiles/density/{z}/{x}/{y}.png${params.token ? `?access_token=${encodeURIComponent(params.token)}` : ''}`],
    tileSize: 256,
    maxzoom: 14,
  });
  map.addLayer({ id: 'density', type: 'raster', source: 'density', paint: { 'raster-opacity': 0.6, 'raster-fade-duration': 0 } }, firstLayer);
}

// addBasemap adds the countries (basemap.json: countries, plus {kind:
// 'outline'} lines standing in for the outline of countries marked outline:
// false, Antarctica; see build.mjs) under everything but the ocean.
function addBasemap() {
  if (map.getSource('basemap')) return;
  map.addSource('basemap', { type: 'geojson', data: assetURL('basemap'), maxzoom: 8, tolerance: 0.5 });
  const below = map.getStyle().layers[1]?.id; // the layer above the ocean
  map.addLayer({ id: 'countries', type: 'fill', source: 'basemap', filter: ['!', ['has', 'kind']], paint: { 'fill-color': '#f3f0e7' } }, below);
  map.addLayer(
    { id: 'borders', type: 'line', source: 'basemap', filter: ['!=', ['get', 'outline'], false], paint: { 'line-color': '#9c9a8f', 'line-width': 0.6 } },
    below,
  );
  // The streets the demo's vehicles drive on (streets.json: generated grids,
  // the same the feed's vehicles follow), from city zoom on.
  map.addSource('streets', { type: 'geojson', data: assetURL('streets'), maxzoom: 14 });
  for (const [id, major, color, widths] of STREET_STYLES) {
    map.addLayer(
      {
        id,
        type: 'line',
        source: 'streets',
        minzoom: 9,
        filter: ['==', ['get', 'major'], major],
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: { 'line-color': color, 'line-width': ['interpolate', ['exponential', 1.6], ['zoom'], ...widths] },
      },
      below,
    );
  }
}

// [layer id, major, colour, [zoom, width px, ...]]: minor streets white,
// major ones wider and yellow, as on common street maps.
const STREET_STYLES = [
  ['streets-minor', false, '#ffffff', [9, 0.3, 12, 1.2, 16, 8]],
  ['streets-major', true, '#fcd98b', [9, 0.6, 12, 2.2, 16, 12]],
];

// No style option: new Map({style}) loads even a style object only at the
// next animation frame, and the markers' source would reach the worker
// after it; MapLibre makes an empty style at once when a layer is added to
// a map without one (below, with the adapter's sources right after).
const map = new maplibregl.Map({
  container: 'map',
  center: [params.lon, params.lat],
  zoom: params.zoom,
  renderWorldCopies: true,
  // The controls and the attribution come with the decoration: making them
  // here held the main thread ~25 ms before the markers' source was sent
  // (BenchmarkFirstMarker's "style loaded" step).
  attributionControl: false,
  fadeDuration: 0, // labels and headings shown at once, not faded in
});
performance.mark('pushmap:map');
map.once('style.load', () => performance.mark('pushmap:style'));
map.once('render', () => performance.mark('pushmap:first-frame'));

// A server without density tiles answers 404: say so once, quietly. Other
// map errors are logged as MapLibre would without a listener.
let densityWarned = false;
map.on('error', (e) => {
  if (e.sourceId === 'density') {
    if (!densityWarned) console.warn(`pushmap demo: density tiles unavailable: ${e.error?.message ?? e.error}`);
    densityWarned = true;
    return;
  }
  console.error(e.error ?? e);
});

demo.map = map;

// Decoration (the basemap and the density tiles) comes once the style is
// there and the first snapshot is drawn: the map idle after the snapshot
// (two frames after it, so that the adapter's diff is on its way), or
// after params.decorateMs whatever happens. (map.isStyleLoaded() would wait
// for every tile too: 'style.load' is the moment sources can be added.)
// demo.decorated says which came first: 'snapshot' or 'timer'.
let decorationDue = false;
let styleReady = false;
let firstAdapterLayer; // the adapter's lowest layer: density goes under it
function addDecoration() {
  if (!map.getContainer().querySelector('.maplibregl-ctrl')) {
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new maplibregl.AttributionControl({ compact: true, customAttribution: 'Natural Earth' }));
  }
  addDensity(firstAdapterLayer);
  addBasemap(); // under the density tiles: right above the ocean
}
const decorateNow = (why) => {
  if (decorationDue) return;
  decorationDue = true;
  demo.decorated = why;
  if (styleReady) addDecoration();
};
map.on('style.load', () => {
  styleReady = true;
  if (decorationDue) addDecoration();
});
const decorationTimer = setTimeout(() => decorateNow('timer'), params.decorateMs);
snapshot.then(() => {
  requestAnimationFrame(() => requestAnimationFrame(() => {
    map.once('idle', () => {
      clearTimeout(decorationTimer);
      decorateNow('snapshot');
    });
  }));
});

// The workers' start, seen by the main thread (workersReady): they mostly
// finish it while the map was being made, and a map without a style
// requests no frame meanwhile.
await Promise.race([workersReady, startWaitOver]);
// The style, now: an empty one plus the ocean ('style.load' fires here).
map.addLayer(OCEAN);

try {
  const client = await clientConnected;
  // A popup with the marker's props on click; clusters zoom in on click
  // (the adapter's default).
  const popup = new maplibregl.Popup({ closeButton: false, maxWidth: '260px' });
  const adapter = attachMapLibre(map, client, {
    colors: DEMO_COLORS,
    tileSources: density ? { [DENSITY_LAYER]: 'density' } : {},
    // Each density tile at most every 5 s (?densityMs=; 2 s did not halve
    // the layer's bytes on the default view, BenchmarkDemoDensity): it changes
    // with every move of the fleet, and a tile re-fetched every frame costs more
    // bytes than the markers' WebSocket.
    tileRefreshMs: params.densityMs,
    motion: params.motion,
    onMarkerClick: (m) => popup.setLngLat([m.lon, m.lat]).setHTML(markerPopup(m)).addTo(map),
  });
  firstAdapterLayer = adapter.clusterLayerId;
  map.on('sourcedata', function marked(e) {
    if (e.sourceId !== adapter.sourceId || e.sourceDataType !== 'metadata') return;
    performance.mark('pushmap:markers-in-worker');
    map.off('sourcedata', marked);
  });
  panel.useAdapter(adapter);
  demo.adapter = adapter;
} catch (err) {
  panel.error(`pushmap: ${err.message}`);
  console.error(err);
}
