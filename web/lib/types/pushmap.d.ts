// Type declarations for pushmap.js. The map adapters have theirs beside
// them (adapters/maplibre.d.ts, adapters/leaflet.d.ts).
// Coordinates are degrees, longitude before latitude.

/** A box [west, south, east, north] in degrees; west > east crosses the antimeridian. */
export type BBox = [west: number, south: number, east: number, north: number];

/** A marker as the client holds it. */
export interface Marker {
  id: string;
  layer: string;
  lon: number;
  lat: number;
  /** Increases with every change of the marker. */
  version: number;
  /** Publish time in Unix milliseconds; 0 if unknown. */
  time: number;
  props: Record<string, unknown>;
}

/**
 * Payload of the 'marker' event: a marker new to the client ('added'), or
 * one it held whose position, props or both changed ('changed'; compare
 * with what you drew to tell a move from a change of props).
 */
export interface MarkerEvent extends Marker {
  kind: 'added' | 'changed';
}

/** One frame the client applied. */
export interface Changes {
  /** True: drop every marker held before, then apply added. */
  reset: boolean;
  added: Marker[];
  updated: Marker[];
  /** Ids of removed markers. */
  removed: string[];
  /** Size of the frame in bytes. */
  bytes: number;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * Sent at every change of state and at every failed attempt, the first
 * connection's included (state 'connecting' with the code and reason of
 * the failure), each failure also as an 'error' event.
 */
export interface StatusEvent {
  state: ConnectionState;
  /**
   * WebSocket close code, or 0. The client stops ('closed') after 4000,
   * 4001 and 4403, and after 4401 (token refused) or 4402 (token expired)
   * unless getToken can give a new token; see docs/protocol.md.
   */
  code: number;
  reason: string;
}

/**
 * An error: one the server reported for a request (code: its error code,
 * such as 'forbidden' or 'rate_limited'), or a connection that failed or
 * was refused, sent with the 'status' event that reports it: code
 * 'connect_failed' (the first connection failed: the server is down, or
 * refused the upgrade, e.g. HTTP 403 for an origin not in its --origins,
 * which a browser cannot tell apart), 'disconnected' (an open connection
 * was lost), 'unauthorized' (4401), 'token_expired' (4402), 'forbidden'
 * (4403) or 'unsupported_version'; closeCode is then the close code.
 */
export interface ErrorEvent {
  code: string;
  message: string;
  closeCode?: number;
}

/** A tile of a tile layer changed: the map should refetch it. */
export interface TileEvent {
  layer: string;
  z: number;
  x: number;
  y: number;
  version: number;
}

/**
 * A group of markers, sent instead of markers for a view that holds more of
 * them than the server's budget: no two of a view's clusters are closer than
 * 40 px on a map at zoom z; lon, lat is the weight centre of its markers.
 */
export interface Cluster {
  /** "view/id": names the cluster among all the client holds (clusterKey). */
  key: string;
  /** The id of the view (setView's) it belongs to. */
  view: number;
  /** Names it within its view, stable while it changes a little (below 2^53). */
  id: number;
  /** The view's cluster zoom (the protocol's: 256-px tiles, MapLibre's zoom + 1). */
  z: number;
  /** Markers it holds, exactly (of the layers the client sees); 0 in an event means the cluster is gone. */
  count: number;
  lon: number;
  lat: number;
  /** The zoom (protocol's) at which it splits into several: where a click on it zooms to. */
  expansionZoom: number;
  /**
   * On a cluster of count 1, its one marker with its props: an isolated
   * marker (a decluttered view's lone marker), which the adapters draw as a
   * marker, not as a cluster labelled 1. Absent on other clusters. A copy:
   * the client's markers() does not hold it.
   */
  marker?: Marker;
}

/** Payload of the 'clusters' event. */
export interface ClustersEvent {
  /** True: clusters is the full set, replacing every cluster held before (an empty list drops them all). */
  reset: boolean;
  /** Otherwise: each entry replaces the cluster of the same key; count 0 removes it. */
  clusters: Cluster[];
}

