// Tests of the map adapters against stand-ins for a Client, a MapLibre map
// and Leaflet. Run: cd web && node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { attachMapLibre, sourceZoom } from '../lib/adapters/maplibre.js';
import { attachLeaflet } from '../lib/adapters/leaflet.js';
import { Glide, clusterRadius, countLabel, screenDistance, sourceTiles, tileBounds } from '../lib/adapters/sync.js';

const frame = () => new Promise((r) => setTimeout(r, 40)); // > one adapter frame (16 ms timers in Node)

// The e2e test hook, off by default: the tests below turn it on as the e2e
// harness does, by defining the array before any adapter is attached.
globalThis.__pushmapAdapters = [];

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
  // clusters plays a 'clusters' event, keeping heldClusters as the wasm client does.
  heldClusters = new Map();
  clustersEvent({ reset = false, clusters = [] }) {
    if (reset) this.heldClusters.clear();
    for (const c of clusters) {
      const key = `${c.view}/${c.id}`;
      if (c.count > 0) this.heldClusters.set(key, c);
      else this.heldClusters.delete(key);
    }
    this.emit('clusters', { reset, clusters });
  }
  setView(bbox, zoom) {
    this.views.push({ bbox, zoom });
    return Promise.resolve();
  }
  markers() {
    return [...this.held.values()];
  }
  clusters() {
    return [...this.heldClusters.values()];
  }
}

// cluster is a cluster of view 0 with id, at zoom 5, splitting at zoom 7.
const cluster = (id, count, lon = 1, lat = 1) => ({ key: `0/${id}`, view: 0, id, z: 5, count, lon, lat, expansionZoom: 7 });

const marker = (id, lon, lat, version = 1, layer = 'flights', props = {}) => ({ id, layer, lon, lat, version, time: 0, props });

