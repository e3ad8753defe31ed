// adapters/leaflet.js shows a pushmap client's markers and clusters on a
// Leaflet 1.9 map.
//
//   import { attachLeaflet } from './adapters/leaflet.js';
//   const adapter = attachLeaflet(map, client, L);

import {
  ClusterSync,
  DEFAULT_CLUSTER_COLOR,
  DEFAULT_COLOR,
  Glide,
  HEADING_TIP,
  LABEL_HALO,
  MarkerSync,
  Throttle,
  ViewPusher,
  boundsView,
  cancelFrame,
  clusterRadius,
  countLabel,
  drawHeadingPath,
  headingOf,
  labelFont,
  nextFrame,
  register,
  watchStale,
} from './sync.js';

/**
 * attachLeaflet keeps one layer group of L.circleMarker (id -> marker; a move
 * is a setLatLng) in step with client, and another for its clusters (key
 * "z/x/y" -> circle, its radius growing with sqrt(count)), applying changes
 * at most once per animation frame, and pushes the map's view to the client
 * on 'move' and 'moveend'. L is the Leaflet namespace (default globalThis.L).
 *
 * Leaflet does not repeat vector layers on world copies, so each marker and
 * cluster is drawn on the copy of the world nearest the map's centre (its
 * longitude shifted by a multiple of 360°), re-chosen after every move.
 *
 * Leaflet cannot re-fetch one tile of a tile layer: a 'tile' event of a layer
 * in tileLayers redraws that whole layer, at most once every tileRedrawMs
 * (the last change within that time is not lost: one more redraw follows).
 *
 * opts:
 *   colors       {layerName: colour} (default: none, every layer in defaultColor)
 *   defaultColor colour of markers of layers colors does not name (default '#1c7ed6')
 *   radius       circle radius in pixels (default 5)
 *   clusterColor colour of clusters (default a violet no marker has)
 *   renderer     an L.Renderer for markers and clusters (default: a shared L.canvas())
 *   tileLayers   {pushmapLayer: L.GridLayer}: 'tile' events of that layer
 *                redraw it
 *   tileRedrawMs least time between two redraws of one tile layer (default 1000)
 *   staleOpacity opacity of markers and clusters while the client is not
 *                connected (default 0.35): what is drawn may be out of date
 *   zoomOffset   added to map.getZoom() before it is sent (default 0)
 *   clusterLabels draw each cluster's count on it (default true): an
 *                L.marker with an L.divIcon per cluster, in the clusters' group
 *   clusterClickZoom zoom to a cluster's expansion zoom, centred on it, when it is clicked
 *                (default true)
 *   onMarkerClick(marker, event), onMarkerHover(marker | null, event),
 *   onClusterClick(cluster, event)  as attachMapLibre's, with Leaflet's
 *                events; markers are interactive only when a marker hook is
 *                given
 *   motion, motionMaxMs, motionMaxPx  as attachMapLibre's: moved markers
 *                glide (default true)
 *
 * A cluster of count 1 carrying its marker (an isolated marker of a
 * decluttered view) is drawn as that marker, in the markers' group.
 *
 * With the canvas renderer (the default), a marker whose props.heading is a
 * number is drawn as a circle drawn out into a point towards its heading,
 * as on MapLibre; other renderers draw circles.
 *
 * @param {any} map
 * @param {import('../types/pushmap.js').Client} client
 * @param {any} [L]
 * @param {import('../types/leaflet.js').LeafletAdapterOptions} [opts]
 * @returns {import('../types/leaflet.js').LeafletAdapter<any>}
 */
