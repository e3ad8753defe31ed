// Tests of the map adapters against stand-ins for a Client, a MapLibre map
// and Leaflet. Run: cd web && node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { attachMapLibre } from '../adapters/maplibre.js';
import { attachLeaflet } from '../adapters/leaflet.js';

const frame = () => new Promise((r) => setTimeout(r, 40)); // > one adapter frame (16 ms timers in Node)

// A Client stand-in: emit() plays the wasm's onEvent, `held` is its cache.
class StubClient {
  listeners = new Map();
  held = new Map();
  views = [];
  status = 'open';
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }
  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }
  emit(type, p) {
    for (const fn of this.listeners.get(type) ?? []) fn(p);
  }
  changes({ reset = false, added = [], updated = [], removed = [] }) {
    if (reset) this.held.clear();
    for (const m of [...added, ...updated]) this.held.set(m.id, m);
    for (const id of removed) this.held.delete(id);
    this.emit('changes', { reset, added, updated, removed, bytes: 10 });
  }
  setView(bbox, zoom) {
    this.views.push({ bbox, zoom });
    return Promise.resolve();
  }
  markers() {
    return [...this.held.values()];
  }
}

const marker = (id, lon, lat, version = 1, layer = 'flights', props = {}) => ({ id, layer, lon, lat, version, time: 0, props });

class StubSource {
  features = new Map();
  diffs = [];
  constructor(spec) {
    this.spec = spec;
  }
  updateData(diff) {
    this.diffs.push(structuredClone(diff));
    if (diff.removeAll) this.features.clear();
    for (const id of diff.remove ?? []) this.features.delete(id);
    for (const f of diff.add ?? []) this.features.set(f.properties.id, structuredClone(f));
    for (const u of diff.update ?? []) {
      const f = this.features.get(u.id);
      if (!f) continue;
      if (u.newGeometry) f.geometry = u.newGeometry;
      for (const k of u.removeProperties ?? []) delete f.properties[k];
      for (const { key, value } of u.addOrUpdateProperties ?? []) f.properties[key] = value;
    }
    return Promise.resolve();
  }
  setData() {
    throw new Error('setData must not be called');
  }
}

class StubMapLibre {
  handlers = new Map();
  sources = new Map();
  layers = new Map();
  refreshed = [];
  style = { _loaded: true };
  bounds = [-10, 35, 30, 60];
  zoom = 4;
  on(t, f) {
    if (!this.handlers.has(t)) this.handlers.set(t, new Set());
    this.handlers.get(t).add(f);
  }
  off(t, f) {
    this.handlers.get(t)?.delete(f);
  }
  fire(t) {
    for (const f of this.handlers.get(t) ?? []) f({});
  }
  getBounds() {
    const [w, s, e, n] = this.bounds;
    return { getWest: () => w, getSouth: () => s, getEast: () => e, getNorth: () => n };
  }
  getZoom() {
    return this.zoom;
  }
  addSource(id, spec) {
    if (!this.style._loaded) throw new Error('Style is not done loading.');
    this.sources.set(id, new StubSource(spec));
  }
  getSource(id) {
    return this.sources.get(id);
  }
  removeSource(id) {
    this.sources.delete(id);
  }
  addLayer(l) {
    this.layers.set(l.id, l);
  }
  getLayer(id) {
    return this.layers.get(id);
  }
  removeLayer(id) {
    this.layers.delete(id);
  }
  refreshTiles(src, tiles) {
    this.refreshed.push({ src, tiles });
  }
  queryRenderedFeatures({ layers }) {
    const src = this.sources.get(this.layers.get(layers[0]).source);
    const fs = [...src.features.values()];
    return [...fs, ...fs]; // world copies render a feature twice
  }
}

