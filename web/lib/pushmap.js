// pushmap.js is the public JavaScript API of the pushmap browser client.
//
// The client itself is Go compiled to WebAssembly (pushmap.wasm); this module
// loads it and wraps what it exposes (globalThis.__pushmap) in a small
// event-emitter API:
//
//   import { load } from './pushmap.js';
//   const pushmap = await load();
//   const client = pushmap.connect('/ws', { layers: ['flights'] });
//   client.on('changes', (c) => console.log(c.added.length, 'added'));
//   client.on('clusters', () => console.log(client.clusters().length, 'clusters'));
//   await client.setView([-10, 35, 30, 60], 4); // [west, south, east, north], zoom
//
// Coordinates are degrees, longitude before latitude. See pushmap.d.ts for the
// full contract.

const MAX_LAT = 85.0511;
const CONTRACT_VERSION = 1;

let loading = null;

/** @import * as types from './types/pushmap.js' */

/**
 * load starts the WebAssembly client once and resolves to {connect, version}.
 * Calling it again returns the same promise (a failed load may be retried).
 * If globalThis.__pushmap is already set (the wasm started by other means, or
 * a test double) it is used as it is and nothing is fetched.
 *
 * The JSDoc types below refer to pushmap.d.ts (an import of './pushmap.js'
 * resolves to it): `make test-js` type-checks this file against it.
 *
 * @param {types.LoadOptions} [opts]
 * @returns {Promise<types.Pushmap>}
 */
