// sync.js holds what the map adapters share: coalescing the client's marker
// changes into one batch per animation frame, reconciling with the client's
// own cache after a view change, and pushing the map's view. Internal to the
// adapters; not part of the public API.

import { normalizeBox } from '../pushmap.js';

/** nextFrame runs fn at the next animation frame (a 16 ms timer where there are none). */
export const nextFrame = globalThis.requestAnimationFrame
  ? (fn) => globalThis.requestAnimationFrame(fn)
  : (fn) => setTimeout(fn, 16);
/** cancelFrame cancels what nextFrame scheduled. */
export const cancelFrame = globalThis.cancelAnimationFrame
  ? (id) => globalThis.cancelAnimationFrame(id)
  : (id) => clearTimeout(id);

/**
 * MarkerSync keeps a map layer in step with a client. It collects 'changes'
 * events by marker id (the latest state wins) and, at most once per animation
 * frame, calls apply({reset, upserts: [{marker, prev}], removes: [id]}) with
 * the net difference to what it applied before (prev is the marker as last
 * applied, undefined for a new one). reconcile() asks it to compare, at the
 * next frame, what it applied with client.markers() — the client's cache is
 * the truth after a view change, which drops markers without a 'changes'
 * event being needed.
 */
export class MarkerSync {
  /** id -> marker as last applied. */
  shown = new Map();
  #pending = new Map(); // id -> marker, or null for a removal
  #reset = false;
  #reconcile = false;
  #frame = 0;
  #paused;
  #client;
  #apply;
  #offs = [];

  constructor(client, apply, { paused = false } = {}) {
    this.#client = client;
    this.#apply = apply;
    this.#paused = paused;
    this.#offs.push(client.on('changes', (c) => this.#onChanges(c)));
    // Start from whatever the client already holds.
    this.reconcile();
  }

  #onChanges(c) {
    if (c.reset) {
      this.#reset = true;
      this.#pending.clear();
    }
    for (const m of c.added ?? []) this.#pending.set(m.id, m);
    for (const m of c.updated ?? []) this.#pending.set(m.id, m);
    for (const id of c.removed ?? []) this.#pending.set(id, null);
    this.schedule();
  }

  /** Compare with client.markers() at the next frame. */
  reconcile() {
    this.#reconcile = true;
    this.schedule();
  }

  /** Drop everything applied and rebuild from client.markers() (e.g. after the map lost its layer). */
  rebuild() {
    this.#reset = true;
    this.#pending.clear();
    this.reconcile();
  }

  pause() {
    this.#paused = true;
  }

  resume() {
    this.#paused = false;
    this.schedule();
  }

  schedule() {
    if (this.#frame || this.#paused) return;
    this.#frame = nextFrame(() => {
      this.#frame = 0;
      this.flush();
    });
  }

  /** Applies what is pending now. */
  flush() {
    if (this.#paused) return;
    const reset = this.#reset;
    let pending = this.#pending;
    if (this.#reconcile) {
      pending = new Map();
      const seen = new Set();
      for (const m of this.#client.markers()) {
        seen.add(m.id);
        const s = reset ? undefined : this.shown.get(m.id);
        if (!s || s.version !== m.version || s.lon !== m.lon || s.lat !== m.lat || s.layer !== m.layer) {
          pending.set(m.id, m);
        }
      }
      if (!reset) {
        for (const id of this.shown.keys()) if (!seen.has(id)) pending.set(id, null);
      }
    }
    this.#pending = new Map();
    this.#reset = false;
    this.#reconcile = false;
    if (reset) this.shown.clear();
    const upserts = [];
    const removes = [];
    for (const [id, m] of pending) {
      if (m === null) {
        if (this.shown.delete(id)) removes.push(id);
      } else {
        upserts.push({ marker: m, prev: this.shown.get(id) });
        this.shown.set(id, m);
      }
    }
    if (reset || upserts.length || removes.length) this.#apply({ reset, upserts, removes });
  }

  stop() {
    for (const off of this.#offs) off();
    this.#offs = [];
    if (this.#frame) cancelFrame(this.#frame);
    this.#frame = 0;
    this.#paused = true;
  }
}

/**
 * ViewPusher sends the map's view to the client on 'move' (the wasm
 * throttles) and 'moveend'. getView returns [west, south, east, north, zoom]
 * as the library reports them (unwrapped longitudes allowed). After the
 * server acknowledged the view of a 'moveend', onSettled runs.
 */
export class ViewPusher {
  #client;
  #getView;
  #onSettled;
  #warned = new Set();
  #stopped = false;

  constructor(client, getView, onSettled) {
    this.#client = client;
    this.#getView = getView;
    this.#onSettled = onSettled;
  }

  push(settled) {
    if (this.#stopped) return;
    let box;
    let zoom;
    try {
      const [w, s, e, n, z] = this.#getView();
      box = normalizeBox(w, s, e, n);
      zoom = z;
    } catch (err) {
      this.#warn(err);
      return;
    }
    this.#client.setView(box, zoom).then(
      () => {
        if (settled && !this.#stopped) this.#onSettled();
      },
      (err) => this.#warn(err),
    );
  }

  #warn(err) {
    if (this.#stopped || this.#client.status === 'closed') return;
    const code = err?.code ?? 'error';
    if (this.#warned.has(code)) return;
    this.#warned.add(code);
    console.warn(`pushmap: view not accepted (${code}): ${err?.message ?? err}`);
  }

  stop() {
    this.#stopped = true;
  }
}

/** register adds an adapter to globalThis.__pushmapAdapters and returns a function that removes it. */
export function register(adapter) {
  const list = (globalThis.__pushmapAdapters ??= []);
  list.push(adapter);
  return () => {
    const i = list.indexOf(adapter);
    if (i >= 0) list.splice(i, 1);
  };
}

/** Default marker colours by layer. */
export const DEFAULT_COLORS = Object.freeze({ flights: '#d9480f', vehicles: '#1971c2' });
export const DEFAULT_COLOR = '#5c5f66';