test('attachMapLibre keeps the source in step with one diff per frame', async (t) => {
  const map = new StubMapLibre();
  map.bounds = [170, -10, 190, 10]; // as getBounds reports a wrapped world
  const client = new StubClient();
  client.held.set('pre', marker('pre', 1, 1)); // held before attaching
  const a = attachMapLibre(map, client, { tileSources: { density: 'density-src' } });
  t.after(() => a.detach());

  assert.equal(a.kind, 'maplibre');
  assert.ok(globalThis.__pushmapAdapters.includes(a));
  const src = map.getSource('pushmap');
  assert.equal(src.spec.promoteId, 'id');
  assert.deepEqual(src.spec.data, { type: 'FeatureCollection', features: [] });
  assert.ok(map.getLayer('pushmap-markers'));
  assert.deepEqual(client.views[0], { bbox: [170, -10, -170, 10], zoom: 5 }); // MapLibre zoom 4 is slippy-map zoom 5

  await frame();
  assert.deepEqual([...src.features.keys()], ['pre'], 'markers held before attach are shown');

  // 100 frames of the client: one updateData.
  const before = src.diffs.length;
  client.changes({ added: [marker('a', 175, 0), marker('b', -175, 1, 1, 'vehicles', { speed: 3 })] });
  for (let v = 2; v <= 101; v++) client.changes({ updated: [marker('a', 175 + v / 100, 0, v)] });
  client.changes({ removed: ['pre'] });
  await frame();
  assert.equal(src.diffs.length - before, 1);
  const d = src.diffs.at(-1);
  assert.deepEqual(d.remove, ['pre']);
  assert.deepEqual(d.add.map((f) => f.properties.id).sort(), ['a', 'b']);
  assert.equal(src.features.get('a').properties.version, 101);
  assert.deepEqual(src.features.get('a').geometry.coordinates, [176.01, 0]);
  assert.equal(src.features.get('b').properties.speed, 3);
  assert.equal(src.features.get('b').properties.layer, 'vehicles');

  // An update of a shown marker is an update diff; dropped props go.
  client.changes({ updated: [marker('b', -174, 1, 2, 'vehicles', { heading: 90 })] });
  await frame();
  const u = src.diffs.at(-1);
  assert.equal(u.add, undefined);
  assert.equal(u.update[0].id, 'b');
  assert.deepEqual(src.features.get('b').geometry.coordinates, [-174, 1]);
  assert.equal(src.features.get('b').properties.heading, 90);
  assert.equal('speed' in src.features.get('b').properties, false);

  // Reset: removeAll, then the snapshot.
  client.changes({ reset: true, added: [marker('c', 0, 0)] });
  await frame();
  assert.equal(src.diffs.at(-1).removeAll, true);
  assert.deepEqual([...src.features.keys()], ['c']);

  // A view change drops markers in the client without a 'changes' event:
  // the adapter reconciles after the server acknowledged the moveend view.
  client.held.clear();
  client.held.set('d', marker('d', 5, 5));
  map.bounds = [0, 0, 10, 10];
  map.fire('moveend');
  await frame();
  assert.deepEqual([...src.features.keys()], ['d']);
  assert.deepEqual(client.views.at(-1).bbox, [0, 0, 10, 10]);

  // 'move' pushes the view too.
  const nViews = client.views.length;
  map.fire('move');
  assert.equal(client.views.length, nViews + 1);

  // shownMarkers: one per id.
  assert.deepEqual(a.shownMarkers(), [{ id: 'd', layer: 'flights', lon: 5, lat: 5 }]);

  // Tiles: coalesced per frame, only for registered layers.
  client.emit('tile', { layer: 'density', z: 3, x: 1, y: 2, version: 1 });
  client.emit('tile', { layer: 'density', z: 3, x: 1, y: 2, version: 2 });
  client.emit('tile', { layer: 'density', z: 3, x: 2, y: 2, version: 1 });
  client.emit('tile', { layer: 'other', z: 3, x: 2, y: 2, version: 1 });
  map.sources.set('density-src', new StubSource({}));
  await frame();
  assert.deepEqual(map.refreshed, [{ src: 'density-src', tiles: [{ x: 1, y: 2, z: 3 }, { x: 2, y: 2, z: 3 }] }]);
});