export function load({ wasmURL, wasmExecURL, timeoutMs = 20000 } = {}) {
  if (!loading) {
    loading = start(
      // Literal './' URLs relative to import.meta.url: bundlers (Vite,
      // esbuild's file loader, webpack 5) see them and emit the two files as
      // assets of the build.
      wasmURL ?? new URL('./pushmap.wasm', import.meta.url).href,
      wasmExecURL ?? new URL('./wasm_exec.js', import.meta.url).href,
      timeoutMs,
    ).catch((err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

async function start(wasmURL, wasmExecURL, timeoutMs) {
  if (!globalThis.__pushmap) {
    if (typeof globalThis.Go !== 'function') await loadScript(wasmExecURL);
    if (typeof globalThis.Go !== 'function') {
      throw codedError('load', `${wasmExecURL} did not define globalThis.Go`);
    }
    const go = new globalThis.Go();
    const instance = await instantiate(wasmURL, go.importObject);
    let exited = null;
    go.run(instance).then(
      () => (exited = codedError('load', 'the pushmap wasm exited before it was ready')),
      (err) => (exited = toError(err, 'load')),
    );
    const deadline = Date.now() + timeoutMs;
    while (!globalThis.__pushmap) {
      if (exited) throw exited;
      if (Date.now() > deadline) throw codedError('load', `the pushmap wasm was not ready after ${timeoutMs} ms`);
      await sleep(5);
    }
  }
  const pm = globalThis.__pushmap;
  if (pm.version !== CONTRACT_VERSION || typeof pm.connect !== 'function') {
    throw codedError('version', `pushmap wasm contract version ${pm.version}, this pushmap.js speaks ${CONTRACT_VERSION}`);
  }
  return Object.freeze({
    version: pm.version,
    connect: (url, opts) => new Client(pm, url, opts),
  });
}

async function instantiate(url, importObject) {
  const resp = await fetch(url);
  if (!resp.ok) throw codedError('load', `fetching ${url}: HTTP ${resp.status}`);
  if (WebAssembly.instantiateStreaming && (resp.headers.get('content-type') || '').startsWith('application/wasm')) {
    return (await WebAssembly.instantiateStreaming(resp, importObject)).instance;
  }
  // A server that does not say application/wasm: compile from the bytes.
  return (await WebAssembly.instantiate(await resp.arrayBuffer(), importObject)).instance;
}

function loadScript(url) {
  if (typeof document === 'undefined') return import(url); // workers: wasm_exec.js sets globalThis.Go either way
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = url;
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => reject(codedError('load', `loading ${url} failed`));
    document.head.appendChild(s);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A Client is one connection of the wasm client to a pushmap server. It
 * reconnects by itself until close() is called. Listeners are called
 * synchronously, in the order they were added; an exception in one is
 * reported (reportError) and does not stop the others.
 *
 * @implements {types.Client}
 */
class Client {
  #handle;
  #listeners = new Map();
  #url;
  #ready = false; // 'ready' was emitted

  /** @param {types.ConnectOptions} [opts] */
  constructor(pm, url, opts = {}) {
    this.#url = resolveURL(url);
    const o = {
      token: opts.token ?? '',
      layers: [...(opts.layers ?? [])].map(String),
      throttleMs: opts.throttleMs ?? 100,
    };
    // More nodes of the same map, tried in turn after a close or a failed connect.
    if (opts.urls !== undefined) o.urls = [...opts.urls].map((u) => resolveURL(u));
    // One default, the Go client's (0): only a margin asked for is passed.
    if (opts.margin !== undefined) o.margin = opts.margin;
    // Off by default, as the Go client's Options.Declutter.
    if (opts.declutter !== undefined) o.declutter = opts.declutter === true;
    if (opts.getToken !== undefined) {
      if (typeof opts.getToken !== 'function') throw new TypeError('pushmap: getToken must be a function');
      const getToken = opts.getToken;
      // Always a Promise of a string, for the wasm to await.
      o.getToken = () => Promise.resolve().then(getToken).then((t) => {
        if (typeof t !== 'string') throw new TypeError(`pushmap: getToken returned ${typeof t}, want a string`);
        return t;
      });
    }
    this.#handle = pm.connect(this.#url, o, (type, payload) => this.#dispatch(type, payload));
  }

  /** The absolute ws: or wss: URL this client connects to. */
  get url() {
    return this.#url;
  }

  /** 'connecting' | 'open' | 'reconnecting' | 'closed' */
  get status() {
    return this.#handle.status();
  }

  /** Adds a listener; returns a function that removes it. */
  on(type, fn) {
    if (typeof fn !== 'function') throw new TypeError(`pushmap: listener for ${type} is not a function`);
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this.#listeners.get(type)?.delete(fn);
  }

  /**
   * setView tells the server the box the map shows: bbox [west, south, east,
   * north] in degrees (west > east crosses the antimeridian; values outside
   * ±180 are wrapped, see normalizeBox), zoom as the map library reports it.
   * Resolves when the server acknowledged the view.
   *
   * @param {types.BBox} bbox
   * @param {number} zoom
   */
  async setView(bbox, zoom) {
    if (!Array.isArray(bbox) || bbox.length !== 4) {
      throw codedError('bad_view', `setView: bbox must be [west, south, east, north], got ${JSON.stringify(bbox)}`);
    }
    if (!Number.isFinite(zoom)) throw codedError('bad_view', `setView: zoom must be a finite number, got ${zoom}`);
    const [w, s, e, n] = normalizeBox(...bbox);
    try {
      return await this.#handle.setView(w, s, e, n, zoom);
    } catch (err) {
      throw toError(err, 'error');
    }
  }

  /** Replaces the set of layers the client subscribes to. */
  async setLayers(layers) {
    if (!Array.isArray(layers)) throw codedError('bad_layers', 'setLayers: layers must be an array of strings');
    try {
      return await this.#handle.setLayers(layers.map(String));
    } catch (err) {
      throw toError(err, 'error');
    }
  }

  /** A snapshot array of the markers the client holds (its view plus margin). */
  markers() {
    return this.#handle.markers();
  }

  /**
   * A snapshot array of the clusters the client holds: the server sends
   * clusters instead of markers for a view that holds more markers than its
   * budget, or below zoom 16 with declutter. [{key, view, id, z, count, lon,
   * lat, expansionZoom, marker?}], copies read from the wasm client, which
   * keeps the only copy; marker, on a cluster of count 1, is its isolated
   * marker (id, layer, lon, lat, version, time, props).
   */
  clusters() {
    return withKeys(this.#handle.clusters?.() ?? []);
  }

  /** Closes the connection for good; a final 'status' event reports 'closed'. */
  close() {
    this.#handle.close();
  }

  #dispatch(type, p) {
    if (type === 'clusters') {
      withKeys(p.clusters ?? []);
      this.#emit(type, p);
      // A view in cluster mode gets its snapshot as clusters.
      if (p.reset) this.#becomeReady();
      return;
    }
    if (type !== 'changes') {
      this.#emit(type, p);
      return;
    }
    if (p.reset) this.#emit('reset', undefined);
    this.#emit('changes', p);
    if (p.reset) this.#becomeReady();
    if (this.#listeners.get('marker')?.size) {
      for (const m of p.added ?? []) this.#emit('marker', { ...m, kind: 'added' });
      for (const m of p.updated ?? []) this.#emit('marker', { ...m, kind: 'changed' });
    }
    if (this.#listeners.get('remove')?.size) {
      for (const id of p.removed ?? []) this.#emit('remove', id);
    }
  }

  // #becomeReady emits 'ready' the first time a snapshot (a view's reply
  // with reset, of markers or of clusters) is applied: the map shows what
  // the server holds.
  #becomeReady() {
    if (this.#ready) return;
    this.#ready = true;
    this.#emit('ready', undefined);
  }

  #emit(type, payload) {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        // Never throw back into the wasm: report and go on.
        if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
        else console.error(err);
      }
    }
  }
}

/**
 * countLabel is the text of a cluster's label: the count as it is below
 * 1,000, then in thousands and millions with at most three significant
 * digits (1.2k, 12k, 123k, 1.2M), so a label stays short and the labels of
 * a map come from a small set.
 */
/** @type {typeof types.countLabel} */
export function countLabel(count) {
  const n = Math.max(0, Math.round(count));
  if (n < 1000) return String(n);
  const [v, unit] = n < 1e6 ? [n / 1e3, 'k'] : [n / 1e6, 'M'];
  const s = v < 10 ? String(Math.floor(v * 10) / 10) : String(Math.floor(v));
  return s + unit;
}

/** @type {typeof types.clusterKey} */
export function clusterKey(c) {
  return `${c.view}/${c.id}`;
}

// withKeys sets each cluster's key (clusterKey), which the wasm leaves to
// this module (its Go strconv cost the .wasm bytes), and returns them.
function withKeys(clusters) {
  for (const c of clusters) c.key = clusterKey(c);
  return clusters;
}

/**
 * resolveURL turns url into an absolute WebSocket URL: relative URLs resolve
 * against base (the page's location by default), http: becomes ws: and https:
 * becomes wss:.
 */
/** @type {typeof types.resolveURL} */
export function resolveURL(url, base = globalThis.location?.href) {
  let u;
  try {
    u = new URL(url, base);
  } catch {
    throw codedError('bad_url', `pushmap: cannot resolve WebSocket URL ${JSON.stringify(url)} against ${base}`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw codedError('bad_url', `pushmap: ${u.href} is not a ws:, wss:, http: or https: URL`);
  }
  return u.href;
}

/**
 * normalizeBox returns [west, south, east, north] with longitudes in
 * [-180, 180] and latitudes clamped to ±85.0511. A box given unwrapped (west
 * or east beyond ±180, as map libraries report a wrapped world) comes back
 * with west > east when it crosses the antimeridian; a box 360° wide or more
 * becomes -180..180. A box already given with west > east is taken as
 * crossing the antimeridian.
 */
/** @type {typeof types.normalizeBox} */
export function normalizeBox(west, south, east, north) {
  for (const [k, v] of [['west', west], ['south', south], ['east', east], ['north', north]]) {
    if (!Number.isFinite(v)) throw codedError('bad_view', `pushmap: ${k} must be a finite number, got ${v}`);
  }
  const s = clamp(south, -MAX_LAT, MAX_LAT);
  const n = clamp(north, -MAX_LAT, MAX_LAT);
  if (west > east) east += 360;
  if (east - west >= 360) return [-180, s, 180, n];
  let w = mod(west + 180, 360) - 180; // [-180, 180)
  let e = 180 - mod(180 - east, 360); // (-180, 180]
  if (east === west) e = w;
  return [w, s, e, n];
}

function mod(a, b) {
  return ((a % b) + b) % b;
}

function clamp(x, lo, hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

/** @returns {types.PushmapError} */
function codedError(code, message) {
  return Object.assign(new Error(message), { code });
}

/** @returns {types.PushmapError} */
function toError(e, fallbackCode) {
  if (e instanceof Error) {
    const err = /** @type {types.PushmapError} */ (e);
    if (err.code === undefined) err.code = fallbackCode;
    return err;
  }
  if (e && typeof e === 'object') return codedError(String(e.code ?? fallbackCode), String(e.message ?? e.reason ?? 'unknown error'));
  return codedError(fallbackCode, String(e));
}
