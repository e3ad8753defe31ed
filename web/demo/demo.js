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

import * as maplibregl from 'maplibre-gl';
import { load } from '@pushmap/client';
import { attachMapLibre } from '@pushmap/client/maplibre';
import { DEMO_COLORS, StatusPanel, assetURL, demoParams } from './demo-stats.js';

// The wasm and wasm_exec.js were preloaded by the page (index.html) before
// anything else: start the client with those very URLs.
const pushmapLoaded = load({ wasmURL: assetURL('pushmap-wasm'), wasmExecURL: assetURL('wasm-exec') });
maplibregl.setWorkerUrl(assetURL('maplibre-worker'));

const params = demoParams();
const panel = new StatusPanel(document.getElementById('status'));

// The density tile layer of the server (pushmap --density-layer density),
// shown when the client subscribes to it (the default; see demoParams).
const DENSITY_LAYER = 'density';
const density = params.layers.includes(DENSITY_LAYER);

// No glyphs, no sprites, no remote URLs: nothing here needs the network.
const style = {
  version: 8,
  sources: {
    basemap: { type: 'geojson', data: assetURL('basemap'), maxzoom: 8, tolerance: 0.5 },
  },
  layers: [
    { id: 'ocean', type: 'background', paint: { 'background-color': '#a9cce3' } },
    // basemap.json: countries, plus {kind: 'outline'} lines standing in for the
    // outline of countries marked outline: false (Antarctica), see build.mjs.
    { id: 'countries', type: 'fill', source: 'basemap', filter: ['!', ['has', 'kind']], paint: { 'fill-color': '#f3f0e7' } },
    {
      id: 'borders',
      type: 'line',
      source: 'basemap',
      filter: ['!=', ['get', 'outline'], false],
      paint: { 'line-color': '#9c9a8f', 'line-width': 0.6 },
    },
  ],
};
if (density) {
  // 256-pixel tiles: the protocol's tile z/x/y is the source's. Drawn over
  // the basemap and under the adapter's markers and clusters (added later).
  style.sources.density = {
    type: 'raster',
    // absolute, like basemap.json's URL; a server with client auth wants the
    // client's token on tiles too (an image request cannot set a header).
    tiles: [`${location.origin}/tiles/density/{z}/{x}/{y}.png${params.token ? `?access_token=${encodeURIComponent(params.token)}` : ''}`],
    tileSize: 256,
    maxzoom: 14,
  };
  style.layers.push({ id: 'density', type: 'raster', source: 'density', paint: { 'raster-opacity': 0.6, 'raster-fade-duration': 0 } });
}

const map = new maplibregl.Map({
  container: 'map',
  style,
  center: [params.lon, params.lat],
  zoom: params.zoom,
  renderWorldCopies: true,
  attributionControl: { compact: true, customAttribution: 'Natural Earth' },
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');

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

const demo = { map, client: null, adapter: null, stats: panel.stats, params };
window.pushmapDemo = demo;

try {
  const pushmap = await pushmapLoaded;
  const client = pushmap.connect(params.ws, { layers: params.layers, token: params.token, margin: 0.25 });
  const adapter = attachMapLibre(map, client, { colors: DEMO_COLORS, tileSources: density ? { [DENSITY_LAYER]: 'density' } : {} });
  panel.watch(client, adapter);
  Object.assign(demo, { client, adapter });
} catch (err) {
  panel.error(`pushmap: ${err.message}`);
  console.error(err);
}
