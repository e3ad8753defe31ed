// demo-stats.js: URL parameters, colours, asset URLs and the status panel
// shared by the demo pages (index.html with demo.js, leaflet.html with
// leaflet-demo.js).

/** The demo's layers and their colours: the adapters know no layer names. */
export const DEMO_COLORS = Object.freeze({ flights: '#d9480f', vehicles: '#1971c2' });

/** The adapters' default cluster colour, for the legend. */
const CLUSTER_COLOR = '#7048e8';

/** demoLegend is the legend of the layers params asks for. */
export function demoLegend(params) {
  const items = params.layers
    .filter((l) => DEMO_COLORS[l])
    .map((l) => ({ label: l, color: DEMO_COLORS[l], shape: 'dot' }));
  items.push({ label: 'cluster (markers in it)', color: CLUSTER_COLOR, shape: 'cluster' });
  if (params.layers.includes('density')) items.push({ label: 'density (live tiles)', color: 'linear-gradient(90deg, #ffe066, #e8590c)', shape: 'area' });
  return items;
}

/**
 * markerPopup returns the HTML of a marker's popup: its id, layer and props,
 * escaped.
 */
export function markerPopup(m) {
  const esc = (v) => String(v).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const rows = Object.entries(m.props ?? {}).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  return `<div class="pushmap-popup"><b>${esc(m.id)}</b> <span>${esc(m.layer)}</span><table>${rows.join('')}</table></div>`;
}

/**
 * viewAround returns the box [west, south, east, north] a Web Mercator map of
 * width × height CSS pixels shows centred on lon, lat at zoom, for tiles of
 * tileSize pixels (MapLibre: 512; Leaflet: 256): what the map will report
 * once it exists, so the client can ask for it before the map library has
 * even loaded.
 */
export function viewAround(lon, lat, zoom, width, height, tileSize = 512) {
  const world = tileSize * 2 ** zoom;
  const x = ((lon + 180) / 360) * world;
  const sin = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
  const y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * world;
  const lonAt = (px) => (px / world) * 360 - 180;
  const latAt = (py) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * py) / world))) * 180) / Math.PI;
  return [lonAt(x - width / 2), latAt(Math.min(world, y + height / 2)), lonAt(x + width / 2), latAt(Math.max(0, y - height / 2))];
}

/**
 * assetURL returns the absolute URL of the page's <link id=... href> or
 * <meta id=... content>: the pages name every content-hashed file (build.mjs
 * writes them from its manifest), most in links that preload them, so the
 * scripts use exactly the files already on their way.
 */
export function assetURL(id) {
  const el = document.getElementById(id);
  const url = el?.getAttribute('href') ?? el?.getAttribute('content');
  if (!url) throw new Error(`the page has no <link id="${id}" href> or <meta id="${id}" content>: build it with build.mjs`);
  return new URL(url, location.href).href;
}

/**
 * demoParams reads the demo pages' URL parameters:
 * ?lon=&lat=&zoom= initial view, ?layers=a,b (default flights, vehicles and
 * the density tile layer), ?ws= WebSocket URL, ?token=, ?motion=0 (no
 * gliding), ?densityMs= (least time between two re-fetches of a density
 * tile, default 5000: BenchmarkDemoDensity).
 */
