// adapters/leaflet.js shows a pushmap client's markers on a Leaflet 1.9 map.
//
//   import { attachLeaflet } from './adapters/leaflet.js';
//   const adapter = attachLeaflet(map, client, L);

import { DEFAULT_COLOR, DEFAULT_COLORS, MarkerSync, ViewPusher, cancelFrame, nextFrame, register } from './sync.js';

/**
 * attachLeaflet keeps one layer group of L.circleMarker (id -> marker; a move
 * is a setLatLng) in step with client, applying changes at most once per
 * animation frame, and pushes the map's view to the client on 'move' and
 * 'moveend'. L is the Leaflet namespace (default globalThis.L).
 *
 * Leaflet does not repeat vector layers on world copies, so each marker is
 * drawn on the copy of the world nearest the map's centre (its longitude
 * shifted by a multiple of 360°), re-chosen after every move.
 *
 * opts:
 *   colors       {layerName: colour}, merged over {flights, vehicles} defaults
 *   defaultColor colour of markers of other layers
 *   radius       circle radius in pixels (default 5)
 *   renderer     an L.Renderer for the markers (default: a shared L.canvas())
 *   tileLayers   {pushmapLayer: L.GridLayer}: 'tile' events of that layer
 *                redraw it (at most once per frame)
 *   zoomOffset   added to map.getZoom() before it is sent (default 0)
 */
export function attachLeaflet(map, client, L = globalThis.L, opts = {}) {
  if (!L || typeof L.circleMarker !== 'function') throw new TypeError('attachLeaflet: pass the Leaflet namespace L');
  const colors = { ...DEFAULT_COLORS, ...(opts.colors ?? {}) };
  const defaultColor = opts.defaultColor ?? DEFAULT_COLOR;
  const radius = opts.radius ?? 5;
  const renderer = opts.renderer ?? L.canvas({ padding: 0.5 });
  const tileLayers = opts.tileLayers ?? {};
  const zoomOffset = opts.zoomOffset ?? 0;

  const group = L.layerGroup().addTo(map);
  const circles = new Map(); // id -> L.CircleMarker
  const color = (layer) => colors[layer] ?? defaultColor;
  let centerLon = map.getCenter().lng;
  // The longitude at which to draw lon: the copy nearest the map's centre.
  const near = (lon) => lon + 360 * Math.round((centerLon - lon) / 360);

  function apply({ reset, upserts, removes }) {
    if (reset) {
      group.clearLayers();
      circles.clear();
    }
    for (const id of removes) {
      const c = circles.get(id);
      if (c) {
        group.removeLayer(c);
        circles.delete(id);
      }
    }
    for (const { marker: m } of upserts) {
      const ll = [m.lat, near(m.lon)];
      let c = circles.get(m.id);
      if (!c) {
        c = L.circleMarker(ll, {
          renderer,
          radius,
          color: '#ffffff',
          weight: 1,
          fillColor: color(m.layer),
          fillOpacity: 0.9,
          interactive: false,
        });
        c.pushmapId = m.id;
        circles.set(m.id, c);
        group.addLayer(c);
      } else {
        c.setLatLng(ll);
        if (c.options.fillColor !== color(m.layer)) c.setStyle({ fillColor: color(m.layer) });
      }
    }
  }

  const sync = new MarkerSync(client, apply);
  const view = new ViewPusher(
    client,
    () => {
      const b = map.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), map.getZoom() + zoomOffset];
    },
    () => sync.reconcile(),
  );

  function rewrap() {
    centerLon = map.getCenter().lng;
    for (const [id, c] of circles) {
      const m = sync.shown.get(id);
      if (!m) continue;
      const lon = near(m.lon);
      if (lon !== c.getLatLng().lng) c.setLatLng([m.lat, lon]);
    }
  }

  let redraw = new Set();
  let redrawFrame = 0;
  function onTile(t) {
    const layer = tileLayers[t.layer];
    if (!layer) return;
    redraw.add(layer);
    if (!redrawFrame) {
      redrawFrame = nextFrame(() => {
        redrawFrame = 0;
        const batch = redraw;
        redraw = new Set();
        for (const l of batch) l.redraw();
      });
    }
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
    kind: 'leaflet',
    map,
    client,
    layerGroup: group,
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
    /** Stops syncing, removes the markers and the registration. */
    detach() {
      sync.stop();
      view.stop();
      offTile();
      if (redrawFrame) cancelFrame(redrawFrame);
      map.off('move', onMove);
      map.off('moveend', onMoveEnd);
      group.remove();
      circles.clear();
      unregister();
    },
  };
  unregister = register(adapter);
  return adapter;
}