export interface ClientEvents {
  changes: Changes;
  /** Per added or updated marker, after 'changes'. */
  marker: MarkerEvent;
  /** Per removed marker id, after 'marker'. */
  remove: string;
  /** Before the 'changes' of a frame with reset: true. No payload. */
  reset: undefined;
  tile: TileEvent;
  /** The clusters changed; client.clusters() is already up to date. */
  clusters: ClustersEvent;
  status: StatusEvent;
  error: ErrorEvent;
  /** Once, after the first snapshot (the first view's reply: markers, or clusters in cluster mode) is applied. No payload. */
  ready: undefined;
}

/** An Error with a machine-readable code (the server's error code, or 'load', 'version', 'bad_view', 'bad_layers', 'bad_url'). */
export interface PushmapError extends Error {
  code: string;
}

export interface ConnectOptions {
  /**
   * Sent to the server to authenticate; default ''. A static token the
   * server refuses (close 4401) or lets expire (4402) closes the client for
   * good: use getToken for tokens that expire.
   */
  token?: string;
  /**
   * Called for a token (instead of `token`) before the first connection,
   * before each reconnection, and before the current token expires: for a
   * JWT with an `exp` claim, a quarter of its lifetime (at most a minute)
   * before, and the new token is sent on the open connection (no
   * reconnection). A token the server refused (4401) is never sent again:
   * getToken is called again, with backoff, until it returns another. A
   * throw or rejection counts as a failed connection attempt. As
   * centrifuge-js's getToken.
   */
  getToken?: () => string | Promise<string>;
  /** Layers to subscribe to; default []. */
  layers?: string[];
  /**
   * More URLs of the same map (the other nodes of a cluster, resolved as
   * url is): after a close or a failed connect the client tries the next
   * one (url, then urls in order, round again), with the usual backoff, and
   * the new node's snapshot replaces what it held. Default [].
   */
  urls?: string[];
  /** Least time between two views sent while the map moves, ms; default 100. */
  throttleMs?: number;
  /**
   * Fraction of the box's size added on each side of the view, so that
   * small pans need no round trip; default 0, as the Go client's
   * Options.Margin. A map panned a lot gains from 0.25 (the demo's).
   */
  margin?: number;
  /**
   * Group markers closer than the cluster radius on screen (40 px) below
   * the server's budget too: every view below zoom 16 is then in cluster
   * mode, a marker with no other within the radius a cluster of count 1
   * carrying the marker itself (Cluster.marker, with its props), which the
   * adapters draw as a marker (docs/protocol.md, Decluttering). Default
   * false, as the Go client's Options.Declutter; the demo turns it on.
   */
  declutter?: boolean;
}

