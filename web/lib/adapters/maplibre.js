// adapters/maplibre.js shows a pushmap client's markers and clusters on a
// MapLibre GL map (maplibre-gl ≥ 5.5: GeoJSON updateData diffs and
// refreshTiles).
//
//   import { attachMapLibre } from './adapters/maplibre.js';
//   const adapter = attachMapLibre(map, client);

import {
  ClusterSync,
  DEFAULT_CLUSTER_COLOR,
  DEFAULT_COLOR,
  MarkerSync,
  Throttle,
  ViewPusher,
  boundsView,
  cancelFrame,
  clusterRadiusExpression,
  countLabel,
  drawLabel,
  nextFrame,
  register,
  sourceTiles,
  tileBounds,
  watchStale,
} from './sync.js';

// Images of cluster count labels are named LABEL_IMAGE + the label's text
// and drawn when MapLibre first misses one ('styleimagemissing').
const LABEL_IMAGE = 'pushmap-count:';
const LABEL_SIZE = 40; // CSS pixels, square

/**
 * attachMapLibre adds a GeoJSON source and a circle layer for the client's
 * markers to map, and another pair for its clusters, keeps them in step
 * incrementally (one source.updateData diff per source and animation frame
 * at most; the data is set only once, empty, when a source is added) and
 * pushes the map's view to the client on 'move' and 'moveend'. It may be
 * called before the map's style has loaded.
 *
 * opts:
 *   sourceId    GeoJSON source id of the markers (default 'pushmap'); the
 *               layer is `${sourceId}-markers`
 *   layerId     circle layer id of the markers
 *   clusterSourceId GeoJSON source id of the clusters (default `${sourceId}-clusters`,
 *               promoteId 'key' = "z/x/y"); its layer is `${sourceId}-clusters`
 *   clusterLayerId circle layer id of the clusters
 *   beforeId    insert the layers below this one (clusters under markers)
 *   colors      {layerName: colour} (default: none, every layer in defaultColor)
 *   defaultColor colour of markers of layers colors does not name (default '#1c7ed6')
 *   radius      circle radius in pixels (default: 3 at zoom ≤ 2 up to 6 at zoom ≥ 10)
 *   clusterColor  colour of clusters (default a violet no marker has)
 *   clusterRadius circle-radius of clusters (default: 4 px for one marker,
 *               growing with sqrt(count) to 18 px at a million)
 *   tileSources {pushmapLayer: mapSourceId}: 'tile' events of that layer
 *               refresh the source's tiles with map.refreshTiles, coalesced
 *               per frame (see below)
 *   tileRefreshMs least time between two refreshes of one tile (default 0:
 *               every change, at the next frame); a tile that changes
 *               again sooner is refreshed once when the time is over, so a
 *               fast-changing tile layer costs at most one request per tile
 *               and period
 *   staleOpacity opacity of markers and clusters while the client is not
 *               connected (default 0.35): what is drawn may be out of date
 *   zoomOffset  added to map.getZoom() before it is sent (default 1: MapLibre
 *               uses 512-pixel tiles, the protocol the slippy-map zoom of
 *               256-pixel tiles, one more for the same scale)
 *   clusterLabels draw each cluster's count on it (default true): a symbol
 *               layer `${sourceId}-cluster-labels` of images drawn on a
 *               canvas (countLabel: 12, 1.2k, 3.4M), as no glyph files ship
 *   clusterClickZoom fit the map to a cluster's tile when it is clicked
 *               (default true): the view then holds fewer markers and the
 *               server sends them, or finer clusters
 *   onMarkerClick(marker, event)  a marker was clicked: the client's marker
 *               (id, layer, lon, lat, version, time, props), MapLibre's event
 *   onMarkerHover(marker | null, event)  the pointer entered a marker, or
 *               left the markers (null); the cursor is a pointer over them
 *   onClusterClick(cluster, event)  a cluster was clicked (before the zoom)
 *
 * Tile events carry a slippy-map tile at the zoom the server takes the view
 * to display: the view's zoom rounded down. A raster source of tileSize 256
 * uses the same z/x/y, but MapLibre rounds a raster source's zoom to the
 * nearest (so above x.5 it shows tiles of the next zoom) and shows tiles of
 * its maxzoom when zoomed in beyond it. The adapter therefore refreshes the
 * tiles the source shows now that lie in the changed tile: the tile itself,
 * its four (or more) children, or its ancestor. Pitched maps, whose tiles
 * vary in zoom across the view, are not handled specially.
 *
 * Marker feature properties: the marker's props, then id, layer, version,
 * time, lon, lat (these win over props of the same name). Cluster feature
 * properties: key ("z/x/y"), z, x, y, count, lon, lat.
 *
 * @param {any} map
 * @param {import('../types/pushmap.js').Client} client
 * @param {import('../types/maplibre.js').MapLibreAdapterOptions} [opts]
 * @returns {import('../types/maplibre.js').MapLibreAdapter<any>}
 */
