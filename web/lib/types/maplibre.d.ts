// Type declarations for adapters/maplibre.js.

import type { Adapter, AdapterHookOptions, Client } from './pushmap.js';

export interface MapLibreAdapterOptions extends AdapterHookOptions {
  /** GeoJSON source id; default 'pushmap'. */
  sourceId?: string;
  /** Circle layer id; default `${sourceId}-markers`. */
  layerId?: string;
  /** GeoJSON source id of the clusters; default `${sourceId}-clusters` (promoteId 'key' = "z/x/y"). */
  clusterSourceId?: string;
  /** Circle layer id of the clusters; default `${sourceId}-clusters`. */
  clusterLayerId?: string;
  /** Insert the layers below this layer (clusters under markers). */
  beforeId?: string;
  /** Colour per pushmap layer; default none: every layer in defaultColor. */
  colors?: Record<string, string>;
  /** Colour of markers of layers colors does not name; default '#1c7ed6'. */
  defaultColor?: string;
  /** circle-radius (a number or a MapLibre expression). */
  radius?: unknown;
  /** Colour of clusters; default '#7048e8'. */
  clusterColor?: string;
  /** circle-radius of clusters (a number or an expression on the property 'count'); default grows with sqrt(count), 4 to 18 px. */
  clusterRadius?: unknown;
  /**
   * pushmap tile layer name -> MapLibre source id refreshed on 'tile' events:
   * the tiles the source shows within the changed tile (itself, its children
   * when the source rounds the zoom up, or its ancestor beyond maxzoom).
   */
  tileSources?: Record<string, string>;
  /**
   * Least time between two refreshes of one tile, ms; default 0 (every
   * change, at the next frame). A tile changed again sooner is refreshed
   * once when the time is over.
   */
  tileRefreshMs?: number;
  /** Opacity of markers and clusters while the client is not connected (they may be out of date); default 0.35. */
  staleOpacity?: number;
  /** Added to map.getZoom() before the view is sent; default 1 (MapLibre's 512-pixel tiles). */
  zoomOffset?: number;
}

export interface MapLibreAdapter<M = unknown> extends Adapter<M> {
  kind: 'maplibre';
  sourceId: string;
  layerId: string;
  clusterSourceId: string;
  clusterLayerId: string;
}

/** Shows client's markers on a MapLibre GL map (≥ 5.5) and pushes its view. */
export function attachMapLibre<M>(map: M, client: Client, opts?: MapLibreAdapterOptions): MapLibreAdapter<M>;

/**
 * The zoom of the tiles a tiled MapLibre source shows at the map's zoom:
 * zoom + log2(512 / tileSize), rounded to the nearest for raster sources and
 * down for others, at most the source's maxzoom.
 */
export function sourceZoom(
  map: { getZoom(): number },
  source: { type?: string; tileSize?: number; maxzoom?: number; roundZoom?: boolean },
): number;