/** One connection to a pushmap server; reconnects by itself until close(). */
export interface Client {
  /** The absolute ws: or wss: URL. */
  readonly url: string;
  readonly status: ConnectionState;
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(type: K, fn: (payload: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(type: K, fn: (payload: ClientEvents[K]) => void): void;
  /**
   * Sends the view. Longitudes beyond ±180 are wrapped, latitudes clamped to
   * ±85.0511 (see normalizeBox). Resolves when the server acknowledged it;
   * rejects with a PushmapError.
   */
  setView(bbox: BBox, zoom: number): Promise<void>;
  setLayers(layers: string[]): Promise<void>;
  /** A snapshot of the markers held (the view plus its margin). */
  markers(): Marker[];
  /** A snapshot of the clusters held (views in cluster mode), copies read from the wasm client, which holds the only copy. */
  clusters(): Cluster[];
  close(): void;
}

export interface Pushmap {
  readonly version: number;
  /** url may be relative ('/ws'): it resolves against the page, http→ws, https→wss. */
  connect(url: string, opts?: ConnectOptions): Client;
}

export interface LoadOptions {
  /** Default: 'pushmap.wasm' next to pushmap.js. */
  wasmURL?: string;
  /** Default: 'wasm_exec.js' next to pushmap.js. */
  wasmExecURL?: string;
  /** How long to wait for the wasm to be ready, ms; default 20000. */
  timeoutMs?: number;
}

/**
 * Loads and starts the wasm client once; later calls return the same promise
 * (after a failure, a new attempt). Uses globalThis.__pushmap as it is if it
 * is already set.
 */
export function load(opts?: LoadOptions): Promise<Pushmap>;

/** A cluster's label text: the count below 1,000, then 1.2k, 12k, 123k, 1.2M. */
export function countLabel(count: number): string;

/** "view/id" of a cluster: the key adapters and client.clusters() use. */
export function clusterKey(c: { view: number; id: number }): string;

/** Resolves url into an absolute ws:/wss: URL (http→ws, https→wss). */
export function resolveURL(url: string, base?: string): string;

/**
 * Normalises a box as map libraries report it: longitudes into [-180, 180]
 * (west > east when it crosses the antimeridian; ≥ 360° wide gives
 * -180..180), latitudes clamped to ±85.0511.
 */
export function normalizeBox(west: number, south: number, east: number, north: number): BBox;

/** A marker as an adapter shows it. */
export interface ShownMarker {
  id: string;
  layer: string;
  lon: number;
  lat: number;
}

/** A cluster as an adapter shows it; key is "view/id". */
export type ShownCluster = Cluster;

/**
 * Options both adapters take: cluster labels and click-to-zoom, and hooks
 * for clicks and hovers (E is the map library's event).
 */
export interface AdapterHookOptions<E = unknown> {
  /** Draw each cluster's count on it (12, 1.2k, 3.4M); default true. */
  clusterLabels?: boolean;
  /** Zoom the map to a cluster's expansion zoom, centred on it, when it is clicked; default true. */
  clusterClickZoom?: boolean;
  /** A marker was clicked: the client's marker, with its props. */
  onMarkerClick?: (marker: Marker, event: E) => void;
  /** The pointer entered a marker, or left the markers (null). */
  onMarkerHover?: (marker: Marker | null, event: E) => void;
  /** A cluster was clicked (before the zoom). */
  onClusterClick?: (cluster: ShownCluster, event: E) => void;
  /**
   * Moved markers glide from where they are drawn to their new position
   * over their own update interval; default true. A marker's first move
   * since it was drawn, a move longer than motionMaxPx on screen, and moves
   * while the page is hidden are drawn at once.
   */
  motion?: boolean;
  /** Longest glide, ms; default 1000. */
  motionMaxMs?: number;
  /** Longest move on screen that glides, CSS pixels; default 150. */
  motionMaxPx?: number;
}

/**
 * What attachMapLibre and attachLeaflet return. When globalThis.__pushmapAdapters
 * is an array (the test hook: the e2e harness defines it before the page
 * loads), the adapter is also pushed onto it; otherwise nothing is global.
 */
export interface Adapter<M = unknown> {
  kind: 'maplibre' | 'leaflet';
  map: M;
  client: Client;
  /** The markers drawn in the map's viewport now, one per id. */
  shownMarkers(): ShownMarker[];
  /** The clusters drawn in the map's viewport now, one per key. */
  shownClusters(): ShownCluster[];
  /** The count labels drawn in the map's viewport now, one per cluster (none with clusterLabels false). */
  shownClusterLabels(): { key: string; label: string }[];
  /** Zooms the map to the expansion zoom of the cluster drawn under key ("view/id"), centred on it, as a click on it does. */
  zoomToCluster(key: string): void;
  /** True while the client is not connected: the markers drawn are faded (staleOpacity), as they may be out of date. */
  readonly stale: boolean;
  /** The opacity markers are drawn with now: 1, or staleOpacity while stale. */
  markerOpacity(): number;
  /** Stops syncing and pushing views, removes what the adapter added to the map. */
  detach(): void;
}

declare global {
  // eslint-disable-next-line no-var
  var __pushmapAdapters: Adapter[] | undefined;
}