export function attachMapLibre(map, client, opts = {}) {
  const sourceId = opts.sourceId ?? 'pushmap';
  const layerId = opts.layerId ?? `${sourceId}-markers`;
  const clusterSourceId = opts.clusterSourceId ?? `${sourceId}-clusters`;
  const clusterLayerId = opts.clusterLayerId ?? `${sourceId}-clusters`;
  const clusterColor = opts.clusterColor ?? DEFAULT_CLUSTER_COLOR;
  const clusterRadius = opts.clusterRadius ?? clusterRadiusExpression;
  const colors = { ...(opts.colors ?? {}) };
  const defaultColor = opts.defaultColor ?? DEFAULT_COLOR;
  const tileSources = opts.tileSources ?? {};
  const zoomOffset = opts.zoomOffset ?? 1;
  const radius = opts.radius ?? ['interpolate', ['linear'], ['zoom'], 2, 3, 10, 6];
  const staleOpacity = opts.staleOpacity ?? 0.35;
  const tileRefreshMs = opts.tileRefreshMs ?? 0;
  const clusterLabels = opts.clusterLabels ?? true;
  const clusterClickZoom = opts.clusterClickZoom ?? true;
  const labelLayerId = `${sourceId}-cluster-labels`;
  // Drawn markers fade while the client is disconnected.
  const stale = watchStale(client, () => applyStale());
  const markerOpacity = () => (stale.stale ? staleOpacity : 1);
  const clusterOpacity = () => (stale.stale ? staleOpacity * 0.8 : 0.8);
  function applyStale() {
    if (map.getLayer(layerId)) {
      map.setPaintProperty(layerId, 'circle-opacity', markerOpacity());
      map.setPaintProperty(layerId, 'circle-stroke-opacity', markerOpacity());
    }
    if (map.getLayer(clusterLayerId)) {
      map.setPaintProperty(clusterLayerId, 'circle-opacity', clusterOpacity());
      map.setPaintProperty(clusterLayerId, 'circle-stroke-opacity', markerOpacity());
    }
    if (map.getLayer(labelLayerId)) map.setPaintProperty(labelLayerId, 'icon-opacity', markerOpacity());
  }

  const match = ['match', ['get', 'layer']];
  for (const [layer, color] of Object.entries(colors)) match.push(layer, color);
  match.push(defaultColor);

  const sync = new MarkerSync(client, apply, { paused: true });
  const clusterSync = new ClusterSync(client, applyClusters, { paused: true });
  const view = new ViewPusher(client, boundsView(map, zoomOffset), () => sync.reconcile());

  function addLayer() {
    if (!map.getSource(clusterSourceId)) {
      map.addSource(clusterSourceId, {
        type: 'geojson',
        data: { type: 'FeatureCollection', features: [] },
        promoteId: 'key',
      });
    }
    if (!map.getLayer(clusterLayerId)) {
      map.addLayer(
        {
          id: clusterLayerId,
          type: 'circle',
          source: clusterSourceId,
          paint: {
            'circle-color': clusterColor,
            'circle-opacity': clusterOpacity(),
            'circle-stroke-opacity': markerOpacity(),
            'circle-radius': clusterRadius,
            'circle-stroke-color': '#ffffff',
            'circle-stroke-width': 1.5,
          },
        },
        opts.beforeId,
      );
    }
    if (clusterLabels && !map.getLayer(labelLayerId)) {
      map.addLayer(
        {
          id: labelLayerId,
          type: 'symbol',
          source: clusterSourceId,
          layout: {
            'icon-image': ['concat', LABEL_IMAGE, ['get', 'label']],
            'icon-allow-overlap': true,
            'icon-ignore-placement': true,
          },
          paint: { 'icon-opacity': markerOpacity() },
        },
        opts.beforeId,
      );
    }
    if (!map.getSource(sourceId)) {
      map.addSource(sourceId, {
        type: 'geojson',
        data: { type: 'FeatureCollection', features: [] },
        promoteId: 'id',
      });
    }
    if (!map.getLayer(layerId)) {
      map.addLayer(
        {
          id: layerId,
          type: 'circle',
          source: sourceId,
          paint: {
            'circle-color': match.length > 3 ? match : defaultColor,
            'circle-opacity': markerOpacity(),
            'circle-stroke-opacity': markerOpacity(),
            'circle-radius': radius,
            'circle-stroke-color': '#ffffff',
            'circle-stroke-width': 1,
          },
        },
        opts.beforeId,
      );
    }
    sync.rebuild();
    sync.resume();
    clusterSync.rebuild();
    clusterSync.resume();
  }

  function apply({ reset, upserts, removes }) {
    const source = map.getSource(sourceId);
    if (!source) return;
    const diff = {};
    if (reset) diff.removeAll = true;
    const add = [];
    const update = [];
    for (const { marker, prev } of upserts) {
      const props = properties(marker);
      const geometry = { type: 'Point', coordinates: [marker.lon, marker.lat] };
      if (!prev) {
        add.push({ type: 'Feature', id: marker.id, geometry, properties: props });
        continue;
      }
      const u = { id: marker.id, newGeometry: geometry };
      if (prev.version !== marker.version || prev.layer !== marker.layer) {
        u.addOrUpdateProperties = Object.entries(props).map(([key, value]) => ({ key, value }));
        const stale = Object.keys(properties(prev)).filter((k) => !(k in props));
        if (stale.length) u.removeProperties = stale;
      } else {
        u.addOrUpdateProperties = [
          { key: 'lon', value: marker.lon },
          { key: 'lat', value: marker.lat },
          { key: 'time', value: marker.time },
        ];
      }
      update.push(u);
    }
    if (removes.length) diff.remove = removes;
    if (add.length) diff.add = add;
    if (update.length) diff.update = update;
    source.updateData(diff).catch((err) => console.warn(`pushmap: updateData on ${sourceId}: ${err?.message ?? err}`));
  }

  function applyClusters({ clear, upserts, removes }) {
    const source = map.getSource(clusterSourceId);
    if (!source) return;
    const diff = {};
    if (clear) diff.removeAll = true;
    const add = [];
    const update = [];
    for (const { key, cluster: c, prev } of upserts) {
      const props = { key, z: c.z, x: c.x, y: c.y, count: c.count, lon: c.lon, lat: c.lat, label: countLabel(c.count) };
      const geometry = { type: 'Point', coordinates: [c.lon, c.lat] };
      if (!prev) add.push({ type: 'Feature', geometry, properties: props });
      else {
        update.push({
          id: key,
          newGeometry: geometry,
          addOrUpdateProperties: [
            { key: 'count', value: c.count },
            { key: 'label', value: countLabel(c.count) },
            { key: 'lon', value: c.lon },
            { key: 'lat', value: c.lat },
          ],
        });
      }
    }
    if (removes.length) diff.remove = removes;
    if (add.length) diff.add = add;
    if (update.length) diff.update = update;
    source.updateData(diff).catch((err) => console.warn(`pushmap: updateData on ${clusterSourceId}: ${err?.message ?? err}`));
  }

  // 'tile' events, coalesced per frame into one refreshTiles per source,
  // and per tile to one refresh every tileRefreshMs: a tile changed again
  // within that time is refreshed once when it is over.
  let tiles = new Map(); // sourceId -> Map("z/x/y" -> {x, y, z}) as the events gave them
  let tileFrame = 0;
  const refreshes = new Throttle(tileRefreshMs, ([src, t]) => queueTile(src, t));
  function onTile(t) {
    const src = tileSources[t.layer];
    if (src) refreshes.hit(`${src}|${t.z}/${t.x}/${t.y}`, [src, t]);
  }
  function queueTile(src, t) {
    let set = tiles.get(src);
    if (!set) tiles.set(src, (set = new Map()));
    set.set(`${t.z}/${t.x}/${t.y}`, { x: t.x, y: t.y, z: t.z });
    if (!tileFrame) {
      tileFrame = nextFrame(() => {
        tileFrame = 0;
        const batch = tiles;
        tiles = new Map();
        for (const [src, set] of batch) refresh(src, [...set.values()]);
      });
    }
  }

  // refresh reloads the tiles of source src that show the changed tiles.
  function refresh(src, changed) {
    const source = map.getSource(src);
    if (!source) return;
    const z = sourceZoom(map, source);
    const out = new Map();
    for (const t of changed) {
      const mapped = sourceTiles(t, z);
      if (!mapped) {
        map.refreshTiles(src); // too many to list: everything
        return;
      }
      for (const m of mapped) out.set(`${m.z}/${m.x}/${m.y}`, m);
    }
    if (out.size) map.refreshTiles(src, [...out.values()]);
  }

  const onMove = () => view.push(false);
  const onMoveEnd = () => view.push(true);
  const onStyleLoad = () => {
    // setStyle dropped them
    if (!map.getSource(sourceId) || !map.getLayer(layerId) || !map.getSource(clusterSourceId) || !map.getLayer(clusterLayerId)) {
      addLayer();
    }
  };
  // Count labels: an image per label text, drawn when first needed.
  const onImageMissing = (e) => {
    if (!e.id?.startsWith(LABEL_IMAGE) || map.hasImage(e.id)) return;
    const ratio = Math.max(1, Math.round(globalThis.devicePixelRatio ?? 1));
    const canvas = drawLabel(e.id.slice(LABEL_IMAGE.length), LABEL_SIZE, ratio);
    map.addImage(e.id, canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height), { pixelRatio: ratio });
  };
  // Clicks and hovers: the client's marker (as last applied) for a feature.
  const markerOf = (e) => {
    const f = e.features?.[0];
    const id = f?.properties?.id ?? f?.id;
    return id === undefined ? undefined : sync.shown.get(String(id));
  };
  const onMarkerClick = (e) => {
    const m = markerOf(e);
    if (m && opts.onMarkerClick) opts.onMarkerClick(m, e);
  };
  let hovered = null;
  const onMarkerMove = (e) => {
    const m = markerOf(e);
    map.getCanvas().style.cursor = 'pointer';
    if (m && m.id !== hovered?.id) {
      hovered = m;
      opts.onMarkerHover?.(m, e);
    }
  };
  const onMarkerLeave = (e) => {
    map.getCanvas().style.cursor = '';
    if (hovered) {
      hovered = null;
      opts.onMarkerHover?.(null, e);
    }
  };
  const onClusterClick = (e) => {
    const key = e.features?.[0]?.properties?.key;
    const c = key === undefined ? undefined : clusterSync.shown.get(key);
    if (!c) return;
    opts.onClusterClick?.({ key, ...c }, e);
    if (clusterClickZoom) zoomToCluster(c);
  };
  const onClusterEnter = () => (map.getCanvas().style.cursor = 'pointer');
  const onClusterLeave = () => (map.getCanvas().style.cursor = '');
  // zoomToCluster fits the map to the cluster's tile.
  function zoomToCluster(c) {
    const [w, s, e, n] = tileBounds(c);
    map.fitBounds([[w, s], [e, n]], { padding: 40 });
  }
  const layerEvents = [
    ['click', layerId, onMarkerClick],
    ['mousemove', layerId, onMarkerMove],
    ['mouseleave', layerId, onMarkerLeave],
    ['click', clusterLayerId, onClusterClick],
    ['mouseenter', clusterLayerId, onClusterEnter],
    ['mouseleave', clusterLayerId, onClusterLeave],
  ];
  for (const [type, layer, fn] of layerEvents) map.on(type, layer, fn);
  map.on('styleimagemissing', onImageMissing);
  map.on('move', onMove);
  map.on('moveend', onMoveEnd);
  map.on('style.load', onStyleLoad);
  const offTile = client.on('tile', onTile);

  if (styleLoaded(map)) addLayer();
  // else 'style.load' adds it.
  view.push(true);

  let unregister;
  const adapter = {
    kind: /** @type {const} */ ('maplibre'),
    map,
    client,
    sourceId,
    layerId,
    clusterSourceId,
    clusterLayerId,
    /** True while the client is not connected and the markers drawn are faded. */
    get stale() {
      return stale.stale;
    },
    /** Opacity of the markers drawn now (1, or staleOpacity while disconnected). */
    markerOpacity() {
      return map.getLayer(layerId) ? map.getPaintProperty(layerId, 'circle-opacity') : markerOpacity();
    },
    /** Markers rendered in the viewport now: [{id, layer, lon, lat}], one per id. */
    shownMarkers() {
      if (!map.getLayer(layerId)) return [];
      const byId = new Map();
      for (const f of map.queryRenderedFeatures({ layers: [layerId] })) {
        const p = f.properties ?? {};
        const id = p.id ?? f.id;
        if (!byId.has(id)) byId.set(id, { id, layer: p.layer, lon: p.lon, lat: p.lat });
      }
      return [...byId.values()];
    },
    /** The count labels drawn in the viewport now: [{key, label}], one per cluster. */
    shownClusterLabels() {
      if (!map.getLayer(labelLayerId)) return [];
      const byKey = new Map();
      for (const f of map.queryRenderedFeatures({ layers: [labelLayerId] })) {
        const p = f.properties ?? {};
        if (!byKey.has(p.key) && map.hasImage(LABEL_IMAGE + p.label)) byKey.set(p.key, { key: p.key, label: p.label });
      }
      return [...byKey.values()];
    },
    /** Fits the map to the tile of the cluster drawn under key ("z/x/y"), as a click on it does. */
    zoomToCluster(key) {
      const c = clusterSync.shown.get(key);
      if (c) zoomToCluster(c);
    },
    /** Clusters rendered in the viewport now: [{key, z, x, y, count, lon, lat}], one per key. */
    shownClusters() {
      if (!map.getLayer(clusterLayerId)) return [];
      const byKey = new Map();
      for (const f of map.queryRenderedFeatures({ layers: [clusterLayerId] })) {
        const p = f.properties ?? {};
        const key = p.key ?? f.id;
        if (!byKey.has(key)) byKey.set(key, { key, z: p.z, x: p.x, y: p.y, count: p.count, lon: p.lon, lat: p.lat });
      }
      return [...byKey.values()];
    },
    /** Stops syncing, removes the layers and sources and the registration. */
    detach() {
      sync.stop();
      clusterSync.stop();
      view.stop();
      offTile();
      stale.off();
      if (tileFrame) cancelFrame(tileFrame);
      refreshes.stop();
      map.off('move', onMove);
      map.off('moveend', onMoveEnd);
      map.off('style.load', onStyleLoad);
      map.off('styleimagemissing', onImageMissing);
      for (const [type, layer, fn] of layerEvents) map.off(type, layer, fn);
      if (map.getLayer(labelLayerId)) map.removeLayer(labelLayerId);
      if (map.getLayer(layerId)) map.removeLayer(layerId);
      if (map.getSource(sourceId)) map.removeSource(sourceId);
      if (map.getLayer(clusterLayerId)) map.removeLayer(clusterLayerId);
      if (map.getSource(clusterSourceId)) map.removeSource(clusterSourceId);
      unregister();
    },
  };
  unregister = register(adapter);
  return adapter;
}

function properties(m) {
  return { ...(m.props ?? {}), id: m.id, layer: m.layer, version: m.version, time: m.time, lon: m.lon, lat: m.lat };
}

/**
 * sourceZoom is the zoom of the tiles a tiled source shows at the map's
 * zoom, as MapLibre chooses them: map zoom + log2(512 / tileSize), rounded to
 * the nearest for raster sources (roundZoom) and down for others, at most the
 * source's maxzoom (beyond it the maxzoom tiles are scaled up).
 */
/** @type {typeof import('../types/maplibre.js').sourceZoom} */
export function sourceZoom(map, source) {
  const tileSize = source.tileSize ?? 512;
  const ideal = map.getZoom() + Math.log2(512 / tileSize);
  const round = source.roundZoom ?? (source.type === 'raster' || source.type === 'raster-dem');
  const z = round ? Math.round(ideal) : Math.floor(ideal);
  return Math.max(0, Math.min(z, source.maxzoom ?? 22));
}

function styleLoaded(map) {
  // Style#loaded() also waits for every source's tiles; adding a source only
  // needs the style document itself, which 'style.load' announces.
  return Boolean(map.style && map.style._loaded);
}
