// sync.js holds what the map adapters share: coalescing the client's marker
// and cluster changes into one batch per animation frame, reconciling with
// the client's own cache after a view change, pushing the map's view, and
// mapping tile changes onto a map source's tiles. Internal to the adapters;
// not part of the public API.

import { clusterKey, normalizeBox } from '../pushmap.js';

export { countLabel } from '../pushmap.js';

/** nextFrame runs fn at the next animation frame (a 16 ms timer where there are none). */
export const nextFrame = globalThis.requestAnimationFrame
  ? (fn) => globalThis.requestAnimationFrame(fn)
  : (fn) => setTimeout(fn, 16);
/** cancelFrame cancels what nextFrame scheduled. */
export const cancelFrame = globalThis.cancelAnimationFrame
  ? (id) => globalThis.cancelAnimationFrame(id)
  : (id) => clearTimeout(id);

/**
 * FrameBatch is what MarkerSync and ClusterSync share: changes wait for the
 * next animation frame, then flush() applies them at once; pause() holds
 * them (e.g. while the map has no style) and stop() ends it all.
 */
class FrameBatch {
  #frame = 0;
  #paused;
  #offs = [];

  constructor(paused) {
    this.#paused = paused;
  }

  /** Keeps an unsubscribe function for stop(). */
  listen(off) {
    this.#offs.push(off);
  }

  get paused() {
    return this.#paused;
  }

  pause() {
    this.#paused = true;
  }

  resume() {
    this.#paused = false;
    this.schedule();
  }