export function attachLeaflet(map, client, L = globalThis.L, opts = {}) {
  if (!L || typeof L.circleMarker !== 'function') throw new TypeError('attachLeaflet: pass the Leaflet namespace L');
  const colors = { ...(opts.colors ?? {}) };
  const defaultColor = opts.defaultColor ?? DEFAULT_COLOR;
  const radius = opts.radius ?? 5;
  const renderer = opts.renderer ?? L.canvas({ padding: 0.5 });
  const tileLayers = opts.tileLayers ?? {};
  const tileRedrawMs = opts.tileRedrawMs ?? 1000;
  const zoomOffset = opts.zoomOffset ?? 0;
  const clusterColor = opts.clusterColor ?? DEFAULT_CLUSTER_COLOR;
  const staleOpacity = opts.staleOpacity ?? 0.35;
  const clusterLabels = opts.clusterLabels ?? true;
  const clusterClickZoom = opts.clusterClickZoom ?? true;
  const markersInteractive = Boolean(opts.onMarkerClick || opts.onMarkerHover);
  const motion = opts.motion ?? true;
  const Marker = headingMarkerClass(L);
  const newMarker = (ll, o) => (Marker ? new Marker(ll, o) : L.circleMarker(ll, o));
  const clusterLabelMarkers = new Map(); // key -> L.Marker with the count
  // Drawn markers fade while the client is disconnected.
  const stale = watchStale(client, () => {
    for (const c of circles.values()) c.setStyle({ opacity: fade(), fillOpacity: 0.9 * fade() });
    for (const c of clusterCircles.values()) c.setStyle({ opacity: fade(), fillOpacity: 0.8 * fade() });
    for (const m of clusterLabelMarkers.values()) m.setOpacity(fade());
  });
  const fade = () => (stale.stale ? staleOpacity : 1);

  const clusterGroup = L.layerGroup().addTo(map);
  const clusterCircles = new Map(); // key -> L.CircleMarker
  const group = L.layerGroup().addTo(map);
  const circles = new Map(); // id -> L.CircleMarker
  const color = (layer) => colors[layer] ?? defaultColor;
  let centerLon = map.getCenter().lng;
  // The longitude at which to draw lon: the copy nearest the map's centre.
  const near = (lon) => lon + 360 * Math.round((centerLon - lon) / 360);

  // Gliding markers: a setLatLng each per frame.
  const glide = new Glide({
    worldSize: () => 256 * 2 ** map.getZoom(),
    maxMs: opts.motionMaxMs,
    maxPx: opts.motionMaxPx,
    draw: (at) => {
      for (const { id, lon, lat } of at) circles.get(id)?.setLatLng([lat, near(lon)]);
    },
  });

  function apply({ reset, upserts, removes }) {
    if (reset) {
      group.clearLayers();
      circles.clear();
      glide.clear();
    }
    for (const id of removes) {
      glide.drop(id);
      const c = circles.get(id);
      if (c) {
        group.removeLayer(c);
        circles.delete(id);
      }
    }
    for (const { marker: m, prev } of upserts) {
      const moved = prev && (prev.lon !== m.lon || prev.lat !== m.lat);
      // Where to draw it now: gliding from where it is drawn, or there.
      const [lon, lat] = moved && motion ? glide.move(m.id, prev, m) : (glide.position(m.id) ?? [m.lon, m.lat]);
      const ll = [lat, near(lon)];
      let c = circles.get(m.id);
      if (!c) {
        c = newMarker(ll, {
          renderer,
          radius,
          heading: headingOf(m),
          color: '#ffffff',
          weight: 1,
          opacity: fade(),
          fillColor: color(m.layer),
          fillOpacity: 0.9 * fade(),
          interactive: markersInteractive,
        });
        c.pushmapId = m.id;
        if (markersInteractive) {
          c.on('click', (e) => opts.onMarkerClick?.(sync.shown.get(c.pushmapId), e));
          c.on('mouseover', (e) => opts.onMarkerHover?.(sync.shown.get(c.pushmapId), e));
          c.on('mouseout', (e) => opts.onMarkerHover?.(null, e));
        }
        circles.set(m.id, c);
        group.addLayer(c);
      } else {
        c.setLatLng(ll);
        if (c.options.fillColor !== color(m.layer) || c.options.heading !== headingOf(m)) {
          c.setStyle({ fillColor: color(m.layer), heading: headingOf(m) });
        }
      }
    }
  }

  function applyClusters({ clear, upserts, removes }) {
    if (clear) {
      clusterGroup.clearLayers();
      clusterCircles.clear();
      clusterLabelMarkers.clear();
    }
    for (const key of removes) {
      const c = clusterCircles.get(key);
      if (c) {
        clusterGroup.removeLayer(c);
        clusterCircles.delete(key);
      }
      const label = clusterLabelMarkers.get(key);
      if (label) {
        clusterGroup.removeLayer(label);
        clusterLabelMarkers.delete(key);
      }
    }
    for (const { key, cluster: cl } of upserts) {
      const ll = [cl.lat, near(cl.lon)];
      let c = clusterCircles.get(key);
      if (!c) {
        c = L.circleMarker(ll, {
          renderer,
          radius: clusterRadius(cl.count),
          color: '#ffffff',
          weight: 1.5,
          opacity: fade(),
          fillColor: clusterColor,
          fillOpacity: 0.8 * fade(),
          interactive: true,
        });
        c.pushmapKey = key;
        c.on('click', (e) => onClusterClick(key, e));
        clusterCircles.set(key, c);
        clusterGroup.addLayer(c);
      } else {
        c.setLatLng(ll);
        c.setRadius(clusterRadius(cl.count));
      }
      if (clusterLabels) setLabel(key, ll, countLabel(cl.count));
    }
  }

  // setLabel puts the count label of cluster key at ll: an HTML marker over
  // the canvas circles that lets clicks through to its circle.
  function setLabel(key, ll, text) {
    let m = clusterLabelMarkers.get(key);
    if (!m) {
      m = L.marker(ll, { icon: labelIcon(text), interactive: false, keyboard: false, opacity: fade() });
      m.pushmapLabel = text;
      clusterLabelMarkers.set(key, m);
      clusterGroup.addLayer(m);
      return;
    }
    m.setLatLng(ll);
    if (m.pushmapLabel !== text) {
      m.pushmapLabel = text;
      m.setIcon(labelIcon(text));
    }
  }
  function labelIcon(text) {
    return L.divIcon({
      className: 'pushmap-cluster-label',
      html: `<span style='display:block;font:${labelFont(text)};line-height:20px;color:#fff;text-align:center;text-shadow:0 0 2px ${LABEL_HALO},0 0 2px ${LABEL_HALO};pointer-events:none'>${text}</span>`,
      iconSize: [40, 20],
      iconAnchor: [20, 10],
    });
  }
  function onClusterClick(key, e) {
    const cl = clusterSync.get(key);
    if (!cl) return;
    opts.onClusterClick?.({ ...cl }, e);
    if (clusterClickZoom) zoomToCluster(cl);
  }
  // zoomToCluster zooms to the cluster's expansion zoom (less zoomOffset),
  // centred on it on the world copy in view: there it splits.
  function zoomToCluster(cl) {
    map.setView([cl.lat, near(cl.lon)], cl.expansionZoom - zoomOffset);
  }

  const sync = new MarkerSync(client, apply);
  const clusterSync = new ClusterSync(client, applyClusters);
  const view = new ViewPusher(client, boundsView(map, zoomOffset), () => sync.reconcile());

  function rewrap() {
    centerLon = map.getCenter().lng;
    for (const [id, c] of circles) {
      const m = sync.shown.get(id);
      if (!m) continue;
      const [lon0, lat] = glide.position(id) ?? [m.lon, m.lat];
      const lon = near(lon0);
      if (lon !== c.getLatLng().lng) c.setLatLng([lat, lon]);
    }
    for (const [key, c] of clusterCircles) {
      const cl = clusterSync.get(key);
      if (!cl) continue;
      const lon = near(cl.lon);
      if (lon !== c.getLatLng().lng) {
        c.setLatLng([cl.lat, lon]);
        clusterLabelMarkers.get(key)?.setLatLng([cl.lat, lon]);
      }
    }
  }

  // Tile layers to redraw: each at the next frame, and at most once every
  // tileRedrawMs.
  const frames = new Map(); // layer -> frame of its redraw
  const redraws = new Throttle(tileRedrawMs, (layer) => {
    if (frames.has(layer)) return;
    frames.set(layer, nextFrame(() => {
      frames.delete(layer);
      layer.redraw();
    }));
  });
  function onTile(t) {
    const layer = tileLayers[t.layer];
    if (layer) redraws.hit(t.layer, layer);
  }

  const onMove = () => view.push(false);
  const onMoveEnd = () => {
    rewrap();
    view.push(true);
  };
  map.on('move', onMove);
  map.on('moveend', onMoveEnd);
  const offTile = client.on('tile', onTile);
  view.push(true);

  let unregister;
  const adapter = {
    kind: /** @type {const} */ ('leaflet'),
    map,
    client,
    layerGroup: group,
    clusterGroup,
    /** True while the client is not connected and the markers drawn are faded. */
    get stale() {
      return stale.stale;
    },
    /** Opacity of the markers drawn now (1, or staleOpacity while disconnected). */
    markerOpacity() {
      const c = circles.values().next().value;
      return c ? c.options.opacity : fade();
    },
    /** Markers drawn inside the map's current bounds: [{id, layer, lon, lat}]. */
    shownMarkers() {
      const bounds = map.getBounds();
      const out = [];
      for (const [id, c] of circles) {
        if (!bounds.contains(c.getLatLng())) continue;
        const m = sync.shown.get(id);
        out.push({ id, layer: m?.layer, lon: m?.lon, lat: m?.lat });
      }
      return out;
    },
    /** The count labels drawn inside the map's current bounds: [{key, label}]. */
    shownClusterLabels() {
      const bounds = map.getBounds();
      const out = [];
      for (const [key, m] of clusterLabelMarkers) {
        if (bounds.contains(m.getLatLng()) && m.getElement?.()?.textContent === m.pushmapLabel) out.push({ key, label: m.pushmapLabel });
      }
      return out;
    },
    /** Zooms to the expansion zoom of the cluster drawn under key ("view/id"), centred on it, as a click on it does. */
    zoomToCluster(key) {
      const cl = clusterSync.get(key);
      if (cl) zoomToCluster(cl);
    },
    /** Clusters drawn inside the map's current bounds: [{key, view, id, z, count, lon, lat, expansionZoom}]. */
    shownClusters() {
      const bounds = map.getBounds();
      const out = [];
      for (const [key, c] of clusterCircles) {
        if (!bounds.contains(c.getLatLng())) continue;
        const cl = clusterSync.get(key);
        if (cl) out.push({ ...cl });
      }
      return out;
    },
    /** Stops syncing, removes the markers, the clusters and the registration. */
    detach() {
      sync.stop();
      glide.stop();
      clusterSync.stop();
      view.stop();
      offTile();
      stale.off();
      redraws.stop();
      for (const frame of frames.values()) cancelFrame(frame);
      frames.clear();
      map.off('move', onMove);
      map.off('moveend', onMoveEnd);
      group.remove();
      circles.clear();
      clusterGroup.remove();
      clusterCircles.clear();
      clusterLabelMarkers.clear();
      unregister();
    },
  };
  unregister = register(adapter);
  return adapter;
}

