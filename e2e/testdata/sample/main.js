// A page of a pushmap user, built by TestPackage with Vite against the
// packed @pushmap/client: the package and MapLibre as npm gives them.
import * as maplibregl from 'maplibre-gl';
import workerURL from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import 'maplibre-gl/dist/maplibre-gl.css';
import { load } from '@pushmap/client';
import { attachMapLibre } from '@pushmap/client/maplibre';

maplibregl.setWorkerUrl(workerURL);
const map = new maplibregl.Map({
  container: 'map',
  style: { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#dde6ee' } }] },
  center: [2.35, 48.85],
  zoom: 9,
});
// load() finds pushmap.wasm and wasm_exec.js itself: Vite emitted them as
// assets of the build.
const pushmap = await load();
const client = pushmap.connect('/ws', { layers: ['vehicles'] });
attachMapLibre(map, client, { colors: { vehicles: '#c92a2a' } });