  schedule() {
    if (this.#frame || this.#paused) return;
    this.#frame = nextFrame(() => {
      this.#frame = 0;
      this.flush();
    });
  }

  /** Applies what is pending now; MarkerSync and ClusterSync define it. */
  flush() {}

  stop() {
    for (const off of this.#offs) off();
    this.#offs = [];
    if (this.#frame) cancelFrame(this.#frame);
    this.#frame = 0;
    this.#paused = true;
  }
}

/**
 * MarkerSync keeps a map layer in step with a client. It collects 'changes'
 * events by marker id (the latest state wins) and, at most once per animation
 * frame, calls apply({reset, upserts: [{marker, prev}], removes: [id]}) with
 * the net difference to what it applied before (prev is the marker as last
 * applied, undefined for a new one). reconcile() asks it to compare, at the
 * next frame, what it applied with client.markers() — the client's cache is
 * the truth after a view change, which drops markers without a 'changes'
 * event being needed.
 *
 * The markers it draws are the client's markers and the isolated markers
 * of its clusters: a cluster of count 1 that carries its marker (a
 * decluttered view's lone marker) is drawn as that marker, with its props,
 * and not as a cluster (ClusterSync leaves it out). A marker the client
 * holds both ways is drawn once, as the client's marker.
 */
export class MarkerSync extends FrameBatch {
  /** id -> marker as last applied. */
  shown = new Map();
  #held = new Map(); // id -> marker, as the client holds it (its markers)
  #lone = new Map(); // cluster key -> the isolated marker it carries
  #touched = new Set(); // ids to compare at the next flush
  #reset = false;
  #reconcile = false;
  #client;
  #apply;

  constructor(client, apply, { paused = false } = {}) {
    super(paused);
    this.#client = client;
    this.#apply = apply;
    this.listen(client.on('changes', (c) => this.#onChanges(c)));
    this.listen(client.on('clusters', (e) => this.#onClusters(e)));
    // Start from whatever the client already holds.
    this.reconcile();
  }

  #onChanges(c) {
    if (c.reset) {
      this.#reset = true;
      this.#held.clear();
    }
    for (const m of c.added ?? []) this.#hold(m);
    for (const m of c.updated ?? []) this.#hold(m);
    for (const id of c.removed ?? []) {
      this.#held.delete(id);
      this.#touched.add(id);
    }
    this.schedule();
  }

  #hold(m) {
    this.#held.set(m.id, m);
    this.#touched.add(m.id);
  }

  #onClusters({ reset, clusters }) {
    if (reset) {
      for (const m of this.#lone.values()) this.#touched.add(m.id);
      this.#lone.clear();
    }
    for (const c of clusters ?? []) this.#setLone(c);
    this.schedule();
  }

  // #setLone records cluster c's isolated marker, or that it has none.
  #setLone(c) {
    const key = clusterKey(c);
    const old = this.#lone.get(key);
    if (old) this.#touched.add(old.id);
    if (isLone(c)) {
      this.#lone.set(key, c.marker);
      this.#touched.add(c.marker.id);
    } else {
      this.#lone.delete(key);
    }
  }

  /** Compare with client.markers() at the next frame. */
  reconcile() {
    this.#reconcile = true;
    this.schedule();
  }

  /** Drop everything applied and rebuild from client.markers() (e.g. after the map lost its layer). */
  rebuild() {
    this.#reset = true;
    this.#held.clear();
    this.reconcile();
  }

  /** Applies what is pending now. */
  flush() {
    if (this.paused) return;
    const reset = this.#reset;
    const reconcile = this.#reconcile;
    let ids = this.#touched;
    if (reconcile) {
      this.#held = new Map(this.#client.markers().map((m) => [m.id, m]));
      this.#lone.clear();
      for (const c of this.#client.clusters?.() ?? []) this.#setLone(c);
    }
    const lone = new Map();
    for (const m of this.#lone.values()) lone.set(m.id, m);
    if (reset || reconcile) ids = new Set([...ids, ...this.#held.keys(), ...lone.keys(), ...this.shown.keys()]);
    this.#touched = new Set();
    this.#reset = false;
    this.#reconcile = false;
    if (reset) this.shown.clear();
    const upserts = [];
    const removes = [];
    for (const id of ids) {
      const m = this.#held.get(id) ?? lone.get(id);
      const s = this.shown.get(id);
      if (!m) {
        if (this.shown.delete(id)) removes.push(id);
      } else if (!s || s.version !== m.version || s.lon !== m.lon || s.lat !== m.lat || s.layer !== m.layer) {
        upserts.push({ marker: m, prev: s });
        this.shown.set(id, m);
      }
    }
    if (reset || upserts.length || removes.length) this.#apply({ reset, upserts, removes });
  }

}

/** isLone tells whether cluster c is an isolated marker: count 1, carrying its marker. */
export function isLone(c) {
  return c.count === 1 && c.marker != null;
}

/**
 * ClusterSync keeps a map layer of clusters in step with a client's
 * 'clusters' events, like MarkerSync for markers: at most once per animation
 * frame it calls apply({clear, upserts: [{key, cluster, drawn}], removes:
 * [key]}) with the net difference to what it applied before (drawn: the
 * key was drawn already, update it in place). A reset event (the full set)
 * is diffed against the keys drawn, so a pan in cluster mode removes only
 * the clusters that left. clear is true only after
 * rebuild(): the layer lost everything and upserts hold the full set.
 */
export class ClusterSync extends FrameBatch {
  // The cluster state is the client's (client.clusters(), read from the
  // wasm client): ClusterSync keeps only the keys it has drawn, and get()
  // reads a cluster from the client.
  #drawn = new Set(); // keys applied
  #index = null; // key -> cluster of client.clusters(), until the next event
  #pending = new Map(); // key -> cluster, or null for a removal
  #full = false; // #pending is the full set
  #clear = false;
  #client;
  #apply;

  constructor(client, apply, { paused = false } = {}) {
    super(paused);
    this.#client = client;
    this.#apply = apply;
    this.listen(client.on('clusters', (e) => this.#onClusters(e)));
    this.#fromClient();
  }

  #onClusters({ reset, clusters }) {
    this.#index = null;
    if (reset) {
      this.#full = true;
      this.#pending.clear();
    }
    // An isolated marker is drawn by MarkerSync, as a marker.
    for (const c of clusters ?? []) this.#pending.set(clusterKey(c), c.count > 0 && !isLone(c) ? c : null);
    this.schedule();
  }

  // Takes the client's whole set as pending (clients without clusters(): none).
  #fromClient() {
    this.#full = true;
    this.#pending.clear();
    for (const c of this.#client.clusters?.() ?? []) if (!isLone(c)) this.#pending.set(clusterKey(c), c);
    this.schedule();
  }

  /** The cluster of key as the client holds it now, or undefined. */
  get(key) {
    if (!this.#index) this.#index = new Map((this.#client.clusters?.() ?? []).map((c) => [clusterKey(c), c]));
    return this.#index.get(key);
  }

  /** The keys of the clusters applied (drawn). */
  keys() {
    return this.#drawn.keys();
  }

  /** Drop everything applied and rebuild from client.clusters() (e.g. after the map lost its layer). */
  rebuild() {
    this.#clear = true;
    this.#fromClient();
  }

  /** Applies what is pending now. */
  flush() {
    if (this.paused) return;
    const pending = this.#pending;
    const full = this.#full;
    const clear = this.#clear;
    this.#pending = new Map();
    this.#full = false;
    this.#clear = false;
    if (clear) this.#drawn.clear();
    const upserts = [];
    const removes = [];
    if (full) {
      for (const key of this.#drawn) {
        if (!pending.get(key)) removes.push(key);
      }
      for (const key of removes) this.#drawn.delete(key);
    }
    // The server sends a cluster only when it changed (a full set after a
    // view change may repeat unchanged ones: redrawn in place, no flicker).
    for (const [key, c] of pending) {
      const drawn = this.#drawn.has(key);
      if (c === null) {
        if (!full && this.#drawn.delete(key)) removes.push(key);
        continue;
      }
      upserts.push({ key, cluster: c, drawn });
      this.#drawn.add(key);
    }
    if (clear || upserts.length || removes.length) this.#apply({ clear, upserts, removes });
  }

}

/**
 * sourceTiles maps a changed tile {z, x, y} of the protocol (a slippy-map
 * tile at the zoom the server thinks the view displays) onto the tiles a map
 * source shows at zoom sourceZoom: the tile itself when the zooms agree, its
 * ancestor when the source shows coarser tiles (beyond its maxzoom), and its
 * descendants when it shows finer ones (a source that rounds the map's zoom
 * up). It returns null when that would be more than 4^maxLevels tiles: the
 * caller should then refresh the whole source.
 */
export function sourceTiles({ z, x, y }, sourceZoom, maxLevels = 3) {
  if (sourceZoom === z) return [{ x, y, z }];
  if (sourceZoom < z) {
    const d = z - sourceZoom;
    return [{ x: Math.floor(x / 2 ** d), y: Math.floor(y / 2 ** d), z: sourceZoom }];
  }
  const d = sourceZoom - z;
  if (d > maxLevels) return null;
  const n = 2 ** d;
  const out = [];
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) out.push({ x: x * n + i, y: y * n + j, z: sourceZoom });
  }
  return out;
}

/**
 * clusterRadius is the radius in pixels of a cluster's circle: 4 for one
 * marker, growing with the square root of count and flattening beyond a
 * hundred (18 px at a million and more). clusterRadiusExpression is the same curve as
 * a MapLibre expression on the feature property 'count'.
 */
export function clusterRadius(count) {
  const r = Math.sqrt(Math.max(count, 1));
  const stops = CLUSTER_RADIUS_STOPS;
  if (r <= stops[0][0]) return stops[0][1];
  for (let i = 1; i < stops.length; i++) {
    const [r1, p1] = stops[i];
    if (r <= r1) {
      const [r0, p0] = stops[i - 1];
      return p0 + ((p1 - p0) * (r - r0)) / (r1 - r0);
    }
  }
  return stops.at(-1)[1];
}

// [sqrt(count), radius px]: 1 → 4, 10 → 6, 100 → 9, 1,000 → 12, 10,000 →
// 15, 1,000,000 → 18. At its largest a circle is about as wide as a cluster
// tile on the map (32 px: three zoom levels finer than the view's).
const CLUSTER_RADIUS_STOPS = [
  [1, 4],
  [Math.sqrt(10), 6],
  [10, 9],
  [Math.sqrt(1000), 12],
  [100, 15],
  [1000, 18],
];

export const clusterRadiusExpression = Object.freeze([
  'interpolate',
  ['linear'],
  ['sqrt', ['max', ['get', 'count'], 1]],
  ...CLUSTER_RADIUS_STOPS.flat(),
]);

/** Default colour of clusters: distinct from every default marker colour. */
export const DEFAULT_CLUSTER_COLOR = '#7048e8';

/**
 * ViewPusher sends the map's view to the client on 'move' (the wasm
 * throttles) and 'moveend'. getView returns [west, south, east, north, zoom]
 * as the library reports them (unwrapped longitudes allowed). After the
 * server acknowledged the view of a 'moveend', onSettled runs.
 */
export class ViewPusher {
  #client;
  #getView;
  #onSettled;
  #warned = new Set();
  #stopped = false;

  constructor(client, getView, onSettled) {
    this.#client = client;
    this.#getView = getView;
    this.#onSettled = onSettled;
  }

  push(settled) {
    if (this.#stopped) return;
    let box;
    let zoom;
    try {
      const [w, s, e, n, z] = this.#getView();
      box = normalizeBox(w, s, e, n);
      zoom = z;
    } catch (err) {
      this.#warn(err);
      return;
    }
    this.#client.setView(box, zoom).then(
      () => {
        if (settled && !this.#stopped) this.#onSettled();
      },
      (err) => this.#warn(err),
    );
  }

  #warn(err) {
    if (this.#stopped || this.#client.status === 'closed') return;
    const code = err?.code ?? 'error';
    if (this.#warned.has(code)) return;
    this.#warned.add(code);
    console.warn(`pushmap: view not accepted (${code}): ${err?.message ?? err}`);
  }

  stop() {
    this.#stopped = true;
  }
}

/**
 * register adds an adapter to globalThis.__pushmapAdapters, the test hook of
 * pushmap's end-to-end harness (package e2e), and returns a function that
 * removes it. The hook is off unless a test turns it on: only when that
 * global is already an array (the harness defines it before the page's
 * scripts run) is anything added, so a page in production leaks no map or
 * client to the global scope.
 */
export function register(adapter) {
  const list = globalThis.__pushmapAdapters;
  if (!Array.isArray(list)) return () => {};
  list.push(adapter);
  return () => {
    const i = list.indexOf(adapter);
    if (i >= 0) list.splice(i, 1);
  };
}

/**
 * Default colour of markers of a layer the `colors` option does not name:
 * one colour for every layer, as the adapters know no layer names.
 */
export const DEFAULT_COLOR = '#1c7ed6';

/**
 * tileBounds returns the box [west, south, east, north] in degrees of the
 * slippy-map tile z/x/y: a cluster's tile, which click-to-zoom fits the map
 * to.
 */
export function tileBounds({ z, x, y }) {
  const n = 2 ** z;
  const lon = (i) => (i / n) * 360 - 180;
  const lat = (j) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * j) / n))) * 180) / Math.PI;
  return [lon(x), lat(y + 1), lon(x + 1), lat(y)];
}

/**
 * boundsView returns the getView of a ViewPusher for a MapLibre or Leaflet
 * map (both name getBounds' edges alike): its bounds and its zoom plus
 * zoomOffset.
 */
export function boundsView(map, zoomOffset) {
  return () => {
    const b = map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), map.getZoom() + zoomOffset];
  };
}

/**
 * watchStale tells whether what an adapter draws may be out of date: stale
 * is true while the client is not connected (what is drawn is what the
 * server said last, not what it holds now). onChange(stale) runs on each
 * change; off() stops watching.
 */
export function watchStale(client, onChange) {
  const w = { stale: client.status !== 'open', off: () => {} };
  w.off = client.on('status', (st) => {
    const stale = st.state !== 'open';
    if (stale === w.stale) return;
    w.stale = stale;
    onChange(stale);
  });
  return w;
}

/**
 * Throttle calls run(value, key) at most once every periodMs per key: the
 * first hit of a key runs at once; hits within the period after a run are
 * not lost but run once, with the value of the first of them, when the
 * period is over. A period of 0 runs every hit. The adapters throttle tile
 * refreshes with it (MapLibre per tile, Leaflet per layer).
 */
export class Throttle {
  #period;
  #run;
  #last = new Map(); // key -> Date.now() of its last run
  #timers = new Map(); // key -> timer of its next run

  constructor(periodMs, run) {
    this.#period = periodMs > 0 ? periodMs : 0;
    this.#run = run;
  }

  hit(key, value) {
    if (this.#timers.has(key)) return; // a run is due already
    const now = Date.now();
    const wait = (this.#last.get(key) ?? -Infinity) + this.#period - now;
    if (wait > 0) {
      this.#timers.set(key, setTimeout(() => {
        this.#timers.delete(key);
        this.#fire(key, value, Date.now());
      }, wait));
      return;
    }
    this.#fire(key, value, now);
  }

  #fire(key, value, now) {
    if (this.#period > 0) {
      if (this.#last.size > 4096) {
        for (const [k, at] of this.#last) if (at + this.#period <= now) this.#last.delete(k);
      }
      this.#last.set(key, now);
    }
    this.#run(value, key);
  }

  stop() {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

/** labelFont is the CSS font of a cluster's count label of text, in both adapters. */
export function labelFont(text) {
  return `bold ${text.length > 3 ? 10 : 11}px system-ui, -apple-system, "Segoe UI", sans-serif`;
}

/** LABEL_HALO is the colour of the halo around a count label's digits. */
export const LABEL_HALO = 'rgba(40, 20, 90, 0.8)';

/**
 * drawLabel draws text centred on a transparent canvas of size × size CSS
 * pixels at pixelRatio, white and bold with a dark halo, and returns the
 * canvas: a cluster's count label, without the glyph files a map style's
 * text would need.
 */
export function drawLabel(text, size, pixelRatio = 1) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = Math.ceil(size * pixelRatio);
  const ctx = canvas.getContext('2d');
  ctx.scale(pixelRatio, pixelRatio);
  ctx.font = labelFont(text);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 3;
  ctx.strokeStyle = LABEL_HALO;
  ctx.strokeText(text, size / 2, size / 2 + 0.5);
  ctx.fillStyle = '#ffffff';
  ctx.fillText(text, size / 2, size / 2 + 0.5);
  return canvas;
}

/**
 * Glide moves drawn markers smoothly: a marker that moved is drawn gliding
 * in a straight line from where it is drawn to its new position, over the
 * time since its previous move (its own update interval), at most maxMs.
 * It jumps instead when there is nothing to go by or the glide would
 * mislead: its first move since it was drawn (no interval known yet), a
 * move longer than maxPx on screen, a hidden page, more than maxMarkers
 * gliding at once, or an interval under two frames.
 *
 * move() returns the position to draw the marker at now; draw([{id, lon,
 * lat}]) is called at each animation frame with the positions of the
 * markers gliding (the last call of a glide with its end). worldSize()
 * returns the map's width in CSS pixels for 360° at its zoom.
 */
export class Glide {
  #draw;
  #worldSize;
  #maxMs;
  #maxPx;
  #maxMarkers;
  #moves = new Map(); // id -> {lon0, lat0, dlon, dlat, to, start, ms}
  #lastMove = new Map(); // id -> performance.now() of its last move
  #frame = 0;

  constructor({ draw, worldSize, maxMs = GLIDE_MAX_MS, maxPx = GLIDE_MAX_PX, maxMarkers = GLIDE_MAX_MARKERS }) {
    this.#draw = draw;
    this.#worldSize = worldSize;
    this.#maxMs = maxMs;
    this.#maxPx = maxPx;
    this.#maxMarkers = maxMarkers;
  }

  /** Number of markers gliding now. */
  get size() {
    return this.#moves.size;
  }

  /**
   * move tells that marker id moved from prev to next ({lon, lat} each) and
   * returns [lon, lat] to draw it at now: where it is drawn when it starts
   * to glide, else next.
   */
  move(id, prev, next, now = performance.now()) {
    const last = this.#lastMove.get(id);
    this.#lastMove.set(id, now);
    const from = this.position(id, now) ?? [prev.lon, prev.lat];
    const to = [next.lon, next.lat];
    const ms = last === undefined ? 0 : Math.min(now - last, this.#maxMs);
    const dlon = wrapDegrees(to[0] - from[0]);
    const dlat = to[1] - from[1];
    if (
      ms < GLIDE_MIN_MS ||
      (dlon === 0 && dlat === 0) ||
      globalThis.document?.visibilityState === 'hidden' ||
      (!this.#moves.has(id) && this.#moves.size >= this.#maxMarkers) ||
      screenDistance(from, to, this.#worldSize()) > this.#maxPx
    ) {
      this.#moves.delete(id);
      return to;
    }
    this.#moves.set(id, { lon0: from[0], lat0: from[1], dlon, dlat, to, start: now, ms });
    if (!this.#frame) this.#frame = nextFrame((t) => this.#tick(t));
    return from;
  }

  /** position returns where the gliding marker id is drawn at time now, or undefined when it does not glide. */
  position(id, now = performance.now()) {
    const g = this.#moves.get(id);
    if (!g) return undefined;
    const t = Math.max(0, (now - g.start) / g.ms);
    return t >= 1 ? g.to : [g.lon0 + g.dlon * t, g.lat0 + g.dlat * t];
  }

  /** drop forgets marker id (removed: a later add is no move). */
  drop(id) {
    this.#moves.delete(id);
    this.#lastMove.delete(id);
  }

  /** clear forgets every marker. */
  clear() {
    this.#moves.clear();
    this.#lastMove.clear();
  }

  #tick(t) {
    this.#frame = 0;
    // Timers stand in for frames outside browsers and pass no time.
    const now = typeof t === 'number' ? t : performance.now();
    const out = [];
    for (const [id, g] of this.#moves) {
      const [lon, lat] = this.position(id, now);
      out.push({ id, lon, lat });
      if (now - g.start >= g.ms) this.#moves.delete(id);
    }
    if (out.length) this.#draw(out);
    if (this.#moves.size) this.#frame = nextFrame((t) => this.#tick(t));
  }

  stop() {
    if (this.#frame) cancelFrame(this.#frame);
    this.#frame = 0;
    this.clear();
  }
}

// Glide's defaults: a glide lasts the marker's update interval, at most
// GLIDE_MAX_MS (a marker silent for a while does not crawl for as long); a
// move longer than GLIDE_MAX_PX on screen jumps (a teleport, or a marker
// back after a gap, would slide across the map); at most GLIDE_MAX_MARKERS
// glide at once (each frame of a glide costs every gliding marker a
// redraw); an interval under GLIDE_MIN_MS (two frames) is not animated.
export const GLIDE_MAX_MS = 1000;
export const GLIDE_MAX_PX = 150;
export const GLIDE_MAX_MARKERS = 2000;
const GLIDE_MIN_MS = 33;

/** wrapDegrees returns d in [-180, 180): the shorter way round in longitude. */
function wrapDegrees(d) {
  return ((((d + 180) % 360) + 360) % 360) - 180;
}

/** screenDistance is the distance in pixels from a to b ([lon, lat]) on a Web Mercator map worldSize pixels wide. */
export function screenDistance(a, b, worldSize) {
  const y = (lat) => {
    const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
    return Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  };
  const dx = wrapDegrees(b[0] - a[0]) / 360;
  const dy = y(b[1]) - y(a[1]);
  return Math.hypot(dx, dy) * worldSize;
}

/** headingOf returns a marker's props.heading when it is a finite number (degrees clockwise from north), else undefined. */
export function headingOf(m) {
  const h = m?.props?.heading;
  return typeof h === 'number' && Number.isFinite(h) ? h : undefined;
}

/**
 * HEADING_TIP is how far the point of a marker with a heading reaches from
 * its centre, in radii; HEADING_HALF_ANGLE is half the angle at which the
 * point leaves the circle, in radians. drawHeadingPath draws that outline
 * (a circle drawn out into a point towards the heading) as a path on ctx,
 * centred on x, y with radius r, heading in degrees clockwise from north.
 */
export const HEADING_TIP = 1.9;
const HEADING_HALF_ANGLE = 0.75;
export function drawHeadingPath(ctx, x, y, r, heading) {
  const a = (heading * Math.PI) / 180;
  const towards = a - Math.PI / 2; // canvas angles: 0 is east, clockwise
  ctx.beginPath();
  ctx.arc(x, y, r, towards + HEADING_HALF_ANGLE, towards - HEADING_HALF_ANGLE + 2 * Math.PI, false);
  ctx.lineTo(x + HEADING_TIP * r * Math.sin(a), y - HEADING_TIP * r * Math.cos(a));
  ctx.closePath();
}
