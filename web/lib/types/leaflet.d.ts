// Type declarations for adapters/leaflet.js.

import type { Adapter, AdapterHookOptions, Client } from './pushmap.js';

export interface LeafletAdapterOptions extends AdapterHookOptions {
  /** Colour per pushmap layer; default none: every layer in defaultColor. */
  colors?: Record<string, string>;
  /** Colour of markers of layers colors does not name; default '#1c7ed6'. */
  defaultColor?: string;
  /** Circle radius in pixels; default 5. */
  radius?: number;
  /** Colour of clusters; default '#7048e8'. */
  clusterColor?: string;
  /** Renderer of the circle markers and clusters; default a new L.canvas(). */
  renderer?: unknown;
  /** pushmap tile layer name -> L.GridLayer redrawn as a whole on 'tile' events (Leaflet cannot re-fetch one tile). */
  tileLayers?: Record<string, { redraw(): unknown }>;
  /** Least time between two redraws of one tile layer, ms; default 1000. */
  tileRedrawMs?: number;
  /** Opacity of markers and clusters while the client is not connected (they may be out of date); default 0.35. */
  staleOpacity?: number;
  /** Added to map.getZoom() before the view is sent; default 0. */
  zoomOffset?: number;
}

export interface LeafletAdapter<M = unknown> extends Adapter<M> {
  kind: 'leaflet';
  /** The L.LayerGroup holding the circle markers. */
  layerGroup: unknown;
  /** The L.LayerGroup holding the clusters' circle markers. */
  clusterGroup: unknown;
}

/** Shows client's markers on a Leaflet 1.9 map as circle markers and pushes its view. L defaults to globalThis.L. */
export function attachLeaflet<M>(map: M, client: Client, L?: unknown, opts?: LeafletAdapterOptions): LeafletAdapter<M>;