test('attachMapLibre waits for the style and detaches cleanly', async () => {
  const map = new StubMapLibre();
  map.style._loaded = false;
  const client = new StubClient();
  const a = attachMapLibre(map, client, { sourceId: 'live', colors: { ships: '#00f' } });
  assert.equal(map.getSource('live'), undefined);
  client.changes({ added: [marker('x', 1, 1)] });
  await frame();
  map.style._loaded = true;
  map.fire('style.load');
  await frame();
  assert.deepEqual([...map.getSource('live').features.keys()], ['x']);
  const color = map.getLayer('live-markers').paint['circle-color'];
  assert.deepEqual(color.slice(0, 2), ['match', ['get', 'layer']]);
  assert.ok(color.includes('ships') && color.includes('flights'));

  a.detach();
  assert.equal(globalThis.__pushmapAdapters.includes(a), false);
  assert.equal(map.getSource('live'), undefined);
  assert.equal(map.getLayer('live-markers'), undefined);
  assert.equal(client.listeners.get('changes').size, 0);
  const n = client.views.length;
  map.fire('moveend');
  assert.equal(client.views.length, n);
});

// --- Leaflet ---

function stubLeaflet() {
  const L = {
    canvas: () => ({ kind: 'canvas' }),
    layerGroup() {
      const layers = new Set();
      return {
        addTo(map) {
          map.groups.add(this);
          return this;
        },
        remove() {
          layers.clear();
        },
        addLayer: (l) => layers.add(l),
        removeLayer: (l) => layers.delete(l),
        clearLayers: () => layers.clear(),
        getLayers: () => [...layers],
      };
    },
    circleMarker(ll, options) {
      let latlng = { lat: ll[0], lng: ll[1] };
      return {
        options: { ...options },
        getLatLng: () => latlng,
        setLatLng(x) {
          latlng = { lat: x[0], lng: x[1] };
          return this;
        },
        setStyle(s) {
          Object.assign(this.options, s);
          return this;
        },
      };
    },
  };
  return L;
}

class StubLeafletMap extends StubMapLibre {
  groups = new Set();
  center = { lat: 0, lng: 0 };
  getCenter() {
    return this.center;
  }
  getBounds() {
    const b = super.getBounds();
    const [w, s, e, n] = this.bounds;
    b.contains = (ll) => ll.lat >= s && ll.lat <= n && ll.lng >= w && ll.lng <= e;
    return b;
  }
}

test('attachLeaflet keeps circle markers in step, on the world copy in view', async (t) => {
  const L = stubLeaflet();
  const map = new StubLeafletMap();
  map.bounds = [150, -20, 210, 20]; // across the antimeridian, unwrapped
  map.center = { lat: 0, lng: 180 };
  map.zoom = 5;
  const client = new StubClient();
  const a = attachLeaflet(map, client, L, { colors: { flights: '#f00' } });
  t.after(() => a.detach());
  assert.equal(a.kind, 'leaflet');
  assert.ok(globalThis.__pushmapAdapters.includes(a));
  assert.deepEqual(client.views[0], { bbox: [150, -20, -150, 20], zoom: 5 });

  client.changes({ added: [marker('e', 170, 0), marker('w', -170, 0, 1, 'vehicles')] });
  await frame();
  const group = a.layerGroup;
  assert.equal(group.getLayers().length, 2);
  const byId = new Map(group.getLayers().map((c) => [c.pushmapId, c]));
  assert.equal(byId.get('w').getLatLng().lng, 190, 'drawn east of 180, next to the view');
  assert.equal(byId.get('e').options.fillColor, '#f00');

  const circle = byId.get('e');
  client.changes({ updated: [marker('e', 171, 1, 2)] });
  client.changes({ removed: ['w'] });
  await frame();
  assert.equal(group.getLayers().length, 1);
  assert.equal(group.getLayers()[0], circle, 'a move is a setLatLng of the same marker');
  assert.deepEqual(circle.getLatLng(), { lat: 1, lng: 171 });
  assert.deepEqual(a.shownMarkers(), [{ id: 'e', layer: 'flights', lon: 171, lat: 1 }]);

  // Panning to the other side re-wraps; silent drops are reconciled.
  client.held.set('w2', marker('w2', -120, 0));
  map.center = { lat: 0, lng: -150 };
  map.bounds = [-180, -20, -120, 20];
  map.fire('moveend');
  await frame();
  assert.equal(circle.getLatLng().lng, 171 - 360);
  assert.deepEqual(group.getLayers().map((c) => c.pushmapId).sort(), ['e', 'w2']);

  client.changes({ reset: true, added: [] });
  await frame();
  assert.equal(group.getLayers().length, 0);
});