class StubSource {
  features = new Map();
  diffs = [];
  constructor(spec) {
    this.spec = spec;
    // As MapLibre's source objects: type, tileSize, maxzoom (and roundZoom for rasters).
    for (const k of ['type', 'tileSize', 'maxzoom']) if (k in spec) this[k] = spec[k];
    if (spec.type === 'raster') this.roundZoom = true;
    for (const f of spec.data?.features ?? []) this.features.set(this.idOf(f), structuredClone(f));
  }
  // The feature id: promoteId's property, else the feature's id.
  idOf(f) {
    return this.spec.promoteId ? f.properties[this.spec.promoteId] : f.id;
  }
  updateData(diff) {
    this.diffs.push(structuredClone(diff));
    if (diff.removeAll) this.features.clear();
    for (const id of diff.remove ?? []) this.features.delete(id);
    for (const f of diff.add ?? []) this.features.set(this.idOf(f), structuredClone(f));
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
  images = new Map();
  fitted = [];
  eased = [];
  viewed = [];
  canvas = { style: { cursor: '' } };
  // on(type, fn) or, for a layer's events, on(type, layerId, fn).
  on(t, a, b) {
    const key = b ? `${t}:${a}` : t;
    if (!this.handlers.has(key)) this.handlers.set(key, new Set());
    this.handlers.get(key).add(b ?? a);
  }
  off(t, a, b) {
    this.handlers.get(b ? `${t}:${a}` : t)?.delete(b ?? a);
  }
  fire(t, ev = {}) {
    for (const f of this.handlers.get(t) ?? []) f(ev);
  }
  hasImage(id) {
    return this.images.has(id);
  }
  addImage(id, data, opts) {
    this.images.set(id, { data, opts });
  }
  getCanvas() {
    return this.canvas;
  }
  fitBounds(bounds, opts) {
    this.fitted.push({ bounds, opts });
  }
  easeTo({ center, zoom }) {
    this.eased.push({ center, zoom });
  }
  setView(center, zoom) {
    this.viewed.push({ center, zoom });
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
  order = []; // layer ids, bottom to top, as beforeId placed them
  addLayer(l, beforeId) {
    this.layers.set(l.id, l);
    const at = beforeId === undefined ? -1 : this.order.indexOf(beforeId);
    this.order.splice(at < 0 ? this.order.length : at, 0, l.id);
  }
  getLayer(id) {
    return this.layers.get(id);
  }
  removeLayer(id) {
    this.layers.delete(id);
    this.order = this.order.filter((l) => l !== id);
  }
  refreshTiles(src, tiles) {
    this.refreshed.push(tiles === undefined ? { src } : { src, tiles });
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
  // The markers held before attaching are the source's data from the
  // start: no empty source and a diff (one worker round trip fewer).
  assert.deepEqual(src.spec.data.features.map((f) => f.properties.id), ['pre']);
  assert.ok(map.getLayer('pushmap-markers'));
  assert.deepEqual(client.views[0], { bbox: [170, -10, -170, 10], zoom: 5 }); // MapLibre zoom 4 is slippy-map zoom 5

  await frame();
  assert.deepEqual([...src.features.keys()], ['pre'], 'markers held before attach are shown');
  assert.deepEqual(src.diffs, [], 'nothing to send after the initial data');

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
  map.sources.set('density-src', new StubSource({ type: 'raster', tileSize: 256, maxzoom: 14 }));
  map.zoom = 2; // slippy zoom 3: the raster source shows z3 tiles
  await frame();
  assert.deepEqual(map.refreshed, [{ src: 'density-src', tiles: [{ x: 1, y: 2, z: 3 }, { x: 2, y: 2, z: 3 }] }]);
});

test('attachMapLibre draws clusters from their own source, incrementally', async (t) => {
  const map = new StubMapLibre();
  const client = new StubClient();
  client.heldClusters.set('0/511', cluster(511, 4)); // held before attaching
  const a = attachMapLibre(map, client);
  t.after(() => a.detach());
  assert.equal(a.clusterSourceId, 'pushmap-clusters');
  const src = map.getSource('pushmap-clusters');
  assert.equal(src.spec.promoteId, 'key');
  const layer = map.getLayer('pushmap-clusters');
  assert.equal(layer.source, 'pushmap-clusters');
  assert.equal(layer.type, 'circle');
  assert.notEqual(layer.paint['circle-color'], map.getLayer('pushmap-markers').paint['circle-color']);
  assert.deepEqual(layer.paint['circle-radius'].slice(0, 3), ['interpolate', ['linear'], ['sqrt', ['max', ['get', 'count'], 1]]]);
  const layerIds = [...map.layers.keys()];
  assert.ok(layerIds.indexOf('pushmap-clusters') < layerIds.indexOf('pushmap-markers'), 'clusters under markers');

  await frame();
  assert.deepEqual([...src.features.keys()], ['0/511']);
  assert.deepEqual(src.features.get('0/511').properties, { key: '0/511', view: 0, id: 511, z: 5, count: 4, lon: 1, lat: 1, expansionZoom: 7, label: '4' });

  // Many events in one frame: one diff with their net effect.
  const before = src.diffs.length;
  client.clustersEvent({ clusters: [cluster(521, 1), cluster(531, 1)] });
  client.clustersEvent({ clusters: [cluster(521, 2, 2.5, 1.5), cluster(531, 0)] });
  client.clustersEvent({ clusters: [cluster(511, 5)] });
  await frame();
  assert.equal(src.diffs.length - before, 1);
  let d = src.diffs.at(-1);
  assert.equal(d.removeAll, undefined);
  assert.equal(d.remove, undefined, 'a cluster added and removed within a frame never reaches the map');
  assert.deepEqual(d.add.map((f) => f.properties.key), ['0/521']);
  assert.deepEqual(d.update.map((u) => u.id), ['0/511']);
  assert.equal(src.features.get('0/511').properties.count, 5);
  assert.deepEqual(src.features.get('0/521').geometry.coordinates, [2.5, 1.5]);

  // A reset (the view moved) is diffed against what is shown.
  client.clustersEvent({ reset: true, clusters: [cluster(521, 2, 2.5, 1.5), cluster(541, 9)] });
  await frame();
  d = src.diffs.at(-1);
  assert.deepEqual(d.remove, ['0/511']);
  assert.deepEqual(d.add.map((f) => f.properties.key), ['0/541']);
  assert.deepEqual(d.update.map((u) => u.id), ['0/521'], 'a cluster in both sets is updated in place, not removed and added');
  assert.deepEqual([...src.features.keys()].sort(), ['0/521', '0/541']);

  // shownClusters: one per key although world copies render twice.
  assert.deepEqual(
    a.shownClusters().sort((x, y) => x.id - y.id),
    [
      { key: '0/521', view: 0, id: 521, z: 5, count: 2, lon: 2.5, lat: 1.5, expansionZoom: 7 },
      { key: '0/541', view: 0, id: 541, z: 5, count: 9, lon: 1, lat: 1, expansionZoom: 7 },
    ],
  );

  // Zoomed in: an empty reset drops every cluster.
  client.clustersEvent({ reset: true, clusters: [] });
  await frame();
  assert.equal(src.features.size, 0);
  assert.deepEqual(a.shownClusters(), []);

  // The style was replaced: both sources come back, rebuilt from the client.
  client.clustersEvent({ reset: true, clusters: [cluster(200, 100)] });
  await frame();
  map.sources.clear();
  map.layers.clear();
  map.fire('style.load');
  await frame();
  assert.deepEqual([...map.getSource('pushmap-clusters').features.keys()], ['0/200']);
  assert.ok(map.getLayer('pushmap-markers'));

  a.detach();
  assert.equal(map.getSource('pushmap-clusters'), undefined);
  assert.equal(map.getLayer('pushmap-clusters'), undefined);
  assert.equal(client.listeners.get('clusters').size, 0);
});

test('sourceTiles and sourceZoom map protocol tiles onto a source\'s tiles', () => {
  const raster = { type: 'raster', tileSize: 256, maxzoom: 14, roundZoom: true };
  const cases = [
    // [name, map zoom (MapLibre), source, want]
    ['raster 256 at an integer zoom: slippy zoom', 9, raster, 10],
    ['raster rounds up above .5', 9.6, raster, 11],
    ['raster rounds down below .5', 9.4, raster, 10],
    ['beyond maxzoom: maxzoom', 15, raster, 14],
    ['vector 512 floors', 9.6, { type: 'vector', tileSize: 512 }, 9],
    ['no tileSize: 512', 3.2, {}, 3],
    ['never below 0', 0, { type: 'vector', tileSize: 1024 }, 0],
  ];
  for (const [name, zoom, source, want] of cases) {
    assert.equal(sourceZoom({ getZoom: () => zoom }, source), want, name);
  }

  assert.deepEqual(sourceTiles({ z: 10, x: 518, y: 352 }, 10), [{ x: 518, y: 352, z: 10 }], 'same zoom');
  assert.deepEqual(
    sourceTiles({ z: 10, x: 518, y: 352 }, 11),
    [
      { x: 1036, y: 704, z: 11 },
      { x: 1037, y: 704, z: 11 },
      { x: 1036, y: 705, z: 11 },
      { x: 1037, y: 705, z: 11 },
    ],
    'children',
  );
  assert.deepEqual(sourceTiles({ z: 16, x: 33196, y: 22546 }, 14), [{ x: 8299, y: 5636, z: 14 }], 'ancestor');
  assert.equal(sourceTiles({ z: 2, x: 1, y: 1 }, 6), null, 'four levels: too many');
  assert.equal(sourceTiles({ z: 2, x: 1, y: 1 }, 5).length, 64);
});

test('attachMapLibre refreshes the tiles a source shows', async (t) => {
  const map = new StubMapLibre();
  const client = new StubClient();
  const a = attachMapLibre(map, client, { tileSources: { density: 'd' } });
  t.after(() => a.detach());
  map.sources.set('d', new StubSource({ type: 'raster', tileSize: 256, maxzoom: 14 }));

  // MapLibre zoom 9.6: the adapter sent slippy zoom 10.6, the server takes
  // it for 10 and sends z10 tiles, the raster source shows z11 ones.
  map.zoom = 9.6;
  client.emit('tile', { layer: 'density', z: 10, x: 518, y: 352, version: 3 });
  await frame();
  assert.deepEqual(map.refreshed.at(-1), {
    src: 'd',
    tiles: [
      { x: 1036, y: 704, z: 11 },
      { x: 1037, y: 704, z: 11 },
      { x: 1036, y: 705, z: 11 },
      { x: 1037, y: 705, z: 11 },
    ],
  });

  // Beyond the source's maxzoom: the z14 tile that is shown scaled up.
  map.zoom = 15;
  client.emit('tile', { layer: 'density', z: 16, x: 33196, y: 22546, version: 4 });
  client.emit('tile', { layer: 'density', z: 16, x: 33197, y: 22546, version: 4 });
  await frame();
  assert.deepEqual(map.refreshed.at(-1), { src: 'd', tiles: [{ x: 8299, y: 5636, z: 14 }] });

  // Far coarser than the source: refresh it all.
  map.zoom = 12;
  client.emit('tile', { layer: 'density', z: 3, x: 4, y: 2, version: 5 });
  await frame();
  assert.deepEqual(map.refreshed.at(-1), { src: 'd' });

  // A source the map does not have: nothing.
  const n = map.refreshed.length;
  map.sources.delete('d');
  client.emit('tile', { layer: 'density', z: 3, x: 4, y: 2, version: 6 });
  await frame();
  assert.equal(map.refreshed.length, n);
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
  assert.ok(color.includes('ships') && !color.includes('flights'), 'only the layers asked for: the adapters know no layer names');

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
    divIcon: (o) => o,
    marker(ll, options) {
      let latlng = { lat: ll[0], lng: ll[1] };
      return {
        options: { ...options },
        getLatLng: () => latlng,
        setLatLng(x) {
          latlng = { lat: x[0], lng: x[1] };
          return this;
        },
        setIcon(icon) {
          this.options.icon = icon;
          return this;
        },
        setOpacity(o) {
          this.options.opacity = o;
          return this;
        },
        getElement() {
          return { textContent: this.options.icon.html.replace(/<[^>]*>/g, '') };
        },
      };
    },
    circleMarker(ll, options) {
      let latlng = { lat: ll[0], lng: ll[1] };
      const handlers = new Map();
      return {
        options: { ...options },
        on(t, f) {
          handlers.set(t, f);
          return this;
        },
        fire(t, ev = {}) {
          handlers.get(t)?.(ev);
        },
        getLatLng: () => latlng,
        setLatLng(x) {
          latlng = { lat: x[0], lng: x[1] };
          return this;
        },
        setStyle(s) {
          Object.assign(this.options, s);
          return this;
        },
        setRadius(r) {
          this.options.radius = r;
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

test('attachLeaflet draws clusters in their own group and redraws tile layers at most once a second', async (t) => {
  const L = stubLeaflet();
  const map = new StubLeafletMap();
  map.bounds = [150, -60, 210, 60];
  map.center = { lat: 0, lng: 180 };
  const client = new StubClient();
  let redraws = 0;
  const a = attachLeaflet(map, client, L, { tileLayers: { density: { redraw: () => redraws++ } }, tileRedrawMs: 200 });
  t.after(() => a.detach());
  assert.notEqual(a.clusterGroup, a.layerGroup);

  client.clustersEvent({ reset: true, clusters: [cluster(373, 1, 170, 10), cluster(303, 10000, -170, 10)] });
  await frame();
  // The group holds the circles and, over them, the count labels.
  const byKey = () => new Map(a.clusterGroup.getLayers().filter((c) => c.pushmapKey).map((c) => [c.pushmapKey, c]));
  let cs = byKey();
  assert.deepEqual([...cs.keys()].sort(), ['0/303', '0/373']);
  assert.equal(a.layerGroup.getLayers().length, 0, 'no markers');
  assert.equal(cs.get('0/303').getLatLng().lng, 190, 'on the world copy in view');
  assert.equal(cs.get('0/373').options.radius, clusterRadius(1));
  assert.equal(cs.get('0/303').options.radius, clusterRadius(10000));
  assert.ok(clusterRadius(10000) > clusterRadius(100) && clusterRadius(100) > clusterRadius(1));
  assert.equal(clusterRadius(1), 4);
  assert.equal(clusterRadius(1e9), 18);

  const circle = cs.get('0/373');
  client.clustersEvent({ clusters: [cluster(373, 100, 171, 11), cluster(303, 0)] });
  await frame();
  cs = byKey();
  assert.deepEqual([...cs.keys()], ['0/373']);
  assert.equal(cs.get('0/373'), circle, 'a change is an update of the same circle');
  assert.equal(circle.options.radius, clusterRadius(100));
  assert.deepEqual(a.shownClusters(), [{ key: '0/373', view: 0, id: 373, z: 5, count: 100, lon: 171, lat: 11, expansionZoom: 7 }]);
  assert.deepEqual(a.shownClusterLabels(), [{ key: '0/373', label: '100' }], 'one label, following the count');
  map.bounds = [0, 0, 10, 10];
  assert.deepEqual(a.shownClusters(), [], 'outside the bounds');

  // Tile events: one redraw now, then at most one per tileRedrawMs.
  client.emit('tile', { layer: 'density', z: 3, x: 1, y: 1, version: 1 });
  client.emit('tile', { layer: 'density', z: 3, x: 2, y: 1, version: 1 });
  client.emit('tile', { layer: 'other', z: 3, x: 2, y: 1, version: 1 });
  await frame();
  assert.equal(redraws, 1);
  client.emit('tile', { layer: 'density', z: 3, x: 1, y: 1, version: 2 });
  client.emit('tile', { layer: 'density', z: 3, x: 1, y: 1, version: 3 });
  await frame();
  assert.equal(redraws, 1, 'not again within tileRedrawMs');
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(redraws, 2, 'the changes within tileRedrawMs are not lost');

  client.clustersEvent({ reset: true, clusters: [] });
  await frame();
  assert.equal(a.clusterGroup.getLayers().length, 0);
});

test('adapters register on globalThis.__pushmapAdapters only when a test turned the hook on', async (t) => {
  const saved = globalThis.__pushmapAdapters;
  t.after(() => (globalThis.__pushmapAdapters = saved));
  delete globalThis.__pushmapAdapters;
  const a = attachMapLibre(new StubMapLibre(), new StubClient());
  const b = attachLeaflet(new StubLeafletMap(), new StubClient(), stubLeaflet());
  assert.equal('__pushmapAdapters' in globalThis, false, 'no global without the hook');
  a.detach();
  b.detach();
  assert.equal('__pushmapAdapters' in globalThis, false);
});

test('marker colours are an option; without it every layer has one neutral colour', async (t) => {
  const map = new StubMapLibre();
  const a = attachMapLibre(map, new StubClient());
  t.after(() => a.detach());
  assert.equal(map.getLayer('pushmap-markers').paint['circle-color'], '#1c7ed6');
  const map2 = new StubMapLibre();
  const b = attachMapLibre(map2, new StubClient(), { colors: { trains: '#123456' }, defaultColor: '#abcdef' });
  t.after(() => b.detach());
  assert.deepEqual(map2.getLayer('pushmap-markers').paint['circle-color'], ['match', ['get', 'layer'], 'trains', '#123456', '#abcdef']);
});

test('countLabel and tileBounds', () => {
  const cases = [[0, '0'], [7, '7'], [999, '999'], [1000, '1k'], [1234, '1.2k'], [9999, '9.9k'], [12345, '12k'], [123456, '123k'], [999999, '999k'], [1e6, '1M'], [3456789, '3.4M']];
  for (const [n, want] of cases) assert.equal(countLabel(n), want, `countLabel(${n})`);
  assert.deepEqual(tileBounds({ z: 0, x: 0, y: 0 }).map((v) => Math.round(v * 1e4) / 1e4), [-180, -85.0511, 180, 85.0511]);
  assert.deepEqual(tileBounds({ z: 1, x: 1, y: 0 }).map((v) => Math.round(v * 1e4) / 1e4), [0, 0, 180, 85.0511]);
});

test('attachMapLibre labels clusters, zooms into a clicked one and calls the hooks', async (t) => {
  const map = new StubMapLibre();
  const client = new StubClient();
  const seen = [];
  const a = attachMapLibre(map, client, {
    onMarkerClick: (m) => seen.push(['click', m.id]),
    onMarkerHover: (m) => seen.push(['hover', m?.id ?? null]),
    onClusterClick: (c) => seen.push(['cluster', c.key]),
  });
  t.after(() => a.detach());
  // No symbol layer before a cluster is there: an empty one would cost
  // the first frames with markers their layout and placement.
  assert.deepEqual(map.order, ['pushmap-clusters', 'pushmap-markers']);

  client.clustersEvent({ reset: true, clusters: [cluster(51611, 1234, 2, 48)] });
  client.changes({ added: [marker('m1', 2, 48, 1, 'vehicles', { speed: 3 })] });
  await frame();
  const labels = map.getLayer('pushmap-cluster-labels');
  assert.equal(labels.type, 'symbol');
  assert.deepEqual(labels.layout['icon-image'], ['concat', 'pushmap-count:', ['get', 'label']]);
  assert.deepEqual(map.order, ['pushmap-clusters', 'pushmap-cluster-labels', 'pushmap-markers'], 'labels over the clusters, under the markers; no heading layer yet');
  assert.equal(map.getSource('pushmap-clusters').features.get('0/51611').properties.label, '1.2k');

  // MapLibre asks for an image it lacks: the adapter draws the label (no
  // canvas in Node: a stub one).
  globalThis.document = { createElement: () => ({ getContext: () => stubContext() }) };
  t.after(() => delete globalThis.document);
  map.fire('styleimagemissing', { id: 'pushmap-count:1.2k' });
  assert.ok(map.hasImage('pushmap-count:1.2k'));
  map.fire('styleimagemissing', { id: 'somebody-else' });
  assert.equal(map.hasImage('somebody-else'), false, 'other images are not ours to draw');

  map.fire('click:pushmap-clusters', { features: [{ properties: { key: '0/51611' } }] });
  assert.deepEqual(seen.at(-1), ['cluster', '0/51611']);
  assert.deepEqual(map.eased.at(-1), { center: [2, 48], zoom: 6 }, 'to its expansion zoom 7, less the zoom offset 1, centred on it');

  map.fire('mousemove:pushmap-markers', { features: [{ properties: { id: 'm1' } }] });
  assert.equal(map.canvas.style.cursor, 'pointer');
  map.fire('click:pushmap-markers', { features: [{ properties: { id: 'm1' } }] });
  map.fire('mouseleave:pushmap-markers', {});
  assert.equal(map.canvas.style.cursor, '');
  assert.deepEqual(seen.slice(1), [['hover', 'm1'], ['click', 'm1'], ['hover', null]]);
  a.detach();
  assert.equal(map.getLayer('pushmap-cluster-labels'), undefined);
  assert.equal(map.handlers.get('click:pushmap-clusters')?.size ?? 0, 0, 'handlers removed');
});

test('attachLeaflet zooms into a clicked cluster and calls the marker hooks', async (t) => {
  const L = stubLeaflet();
  const map = new StubLeafletMap();
  const client = new StubClient();
  const seen = [];
  const a = attachLeaflet(map, client, L, { onMarkerClick: (m) => seen.push(['click', m.id]), onClusterClick: (c) => seen.push(['cluster', c.key]) });
  t.after(() => a.detach());
  client.clustersEvent({ reset: true, clusters: [cluster(51611, 7, 2, 48)] });
  client.changes({ added: [marker('m1', 2, 48)] });
  await frame();
  const circle = a.clusterGroup.getLayers().find((c) => c.pushmapKey === '0/51611');
  assert.equal(circle.options.interactive, true);
  circle.fire('click');
  assert.deepEqual(seen, [['cluster', '0/51611']]);
  assert.deepEqual(map.viewed.at(-1), { center: [48, 2], zoom: 7 }, 'to its expansion zoom, centred on it');
  const m = a.layerGroup.getLayers()[0];
  assert.equal(m.options.interactive, true, 'interactive as a marker hook is given');
  m.fire('click');
  assert.deepEqual(seen.at(-1), ['click', 'm1']);
});

function stubContext() {
  return {
    scale() {},
    strokeText() {},
    fillText() {},
    getImageData: (x, y, w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
  };
}

test('attachMapLibre refreshes a tile at most once every tileRefreshMs, the last change not lost', async (t) => {
  const map = new StubMapLibre();
  const client = new StubClient();
  const a = attachMapLibre(map, client, { tileSources: { density: 'd' }, tileRefreshMs: 150 });
  t.after(() => a.detach());
  map.sources.set('d', new StubSource({ type: 'raster', tileSize: 256, maxzoom: 14 }));
  map.zoom = 9; // the source shows z10 tiles: the protocol's own
  const tile = (x, v) => client.emit('tile', { layer: 'density', z: 10, x, y: 352, version: v });
  const refreshes = (x) => map.refreshed.filter((r) => r.tiles?.some((t) => t.x === x)).length;

  tile(518, 1);
  await frame();
  assert.equal(refreshes(518), 1, 'the first change: at the next frame');
  for (let v = 2; v < 10; v++) tile(518, v); // eight more changes within the period
  tile(519, 1); // another tile is not held back
  await frame();
  assert.equal(refreshes(518), 1, 'not again within tileRefreshMs');
  assert.equal(refreshes(519), 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(refreshes(518), 2, 'the changes within the period: one refresh when it is over');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(refreshes(518), 2, 'and no more');
});

test('Glide: a move glides over the marker\'s own update interval, bounded; the first move and far moves jump', async () => {
  const drawn = [];
  const g = new Glide({ draw: (at) => drawn.push(...at), worldSize: () => 256 * 2 ** 10, maxMs: 1000, maxPx: 150 });
  const at = (lon, lat) => ({ lon, lat });
  assert.deepEqual(g.move('a', at(0, 0), at(0.001, 0), 0), [0.001, 0], 'the first move: no interval known, drawn there');
  assert.deepEqual(g.move('a', at(0.001, 0), at(0.002, 0), 400), [0.001, 0], 'the next glides from where it is drawn');
  const near = (got, want, msg) => assert.ok(Math.abs(got[0] - want[0]) < 1e-12 && Math.abs(got[1] - want[1]) < 1e-12, `${msg}: ${got} ≠ ${want}`);
  near(g.position('a', 600), [0.0015, 0], 'halfway after half its interval (400 ms)');
  assert.deepEqual(g.position('a', 900), [0.002, 0]);
  // A move in the middle of a glide starts from where the marker is drawn.
  near(g.move('a', at(0.002, 0), at(0.004, 0), 500), [0.00125, 0], 'from where it is drawn');
  near(g.position('a', 550), [0.00125 + 0.00275 * 0.5, 0], 'its interval: 100 ms');
  // A long silence: the glide lasts at most maxMs.
  g.move('a', at(0.004, 0), at(0.005, 0), 60_000);
  near(g.position('a', 60_500), [0.0045, 0], 'halfway after maxMs / 2');
  // Far on screen (here > 150 px at zoom 10: 0.3° is about 220 px): a jump.
  assert.ok(screenDistance([0, 0], [0.3, 0], 256 * 2 ** 10) > 150);
  assert.deepEqual(g.move('a', at(0.005, 0), at(0.305, 0), 60_400), [0.305, 0]);
  assert.equal(g.position('a', 60_500), undefined);
  // Across the antimeridian: the short way round.
  g.move('e', at(179.9995, 0), at(179.9995, 0), 0);
  g.move('e', at(179.9995, 0), at(-179.9995, 0), 500);
  assert.ok(Math.abs(g.position('e', 750)[0] - 180) < 1e-9, 'through 180, not across the world');
  // The frames draw it, the last one at its end.
  g.drop('e');
  await new Promise((r) => setTimeout(r, 1100));
  g.stop();
  assert.equal(g.size, 0);
});

test('attachMapLibre glides a marker moved again, and points markers with a heading', async (t) => {
  const map = new StubMapLibre();
  map.zoom = 12;
  const client = new StubClient();
  const a = attachMapLibre(map, client, {});
  t.after(() => a.detach());
  const src = map.getSource('pushmap');
  client.changes({ added: [marker('m', 2.35, 48.85, 1, 'vehicles', { heading: 90 })] });
  await frame();
  assert.deepEqual(map.order, ['pushmap-clusters', 'pushmap-markers', 'pushmap-headings'], 'the heading layer once a marker has a heading, on top');
  client.changes({ updated: [marker('m', 2.351, 48.85, 2, 'vehicles', { heading: 90 })] });
  await frame();
  assert.deepEqual(src.features.get('m').geometry.coordinates, [2.351, 48.85], 'the first move is drawn at once');
  await new Promise((r) => setTimeout(r, 300));
  client.changes({ updated: [marker('m', 2.352, 48.85, 3, 'vehicles', { heading: 90 })] });
  const xs = [];
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 20));
    xs.push(src.features.get('m').geometry.coordinates[0]);
  }
  assert.ok(xs.some((x) => x > 2.351 && x < 2.352), `drawn between the two positions: ${xs}`);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] >= xs[i - 1], `never backwards: ${xs}`);
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(src.features.get('m').geometry.coordinates, [2.352, 48.85], 'and ends where the marker is');
  assert.equal(src.features.get('m').properties.lon, 2.352, 'properties say where it is, not where it is drawn');

  const headings = map.getLayer('pushmap-headings');
  assert.deepEqual(headings.layout['icon-rotate'], ['get', 'heading']);
  assert.deepEqual(headings.filter, ['==', ['typeof', ['get', 'heading']], 'number']);
  assert.deepEqual(map.getLayer('pushmap-markers').filter, ['!', headings.filter], 'each marker is drawn once');
  assert.deepEqual(headings.layout['icon-size'], ['interpolate', ['linear'], ['zoom'], 2, 0.3, 10, 0.6]);
});

// lone is a cluster of count 1 carrying its isolated marker, as a
// decluttering server sends it.
const lone = (id, m) => ({ ...cluster(id, 1, m.lon, m.lat), marker: m });

test('both adapters draw an isolated marker (a cluster of 1 carrying it) as a marker, not a cluster', async (t) => {
  const map = new StubMapLibre();
  const client = new StubClient();
  const clicked = [];
  const a = attachMapLibre(map, client, { onMarkerClick: (m) => clicked.push(m) });
  t.after(() => a.detach());
  const markers = map.getSource('pushmap');
  const clusters = map.getSource('pushmap-clusters');
  const car = marker('car1', 2, 3, 1, 'cars', { heading: 90, name: 'Alice' });
  client.clustersEvent({ reset: true, clusters: [lone(600, car), cluster(601, 5)] });
  await frame();
  assert.deepEqual([...clusters.features.keys()], ['0/601'], 'the isolated marker is no cluster');
  assert.deepEqual([...markers.features.keys()], ['car1']);
  const p = markers.features.get('car1').properties;
  assert.equal(p.name, 'Alice');
  assert.equal(p.heading, 90, 'its props, heading included');
  assert.deepEqual(markers.features.get('car1').geometry.coordinates, [2, 3]);

  // Another marker came within the radius: a cluster of 2, the marker gone.
  client.clustersEvent({ clusters: [cluster(600, 2)] });
  await frame();
  assert.deepEqual([...markers.features.keys()], []);
  assert.deepEqual([...clusters.features.keys()].sort(), ['0/600', '0/601']);

  // It left again, with new props, under another cluster id.
  client.clustersEvent({ clusters: [cluster(600, 0), lone(602, { ...car, lon: 4, lat: 4, version: 2, props: { name: 'Bob' } })] });
  await frame();
  assert.deepEqual([...clusters.features.keys()], ['0/601']);
  assert.equal(markers.features.get('car1').properties.name, 'Bob');
  assert.deepEqual(markers.features.get('car1').geometry.coordinates, [4, 4]);
  map.fire('click:pushmap-markers', { features: [{ properties: { id: 'car1' } }] });
  assert.deepEqual(clicked.map((m) => m.props.name), ['Bob'], 'a click gives the marker with its props');

  // Held both as the client's marker and as an isolated one: drawn once,
  // and still drawn when one of the two goes.
  client.changes({ added: [{ ...car, lon: 4, lat: 4, version: 2, props: { name: 'Bob' } }] });
  client.clustersEvent({ clusters: [cluster(602, 0)] });
  await frame();
  assert.deepEqual([...markers.features.keys()], ['car1']);
  client.changes({ removed: ['car1'] });
  await frame();
  assert.deepEqual([...markers.features.keys()], []);

  // Leaflet: the same, in its marker group.
  const L = stubLeaflet();
  const lmap = new StubLeafletMap();
  lmap.bounds = [-10, -10, 10, 10];
  lmap.center = { lat: 0, lng: 0 };
  const lclient = new StubClient();
  const la = attachLeaflet(lmap, lclient, L);
  t.after(() => la.detach());
  lclient.clustersEvent({ reset: true, clusters: [lone(700, car), cluster(701, 5)] });
  await frame();
  assert.deepEqual(la.shownMarkers(), [{ id: 'car1', layer: 'cars', lon: 2, lat: 3 }]);
  assert.deepEqual(la.shownClusters().map((c) => c.key), ['0/701']);
  assert.deepEqual(la.shownClusterLabels().map((l) => l.label), ['5'], 'no label reading 1');
  lclient.clustersEvent({ clusters: [cluster(700, 2)] });
  await frame();
  assert.deepEqual(la.shownMarkers(), []);
});
