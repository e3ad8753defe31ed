// Type declarations for adapters/maplibre.js.

import type { Adapter, Client } from '../pushmap.js';

export interface MapLibreAdapterOptions {
  /** GeoJSON source id; default 'pushmap'. */
  sourceId?: string;
  /** Circle layer id; default `${sourceId}-markers`. */
  layerId?: string;
  /** Insert the layer below this layer. */
  beforeId?: string;
  /** Colour per pushmap layer, over the defaults for 'flights' and 'vehicles'. */
  colors?: Record<string, string>;
  /** Colour of markers of other layers. */
  defaultColor?: string;
  /** circle-radius (a number or a MapLibre expression). */
  radius?: unknown;
  /** pushmap tile layer name -> MapLibre source id refreshed on 'tile' events. */
  tileSources?: Record<string, string>;
  /** Added to map.getZoom() before the view is sent; default 0. */
  zoomOffset?: number;
}

export interface MapLibreAdapter<M = unknown> extends Adapter<M> {
  kind: 'maplibre';
  sourceId: string;
  layerId: string;
}

/** Shows client's markers on a MapLibre GL map (≥ 5.5) and pushes its view. */
export function attachMapLibre<M>(map: M, client: Client, opts?: MapLibreAdapterOptions): MapLibreAdapter<M>;
