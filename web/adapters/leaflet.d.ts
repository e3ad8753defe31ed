// Type declarations for adapters/leaflet.js.

import type { Adapter, Client } from '../pushmap.js';

export interface LeafletAdapterOptions {
  colors?: Record<string, string>;
  defaultColor?: string;
  /** Circle radius in pixels; default 5. */
  radius?: number;
  /** Renderer of the circle markers; default a new L.canvas(). */
  renderer?: unknown;
  /** pushmap tile layer name -> L.GridLayer redrawn on 'tile' events. */
  tileLayers?: Record<string, { redraw(): unknown }>;
  /** Added to map.getZoom() before the view is sent; default 0. */
  zoomOffset?: number;
}

export interface LeafletAdapter<M = unknown> extends Adapter<M> {
  kind: 'leaflet';
  /** The L.LayerGroup holding the circle markers. */
  layerGroup: unknown;
}

/** Shows client's markers on a Leaflet 1.9 map as circle markers and pushes its view. L defaults to globalThis.L. */
export function attachLeaflet<M>(map: M, client: Client, L?: unknown, opts?: LeafletAdapterOptions): LeafletAdapter<M>;
