// leaflet-demo.js: the Leaflet demo page (leaflet.html), bundled with
// Leaflet by build.mjs (esbuild). Leaflet, the basemap as an L.geoJSON layer, the server's
// density tiles as an L.tileLayer when the client sees the 'density' layer,
// the pushmap client connected to /ws and the Leaflet adapter (markers, or
// clusters where the server sends them). URL parameters: see demo-stats.js
// demoParams (zoom in Leaflet's own levels).
// window.pushmapDemo = {map, client, adapter, stats}.
//
// Leaflet cannot re-fetch a single tile: when density tiles change, the whole
// density layer is reloaded, at most once a second (the adapter's
// tileRedrawMs), with a new ?v= so the browser does not reuse its images.

import * as L from 'leaflet';
import { load } from '@pushmap/client';
import { attachLeaflet } from '@pushmap/client/leaflet';
import { DEMO_COLORS, StatusPanel, assetURL, demoLegend, demoParams, markerPopup } from './demo-stats.js';

// Markers first, decoration second, as in demo.js: the client starts from
// the wasm the page preloaded and connects at once; the basemap (parsing
// and drawing its countries three times holds the main thread for a good
// part of a second) comes once the client's first snapshot is in, or after
// params.decorateMs without one. demo.decorated says which came first:
// 'snapshot' or 'timer'.
const params = demoParams();
const clientConnected = load({ wasmURL: assetURL('pushmap-wasm'), wasmExecURL: assetURL('wasm-exec') }).then((pushmap) => {
  const client = pushmap.connect(params.ws, { layers: params.layers, token: params.token, margin: 0.25, declutter: params.declutter });
  demo.client = client;
  panel.watch(client); // from its first event
  return client;
});
const panel = new StatusPanel(document.getElementById('status'));
panel.legend(demoLegend(params));

// The zoom buttons top right, as on the MapLibre page: the panel is top left.
const map = L.map('map', { preferCanvas: true, worldCopyJump: false, zoomControl: false }).setView([params.lat, params.lon], params.zoom);
L.control.zoom({ position: 'topright' }).addTo(map);
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution('Natural Earth');

// The basemap gets its own pane under the markers' overlay pane, whatever
// order the two finish loading in.
map.createPane('basemap').style.zIndex = '350';

// The density tiles: over the basemap, under the markers.
const DENSITY_LAYER = 'density';
let density = null;
if (params.layers.includes(DENSITY_LAYER)) {
  map.createPane('density').style.zIndex = '360';
  density = L.tileLayer(`/tiles/density/{z}/{x}/{y}.png?v={v}${params.token ? `&access_token=${encodeURIComponent(params.token)}` : ''}`, {
    pane: 'density',
    opacity: 0.6,
    maxNativeZoom: 14,
    v: 0,
    attribution: '',
  }).addTo(map);
}

const demo = { map, client: null, adapter: null, basemap: null, density, stats: panel.stats, params };
window.pushmapDemo = demo;

function addBasemap(why) {
  if (demo.basemapLoading) return;
  demo.basemapLoading = true;
  demo.decorated = why;
  fetch(assetURL('basemap'))
    .then((r) => {
      if (!r.ok) throw new Error(`basemap.json: HTTP ${r.status}`);
      return r.json();
    })
    .then((data) => {
      // Leaflet draws vector layers once, not on every copy of the world: add
      // the basemap three times, shifted by -360°, 0 and +360°, so a view
      // across the antimeridian shows land on both sides.
      const renderer = L.canvas({ pane: 'basemap' });
      demo.basemap = L.layerGroup(
        [-360, 0, 360].map((shift) =>
          L.geoJSON(data, {
            interactive: false,
            pane: 'basemap',
            renderer,
            coordsToLatLng: (c) => L.latLng(c[1], c[0] + shift),
            // basemap.json: countries, plus {kind: 'outline'} lines standing in
            // for the outline of countries marked outline: false (Antarctica).
            style: (f) =>
              f.properties.kind === 'outline'
                ? { color: '#9c9a8f', weight: 0.6, fill: false }
                : { stroke: f.properties.outline !== false, color: '#9c9a8f', weight: 0.6, fillColor: '#f3f0e7', fillOpacity: 1 },
          }),
        ),
      ).addTo(map);
    })
    .catch((err) => panel.error(err.message));
  addStreets();
}

// The streets the demo's vehicles drive on (streets.json: generated grids,
// the same the feed's vehicles follow), shown from zoom 11 on: minor
// streets white, major ones wider and yellow.
function addStreets() {
  fetch(assetURL('streets'))
    .then((r) => {
      if (!r.ok) throw new Error(`streets.json: HTTP ${r.status}`);
      return r.json();
    })
    .then((data) => {
      const renderer = L.canvas({ pane: 'basemap' });
      const width = (major) => Math.max(0.5, (major ? 2.2 : 1.2) * 1.6 ** (map.getZoom() - 13));
      const streets = L.geoJSON(data, {
        interactive: false,
        pane: 'basemap',
        renderer,
        style: (f) => ({ color: f.properties.major ? '#fcd98b' : '#ffffff', weight: width(f.properties.major), lineCap: 'round' }),
      });
      demo.streets = streets;
      const show = () => {
        if (map.getZoom() >= 11) {
          streets.setStyle((f) => ({ weight: width(f.properties.major) }));
          if (!map.hasLayer(streets)) streets.addTo(map);
        } else if (map.hasLayer(streets)) streets.remove();
      };
      map.on('zoomend', show);
      show();
    })
    .catch((err) => panel.error(err.message));
}
const basemapTimer = setTimeout(() => addBasemap('timer'), params.decorateMs);

try {
  const client = await clientConnected;
  const tileLayers = {};
  if (density) {
    tileLayers[DENSITY_LAYER] = {
      redraw() {
        density.options.v++;
        density.redraw();
      },
    };
  }
  // A popup with the marker's props on click; clusters zoom in on click
  // (the adapter's default).
  const adapter = attachLeaflet(map, client, L, {
    colors: DEMO_COLORS,
    tileLayers,
    tileRedrawMs: params.densityMs, // the whole density layer, at most every 5 s
    motion: params.motion,
    onMarkerClick: (m, e) => L.popup({ closeButton: false, maxWidth: 260 }).setLatLng(e.latlng).setContent(markerPopup(m)).openOn(map),
  });
  panel.useAdapter(adapter);
  client.on('ready', () => {
    // Two frames: the adapter draws the snapshot first.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      clearTimeout(basemapTimer);
      addBasemap('snapshot');
    }));
  });
  demo.adapter = adapter;
} catch (err) {
  panel.error(`pushmap: ${err.message}`);
  console.error(err);
}