// The marker class of each Leaflet namespace: L.CircleMarker drawing, on a
// canvas renderer, a circle drawn out into a point towards options.heading
// (degrees clockwise from north) when it is a number.
const headingMarkers = new WeakMap();

function headingMarkerClass(L) {
  if (typeof L.CircleMarker?.extend !== 'function' || typeof L.bounds !== 'function') return null;
  let Marker = headingMarkers.get(L);
  if (Marker) return Marker;
  const base = L.CircleMarker.prototype;
  Marker = L.CircleMarker.extend({
    // The point reaches beyond the circle: its bounds, which the canvas
    // renderer redraws, must hold it.
    _updateBounds() {
      const d = this._radius * HEADING_TIP + this._clickTolerance();
      this._pxBounds = L.bounds(this._point.subtract([d, d]), this._point.add([d, d]));
    },
    _updatePath() {
      const r = this._renderer;
      const h = this.options.heading;
      if (typeof h !== 'number' || !r?._ctx || typeof r._fillStroke !== 'function') {
        base._updatePath.call(this);
        return;
      }
      if (!r._drawing || this._empty()) return;
      drawHeadingPath(r._ctx, this._point.x, this._point.y, Math.max(Math.round(this._radius), 1), h);
      r._fillStroke(r._ctx, this);
    },
  });
  headingMarkers.set(L, Marker);
  return Marker;
}
