// demo.js: the MapLibre demo page (index.html). A full-window map over an
// offline basemap (basemap.json, made by build.mjs), the pushmap client
// connected to /ws and the MapLibre adapter. URL parameters: see
// demo-stats.js demoParams. window.pushmapDemo = {map, client, adapter, stats}.

import * as maplibregl from './vendor/maplibre-gl.mjs';
import { load } from './pushmap.js';
import { attachMapLibre } from './adapters/maplibre.js';
import { StatusPanel, demoParams } from './demo-stats.js';

const params = demoParams();
const panel = new StatusPanel(document.getElementById('status'));

// No glyphs, no sprites, no remote URLs: nothing here needs the network.
const style = {
  version: 8,
  sources: {
    basemap: { type: 'geojson', data: new URL('basemap.json', import.meta.url).href, maxzoom: 8, tolerance: 0.5 },
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

const map = new maplibregl.Map({
  container: 'map',
  style,
  center: [params.lon, params.lat],
  zoom: params.zoom,
  renderWorldCopies: true,
  attributionControl: { compact: true, customAttribution: 'Natural Earth' },
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');

const demo = { map, client: null, adapter: null, stats: panel.stats, params };
window.pushmapDemo = demo;

try {
  const pushmap = await load();
  const client = pushmap.connect(params.ws, { layers: params.layers, token: params.token });
  const adapter = attachMapLibre(map, client);
  panel.watch(client, adapter);
  Object.assign(demo, { client, adapter });
} catch (err) {
  panel.error(`pushmap: ${err.message}`);
  console.error(err);
}