export function demoParams(search = location.search, defaults = {}) {
  const q = new URLSearchParams(search);
  const num = (k, d) => {
    const v = Number.parseFloat(q.get(k) ?? '');
    return Number.isFinite(v) ? v : d;
  };
  const layers = q.has('layers')
    ? q.get('layers').split(',').map((s) => s.trim()).filter(Boolean)
    : ['flights', 'vehicles', 'density'];
  return {
    lon: num('lon', defaults.lon ?? 10),
    lat: num('lat', defaults.lat ?? 50),
    zoom: num('zoom', defaults.zoom ?? 4),
    layers,
    ws: q.get('ws') || '/ws',
    token: q.get('token') ?? '',
    // ?motion=0: markers jump to their new position (default: they glide).
    motion: q.get('motion') !== '0',
    // ?declutter=0: below the budget every marker is drawn, overlapping or
    // not (default: markers closer than 40 px on screen are grouped into
    // counted clusters, docs/protocol.md, Decluttering).
    declutter: q.get('declutter') !== '0',
    // ?densityMs=N: least time between two re-fetches of a density tile
    // (Leaflet: of the whole layer), ms; 0 re-fetches on every change.
    densityMs: Math.max(0, num('densityMs', 5000)),
    // ?decorateMs=N: the longest the basemap and the density tiles wait for
    // the first snapshot to be drawn, ms from the map's making (Leaflet: the
    // basemap, ms from the script's start).
    decorateMs: Math.max(0, num('decorateMs', 1500)),
    // ?startWaitMs=N: the longest the MapLibre page waits for the first
    // snapshot before it makes the map, and for MapLibre's workers before it
    // adds the map's style and sources, ms from the script's start.
    startWaitMs: Math.max(0, num('startWaitMs', 600)),
  };
}

/**
 * StatusPanel fills el with the connection state, markers in view, clusters
 * in view (and the markers they stand for), updates/s (marker and cluster
 * changes),
 * kB/s received (sum of 'changes' frame sizes) and delivery latency (median
 * of Date.now() - marker.time over the last second, for updated markers with
 * a time).
 * The figures of the last full second are in panel.stats.
 */
export class StatusPanel {
  stats = {
    state: 'loading',
    shown: 0,
    held: 0,
    clusters: 0,
    clustered: 0, // markers the clusters in view stand for
    updatesPerSec: 0, // marker and cluster changes received
    clusterUpdatesPerSec: 0, // of which cluster changes
    kBps: 0,
    latencyMs: null,
    // Time from the start of the navigation to the first marker drawn, ms
    // (performance.now() then; also performance.mark 'pushmap:first-marker').
    firstMarkerMs: null,
    error: '',
  };
  #el;
  #dd = {};
  #count = 0;
  #clusterCount = 0;
  #bytes = 0;
  #lat = []; // latencies (ms) seen in the current second
  #client = null;
  #adapter = null;
  #timer = 0;

  constructor(el) {
    this.#el = el;
    const dl = document.createElement('dl');
    for (const [key, label] of [
      ['state', 'connection'],
      ['shown', 'markers in view'],
      ['clusters', 'clusters in view'],
      ['rate', 'updates/s'],
      ['kbps', 'received kB/s'],
      ['latency', 'latency (median)'],
      ['first', 'first marker after'],
    ]) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.id = `st-${key}`;
      dd.textContent = '–';
      dl.append(dt, dd);
      this.#dd[key] = dd;
    }
    this.#dd.error = document.createElement('div');
    this.#dd.error.className = 'error';
    this.#dd.error.id = 'st-error';
    el.replaceChildren(dl, this.#dd.error);
    this.#setState('loading');
  }

