// adapters/maplibre.js shows a pushmap client's markers on a MapLibre GL map
// (maplibre-gl ≥ 5.5: GeoJSON updateData diffs and refreshTiles).
//
//   import { attachMapLibre } from './adapters/maplibre.js';
//   const adapter = attachMapLibre(map, client);

import { DEFAULT_COLOR, DEFAULT_COLORS, MarkerSync, ViewPusher, cancelFrame, nextFrame, register } from './sync.js';

/**
 * attachMapLibre adds a GeoJSON source and a circle layer for the client's
 * markers to map, keeps them in step incrementally (one source.updateData
 * diff per animation frame at most; the data is set only once, empty, when
 * the source is added) and pushes the map's view to the client on 'move' and
 * 'moveend'. It may be called before the map's style has loaded.
 *
 * opts:
 *   sourceId    GeoJSON source id (default 'pushmap'); the layer is `${sourceId}-markers`
 *   layerId     circle layer id
 *   beforeId    insert the layer below this one
 *   colors      {layerName: colour}, merged over {flights, vehicles} defaults
 *   defaultColor colour of markers of other layers
 *   radius      circle radius in pixels (default: 3 at zoom ≤ 2 up to 6 at zoom ≥ 10)
 *   tileSources {pushmapLayer: mapSourceId}: 'tile' events of that layer
 *               refresh that source's tile with map.refreshTiles
 *   zoomOffset  added to map.getZoom() before it is sent (default 1: MapLibre
 *               uses 512-pixel tiles, the protocol the slippy-map zoom of
 *               256-pixel tiles, one more for the same scale)
 *
 * Feature properties: the marker's props, then id, layer, version, time, lon,
 * lat (these win over props of the same name).
 */
export function attachMapLibre(map, client, opts = {}) {
  const sourceId = opts.sourceId ?? 'pushmap';
  const layerId = opts.layerId ?? `${sourceId}-markers`;
  const colors = { ...DEFAULT_COLORS, ...(opts.colors ?? {}) };
  const defaultColor = opts.defaultColor ?? DEFAULT_COLOR;
  const tileSources = opts.tileSources ?? {};
  const zoomOffset = opts.zoomOffset ?? 1;
  const radius = opts.radius ?? ['interpolate', ['linear'], ['zoom'], 2, 3, 10, 6];

  const match = ['match', ['get', 'layer']];
  for (const [layer, color] of Object.entries(colors)) match.push(layer, color);
  match.push(defaultColor);

  const sync = new MarkerSync(client, apply, { paused: true });
  const view = new ViewPusher(
    client,
    () => {
      const b = map.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), map.getZoom() + zoomOffset];
    },
    () => sync.reconcile(),
  );

  function addLayer() {
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

  // 'tile' events, coalesced per frame into one refreshTiles per source.
  let tiles = new Map(); // sourceId -> Map("z/x/y" -> {x, y, z})
  let tileFrame = 0;
  function onTile(t) {
    const src = tileSources[t.layer];
    if (!src) return;
    let set = tiles.get(src);
    if (!set) tiles.set(src, (set = new Map()));
    set.set(`${t.z}/${t.x}/${t.y}`, { x: t.x, y: t.y, z: t.z });
    if (!tileFrame) {
      tileFrame = nextFrame(() => {
        tileFrame = 0;
        const batch = tiles;
        tiles = new Map();
        for (const [src, set] of batch) {
          if (map.getSource(src)) map.refreshTiles(src, [...set.values()]);
        }
      });
    }
  }

  const onMove = () => view.push(false);
  const onMoveEnd = () => view.push(true);
  const onStyleLoad = () => {
    if (!map.getSource(sourceId) || !map.getLayer(layerId)) addLayer(); // setStyle dropped them
  };
  map.on('move', onMove);
  map.on('moveend', onMoveEnd);
  map.on('style.load', onStyleLoad);
  const offTile = client.on('tile', onTile);

  if (styleLoaded(map)) addLayer();
  // else 'style.load' adds it.
  view.push(true);

  let unregister;
  const adapter = {
    kind: 'maplibre',
    map,
    client,
    sourceId,
    layerId,
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
    /** Stops syncing, removes the layer and source and the registration. */
    detach() {
      sync.stop();
      view.stop();
      offTile();
      if (tileFrame) cancelFrame(tileFrame);
      map.off('move', onMove);
      map.off('moveend', onMoveEnd);
      map.off('style.load', onStyleLoad);
      if (map.getLayer(layerId)) map.removeLayer(layerId);
      if (map.getSource(sourceId)) map.removeSource(sourceId);
      unregister();
    },
  };
  unregister = register(adapter);
  return adapter;
}

function properties(m) {
  return { ...(m.props ?? {}), id: m.id, layer: m.layer, version: m.version, time: m.time, lon: m.lon, lat: m.lat };
}

function styleLoaded(map) {
  // Style#loaded() also waits for every source's tiles; adding a source only
  // needs the style document itself, which 'style.load' announces.
  return Boolean(map.style && map.style._loaded);
}
