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
  Glide,
  HEADING_TIP,
  MarkerSync,
  Throttle,
  ViewPusher,
  boundsView,
  cancelFrame,
  clusterRadiusExpression,
  countLabel,
  drawHeadingPath,
  drawLabel,
  headingOf,
  nextFrame,
  register,
  sourceTiles,
  watchStale,
} from './sync.js';

// Images of cluster count labels are named LABEL_IMAGE + the label's text
// and drawn when MapLibre first misses one ('styleimagemissing').
const LABEL_IMAGE = 'pushmap-count:';
const LABEL_SIZE = 40; // CSS pixels, square
// Images of markers with a heading are named HEADING_IMAGE + their colour:
// a circle of radius HEADING_RADIUS CSS pixels drawn out into a point
// towards north, scaled to the marker radius and rotated by the heading.
const HEADING_IMAGE = 'pushmap-heading:';
const HEADING_RADIUS = 10;

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
 *               promoteId 'key' = "view/id"); its layer is `${sourceId}-clusters`
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
 *               canvas (countLabel: 12, 1.2k, 3.4M), as no glyph files ship;
 *               added when the first cluster comes
 *   clusterClickZoom zoom to a cluster's expansion zoom, centred on it, when it is clicked
 *               (default true): the view then holds fewer markers and the
 *               server sends them, or finer clusters
 *   onMarkerClick(marker, event)  a marker was clicked: the client's marker
 *               (id, layer, lon, lat, version, time, props), MapLibre's event
 *   onMarkerHover(marker | null, event)  the pointer entered a marker, or
 *               left the markers (null); the cursor is a pointer over them
 *   onClusterClick(cluster, event)  a cluster was clicked (before the zoom)
 *   motion      glide moved markers from their old position to the new over
 *               their update interval (default true; see Glide in sync.js:
 *               at most motionMaxMs, default 1000, a move longer than
 *               motionMaxPx, default 150, on screen jumps)
 *
 * A marker whose props.heading is a number (degrees clockwise from north)
 * is drawn as a circle drawn out into a point towards its heading: a symbol
 * layer `${sourceId}-headings` of canvas-drawn images, one per colour,
 * added when the first such marker comes.
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
 * properties: key ("z/x/y"), z, x, y, count, lon, lat. A cluster of count 1
 * carrying its marker (an isolated marker of a decluttered view) is drawn
 * as that marker, in the markers' source (MarkerSync): its props, heading
 * and hooks as any marker's, no count label.
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
  const radius = opts.radius ?? DEFAULT_RADIUS;
  const staleOpacity = opts.staleOpacity ?? 0.35;
  const tileRefreshMs = opts.tileRefreshMs ?? 0;
  const clusterLabels = opts.clusterLabels ?? true;
  const clusterClickZoom = opts.clusterClickZoom ?? true;
  const labelLayerId = `${sourceId}-cluster-labels`;
  const headingLayerId = `${sourceId}-headings`;
  const markerLayers = [layerId, headingLayerId];
  const hasHeading = ['==', ['typeof', ['get', 'heading']], 'number'];
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
    if (map.getLayer(headingLayerId)) map.setPaintProperty(headingLayerId, 'icon-opacity', markerOpacity());
  }

  const match = ['match', ['get', 'layer']];
  for (const [layer, color] of Object.entries(colors)) match.push(layer, color);
  match.push(defaultColor);
  const colorOf = match.length > 3 ? match : defaultColor;

  const sync = new MarkerSync(client, apply, { paused: true });
  // Gliding markers: one updateData of their geometries per frame, but
  // never more than one in flight: the worker re-tiles the source for each,
  // and on a busy machine queued frames made the drawn markers fall seconds
  // behind. Frames that come meanwhile are merged, the newest position of
  // each marker kept (a glide's last frame included), and sent when the
  // worker is done.
  let glideInFlight = false;
  const glidePending = new Map(); // id -> [lon, lat]
  const drawGlide = () => {
    const source = map.getSource(sourceId);
    if (!source || glidePending.size === 0) return;
    const update = [];
    for (const [id, [lon, lat]] of glidePending) {
      if (sync.shown.has(id)) update.push({ id, newGeometry: { type: 'Point', coordinates: [lon, lat] } });
    }
    glidePending.clear();
    if (update.length === 0) return;
    glideInFlight = true;
    source
      .updateData({ update })
      .catch((err) => console.warn(`pushmap: updateData on ${sourceId}: ${err?.message ?? err}`))
      .finally(() => {
        glideInFlight = false;
        drawGlide();
      });
  };
  const glide = new Glide({
    worldSize: () => 512 * 2 ** map.getZoom(),
    maxMs: opts.motionMaxMs,
    maxPx: opts.motionMaxPx,
    draw: (at) => {
      for (const { id, lon, lat } of at) glidePending.set(id, [lon, lat]);
      if (!glideInFlight) drawGlide();
    },
  });
  const motion = opts.motion ?? true;
  const clusterSync = new ClusterSync(client, applyClusters, { paused: true });
  const view = new ViewPusher(client, boundsView(map, zoomOffset), () => sync.reconcile());

  // collected, while set, receives the features apply and applyClusters
  // would add (initialData), instead of a source's updateData.
  let collected = null;
  // initialData rebuilds batch (the marker or the cluster sync) from what
  // the client holds and, when the source id is missing, returns that as
  // the data to add the source with: the first markers reach MapLibre's
  // worker with the source itself, one worker round trip and one tiling
  // fewer before the first marker is drawn than an empty source and a diff
  // (BenchmarkFirstMarker). When the source is there (a style that kept it),
  // null: the next frame's diff replaces what it holds.
  function initialData(batch, id) {
    batch.rebuild();
    batch.resume();
    if (map.getSource(id)) return null;
    collected = [];
    try {
      batch.flush();
      return { type: 'FeatureCollection', features: collected };
    } finally {
      collected = null;
    }
  }

  function addLayer() {
    const clusterData = initialData(clusterSync, clusterSourceId);
    if (clusterData) {
      map.addSource(clusterSourceId, {
        type: 'geojson',
        data: clusterData,
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
    const markerData = initialData(sync, sourceId);
    if (markerData) {
      map.addSource(sourceId, {
        type: 'geojson',
        data: markerData,
        promoteId: 'id',
      });
    }
    if (!map.getLayer(layerId)) {
      map.addLayer(
        {
          id: layerId,
          type: 'circle',
          source: sourceId,
          filter: ['!', hasHeading],
          paint: {
            'circle-color': colorOf,
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
    addSymbolLayers();
  }

  // The symbol layers (count labels, markers with a heading) are added
  // once a cluster, or a marker with a heading, is first there: an empty
  // symbol layer still costs each tile's layout in the worker and every
  // frame's placement, and the first frames with markers should not wait
  // for them (BenchmarkFirstMarker).
  let wantLabels = false;
  let wantHeadings = false;
  function addSymbolLayers() {
    if (!map.getLayer(layerId)) return; // addLayer calls again
    if (wantLabels && clusterLabels && !map.getLayer(labelLayerId)) {
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
        layerId, // over the clusters, under the markers
      );
    }
    if (wantHeadings && !map.getLayer(headingLayerId)) {
      map.addLayer(
        {
          id: headingLayerId,
          type: 'symbol',
          source: sourceId,
          filter: hasHeading,
          layout: {
            'icon-image': ['concat', HEADING_IMAGE, colorOf],
            'icon-size': iconSize(radius, HEADING_RADIUS),
            'icon-rotate': ['get', 'heading'],
            'icon-rotation-alignment': 'map',
            'icon-allow-overlap': true,
            'icon-ignore-placement': true,
          },
          paint: { 'icon-opacity': markerOpacity() },
        },
        opts.beforeId,
      );
    }
  }

  function apply({ reset, upserts, removes }) {
    const source = map.getSource(sourceId);
    if (!source && !collected) return;
    const diff = {};
    if (reset) {
      diff.removeAll = true;
      glide.clear();
      glidePending.clear();
    }
    for (const id of removes) {
      glide.drop(id);
      glidePending.delete(id);
    }
    const add = [];
    const update = [];
    for (const { marker, prev } of upserts) {
      glidePending.delete(marker.id); // this diff says where it is drawn now
      if (headingOf(marker) !== undefined) {
        ensureImage(HEADING_IMAGE + (colors[marker.layer] ?? defaultColor));
        wantHeadings = true;
      }
      const props = properties(marker);
      const moved = prev && (prev.lon !== marker.lon || prev.lat !== marker.lat);
      // Where to draw it now: gliding from where it is drawn, or there.
      const at = moved && motion ? glide.move(marker.id, prev, marker) : (glide.position(marker.id) ?? [marker.lon, marker.lat]);
      const geometry = { type: 'Point', coordinates: at };
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
    if (collected) {
      collected.push(...add); // a rebuild: every marker is new
      return;
    }
    if (removes.length) diff.remove = removes;
    if (add.length) diff.add = add;
    if (update.length) diff.update = update;
    addSymbolLayers();
    source.updateData(diff).catch((err) => console.warn(`pushmap: updateData on ${sourceId}: ${err?.message ?? err}`));
  }

  function applyClusters({ clear, upserts, removes }) {
    const source = map.getSource(clusterSourceId);
    if (!source && !collected) return;
    const diff = {};
    if (clear) diff.removeAll = true;
    const add = [];
    const update = [];
    for (const { key, cluster: c, drawn } of upserts) {
      if (clusterLabels) ensureImage(LABEL_IMAGE + countLabel(c.count));
      wantLabels = true;
      const props = { key, view: c.view, id: c.id, z: c.z, count: c.count, lon: c.lon, lat: c.lat, expansionZoom: c.expansionZoom, label: countLabel(c.count) };
      const geometry = { type: 'Point', coordinates: [c.lon, c.lat] };
      if (!drawn) add.push({ type: 'Feature', geometry, properties: props });
      else {
        update.push({
          id: key,
          newGeometry: geometry,
          addOrUpdateProperties: [
            { key: 'count', value: c.count },
            { key: 'label', value: countLabel(c.count) },
            { key: 'lon', value: c.lon },
            { key: 'lat', value: c.lat },
            { key: 'expansionZoom', value: c.expansionZoom },
          ],
        });
      }
    }
    if (collected) {
      collected.push(...add); // a rebuild: every cluster is new
      return;
    }
    if (removes.length) diff.remove = removes;
    if (add.length) diff.add = add;
    if (update.length) diff.update = update;
    addSymbolLayers();
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
  // Markers with a heading: an image per colour. Both are drawn when
  // first needed: added before the data that uses them (when a page
  // document exists to draw on), and on 'styleimagemissing' for any other.
  // MapLibre may lay a tile out without an image added in answer to
  // 'styleimagemissing' (seen: every count label but '1' missing for good
  // on a page loaded from a warm cache), so it is not the only way.
  function ensureImage(id) {
    if (!id || map.hasImage(id) || !globalThis.document?.createElement) return;
    const ratio = Math.max(1, Math.round(globalThis.devicePixelRatio ?? 1));
    let canvas;
    if (id.startsWith(LABEL_IMAGE)) canvas = drawLabel(id.slice(LABEL_IMAGE.length), LABEL_SIZE, ratio);
    else if (id.startsWith(HEADING_IMAGE)) canvas = drawHeading(id.slice(HEADING_IMAGE.length), ratio);
    else return;
    map.addImage(id, canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height), { pixelRatio: ratio });
  }
  const onImageMissing = (e) => ensureImage(e.id);
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
    const c = key === undefined ? undefined : clusterSync.get(key);
    if (!c) return;
    opts.onClusterClick?.({ ...c }, e);
    if (clusterClickZoom) zoomToCluster(c);
  };
  const onClusterEnter = () => (map.getCanvas().style.cursor = 'pointer');
  const onClusterLeave = () => (map.getCanvas().style.cursor = '');
  // zoomToCluster zooms to the cluster's expansion zoom (the protocol's,
  // less zoomOffset), centred on it: there it splits.
  function zoomToCluster(c) {
    map.easeTo({ center: [c.lon, c.lat], zoom: c.expansionZoom - zoomOffset });
  }
  const layerEvents = [
    ...markerLayers.flatMap((id) => [
      ['click', id, onMarkerClick],
      ['mousemove', id, onMarkerMove],
      ['mouseleave', id, onMarkerLeave],
    ]),
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
      const layers = markerLayers.filter((id) => map.getLayer(id));
      if (!layers.length) return [];
      const byId = new Map();
      for (const f of map.queryRenderedFeatures({ layers })) {
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
    /** Zooms to the expansion zoom of the cluster drawn under key ("view/id"), centred on it, as a click on it does. */
    zoomToCluster(key) {
      const c = clusterSync.get(key);
      if (c) zoomToCluster(c);
    },
    /** Clusters rendered in the viewport now: [{key, view, id, z, count, lon, lat, expansionZoom}], one per key. */
    shownClusters() {
      if (!map.getLayer(clusterLayerId)) return [];
      const byKey = new Map();
      for (const f of map.queryRenderedFeatures({ layers: [clusterLayerId] })) {
        const p = f.properties ?? {};
        const key = p.key ?? f.id;
        if (!byKey.has(key)) {
          byKey.set(key, { key, view: p.view, id: p.id, z: p.z, count: p.count, lon: p.lon, lat: p.lat, expansionZoom: p.expansionZoom });
        }
      }
      return [...byKey.values()];
    },
    /** Stops syncing, removes the layers and sources and the registration. */
    detach() {
      sync.stop();
      glide.stop();
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
      if (map.getLayer(headingLayerId)) map.removeLayer(headingLayerId);
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

// drawHeading draws the image of a marker with a heading, pointing north, in
// color with a white outline, on a canvas at pixelRatio.
function drawHeading(color, pixelRatio) {
  const size = 2 * (HEADING_TIP * HEADING_RADIUS + 2); // CSS pixels, square
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = Math.ceil(size * pixelRatio);
  const ctx = canvas.getContext('2d');
  ctx.scale(pixelRatio, pixelRatio);
  drawHeadingPath(ctx, size / 2, size / 2, HEADING_RADIUS, 0);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  return canvas;
}

// iconSize is the icon-size that draws an image of a circle of radius base
// pixels as a circle of radius: a number, or a zoom curve (interpolate or
// step on ['zoom']) with its outputs divided; any other expression gets
// the default curve's.
function iconSize(radius, base) {
  if (typeof radius === 'number') return radius / base;
  const zoomCurve = Array.isArray(radius) && (radius[0] === 'interpolate' || radius[0] === 'step');
  const r = zoomCurve && JSON.stringify(radius).includes('["zoom"]') ? radius : DEFAULT_RADIUS;
  const out = [...r];
  // interpolate: [op, type, input, z0, v0, z1, v1, ...]; step: [op, input, v0, z1, v1, ...]
  const first = out[0] === 'interpolate' ? 4 : 2;
  for (let i = first; i < out.length; i += 2) if (typeof out[i] === 'number') out[i] /= base;
  return out;
}

const DEFAULT_RADIUS = ['interpolate', ['linear'], ['zoom'], 2, 3, 10, 6];

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