  /**
   * Starts counting the client's events, from its first (call it right
   * after connect, so no failure goes unseen); adapter (optional, or later
   * through useAdapter) gives markers and clusters in view.
   */
  watch(client, adapter) {
    this.#client = client;
    client.on('status', (s) => this.#setState(s.state, s.code ? `closed ${s.code}${s.reason ? `: ${s.reason}` : ''}` : ''));
    client.on('error', (e) => this.error(`${e.code}: ${e.message}`));
    // A cluster that changed is an update too: in cluster mode, most are.
    client.on('clusters', (e) => (this.#clusterCount += e.clusters.length));
    client.on('changes', (c) => {
      const now = Date.now();
      this.#count += c.added.length + c.updated.length + c.removed.length;
      this.#bytes += c.bytes || 0;
      // Latency of live updates only: a marker added because the view moved
      // carries the time it was last published, which may be long ago.
      if (this.#lat.length < 20000) {
        for (const m of c.updated) if (m.time > 0) this.#lat.push(now - m.time);
      }
    });
    this.#setState(client.status);
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), 1000);
    if (adapter) this.useAdapter(adapter);
  }

  /** Counts the markers and clusters adapter draws, and its first marker. */
  useAdapter(adapter) {
    this.#adapter = adapter;
    this.#watchFirstMarker(adapter);
  }

  // Looks at every animation frame until the adapter draws a marker and,
  // on MapLibre, right after every frame the map renders ('render'): the
  // frame that drew it, not the animation frame after it, which on a slow
  // GL can come a whole frame later.
  #watchFirstMarker(adapter) {
    let found = false;
    const onMapLibre = adapter.kind === 'maplibre';
    const seen = () => {
      if (found || adapter.shownMarkers().length === 0) return found;
      found = true;
      if (onMapLibre) adapter.map.off('render', seen);
      this.stats.firstMarkerMs = performance.now();
      performance.mark('pushmap:first-marker');
      this.#dd.first.textContent = `${Math.round(this.stats.firstMarkerMs)} ms`;
      return true;
    };
    const look = () => {
      if (!seen()) requestAnimationFrame(look);
    };
    if (onMapLibre) adapter.map.on('render', seen);
    requestAnimationFrame(look);
  }

  /**
   * legend shows what the map draws: items [{label, color, shape}], shape
   * 'dot' (a marker), 'cluster' (a cluster with its count) or 'area' (a tile
   * layer).
   */
  legend(items) {
    const ul = document.createElement('ul');
    ul.className = 'legend';
    ul.id = 'st-legend';
    for (const { label, color, shape } of items) {
      const li = document.createElement('li');
      const sym = document.createElement('span');
      sym.className = `sym ${shape}`;
      sym.style.background = color;
      if (shape === 'cluster') sym.textContent = '12';
      li.append(sym, document.createTextNode(label));
      ul.append(li);
    }
    this.#el.querySelector('#st-legend')?.remove();
    this.#el.append(ul);
  }

  /** Shows a message (e.g. a failed load) under the figures. */
  error(msg) {
    this.stats.error = msg;
    this.#dd.error.textContent = msg;
  }

  #setState(state, detail = '') {
    this.stats.state = state;
    this.#dd.state.textContent = state;
    this.#dd.state.className = `state-${state}`;
    if (detail) this.error(detail);
    else if (state === 'open') this.error('');
  }

  #tick() {
    const s = this.stats;
    s.updatesPerSec = this.#count + this.#clusterCount;
    s.clusterUpdatesPerSec = this.#clusterCount;
    this.#clusterCount = 0;
    s.kBps = this.#bytes / 1000;
    s.latencyMs = median(this.#lat);
    this.#count = 0;
    this.#bytes = 0;
    this.#lat = [];
    s.held = this.#client ? this.#client.markers().length : 0;
    s.shown = this.#adapter ? this.#adapter.shownMarkers().length : s.held;
    const clusters = this.#adapter?.shownClusters ? this.#adapter.shownClusters() : (this.#client?.clusters?.() ?? []);
    s.clusters = clusters.length;
    s.clustered = clusters.reduce((sum, c) => sum + c.count, 0);
    this.#dd.shown.textContent = String(s.shown);
    this.#dd.clusters.textContent = s.clusters ? `${s.clusters} (${s.clustered} markers)` : '0';
    this.#dd.rate.textContent = s.clusterUpdatesPerSec ? `${s.updatesPerSec} (${s.clusterUpdatesPerSec} clusters)` : String(s.updatesPerSec);
    this.#dd.kbps.textContent = s.kBps.toFixed(1);
    this.#dd.latency.textContent = s.latencyMs === null ? '–' : `${Math.round(s.latencyMs)} ms`;
  }
}

function median(xs) {
  if (!xs.length) return null;
  const a = Float64Array.from(xs).sort();
  const mid = a.length >> 1;
  return a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
}
