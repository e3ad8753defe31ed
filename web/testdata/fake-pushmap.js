// fake-pushmap.js is a TEST DOUBLE of what the Go wasm client sets up,
// globalThis.__pushmap (contract version 1). It is not the real client and is
// never copied into dist/: it lets the JS API, the adapters and the demo
// pages be checked without a server or a wasm build.
//
// Load it before pushmap.js's load() runs (a classic <script>, or an import
// in Node): load() then uses it as it is. It simulates `count` markers
// (layers 'flights' and 'vehicles') of which `movesPerTick` move every
// `tickMs`, and delivers those inside the view plus its margin. Like the
// real client it drops markers that leave the view on setView without a
// 'changes' event (set dropEvents: true to get one). Tune it before the
// first connect through globalThis.__pushmapFake.options; inspect it
// through globalThis.__pushmapFake.clients, whose emit(type, payload) plays
// any event of the wasm (such as 'clusters' or 'tile') to the client.
(() => {
  const options = {
    count: 3000,
    movesPerTick: 60,
    tickMs: 100,
    seed: 42,
    ackMs: 10,
    dropEvents: false,
  };
  const clients = [];

  // mulberry32: small deterministic PRNG.
  function rng(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function inBox(m, box) {
    if (!box) return false;
    const [w, s, e, n] = box;
    if (m.lat < s || m.lat > n) return false;
    return w <= e ? m.lon >= w && m.lon <= e : m.lon >= w || m.lon <= e;
  }

  function widen([w, s, e, n], margin) {
    const width = w <= e ? e - w : e - w + 360;
    const dx = width * margin;
    const dy = (n - s) * margin;
    const s2 = Math.max(-85.0511, s - dy);
    const n2 = Math.min(85.0511, n + dy);
    if (width + 2 * dx >= 360) return [-180, s2, 180, n2];
    const wrap = (x) => ((((x + 180) % 360) + 360) % 360) - 180;
    return [wrap(w - dx), s2, wrap(e + dx), n2];
  }

  const copy = (m) => ({ ...m, props: { ...m.props } });

  function connect(url, opts, onEvent) {
    const rand = rng(options.seed);
    const world = new Map();
    for (let i = 0; i < options.count; i++) {
      const flight = i % 2 === 0;
      // Vehicles around Europe, flights anywhere (some across the antimeridian).
      const m = flight
        ? { lon: rand() * 360 - 180, lat: rand() * 140 - 70 }
        : { lon: -10 + rand() * 45, lat: 36 + rand() * 25 };
      const id = `${flight ? 'f' : 'v'}${i}`;
      world.set(id, {
        id,
        layer: flight ? 'flights' : 'vehicles',
        lon: m.lon,
        lat: m.lat,
        version: 1,
        time: 0,
        props: { heading: Math.round(rand() * 360) },
      });
    }
    let layers = new Set(opts.layers);
    let view = null; // widened box
    let state = 'connecting';
    const held = new Map();
    let timer = 0;
    let sentViews = 0;

    // Clusters as the Go client keeps them (the one copy): by "view/id",
    // updated by each 'clusters' event before it reaches pushmap.js.
    const heldClusters = new Map();
    const emit = (type, payload) => {
      if (type === 'clusters') {
        if (payload.reset) heldClusters.clear();
        for (const c of payload.clusters ?? []) {
          const key = `${c.view}/${c.id}`;
          if (c.count > 0) heldClusters.set(key, { ...c, key });
          else heldClusters.delete(key);
        }
      }
      onEvent(type, payload);
    };
    const setState = (s, code = 0, reason = '') => {
      state = s;
      emit('status', { state: s, code, reason });
    };
    const wanted = (m) => layers.has(m.layer) && inBox(m, view);
    const frame = (reset, added, updated, removed) => {
      if (!reset && !added.length && !updated.length && !removed.length) return;
      const bytes = 12 + 34 * (added.length + updated.length) + 8 * removed.length;
      emit('changes', { reset, added, updated, removed, bytes });
    };
    const snapshot = () => {
      held.clear();
      const added = [];
      for (const m of world.values()) {
        if (wanted(m)) {
          held.set(m.id, m);
          added.push(copy(m));
        }
      }
      frame(true, added, [], []);
    };
    const refilter = () => {
      const added = [];
      const removed = [];
      for (const id of [...held.keys()]) {
        if (!wanted(world.get(id))) {
          held.delete(id);
          removed.push(id);
        }
      }
      for (const m of world.values()) {
        if (!held.has(m.id) && wanted(m)) {
          held.set(m.id, m);
          added.push(copy(m));
        }
      }
      frame(false, added, [], options.dropEvents ? removed : []);
    };
    const tick = () => {
      const ids = [...world.keys()];
      const added = [];
      const updated = [];
      const removed = [];
      for (let k = 0; k < options.movesPerTick; k++) {
        const m = world.get(ids[Math.floor(rand() * ids.length)]);
        const step = m.layer === 'flights' ? 0.5 : 0.05;
        m.lon += (rand() - 0.5) * step;
        if (m.lon > 180) m.lon -= 360;
        if (m.lon < -180) m.lon += 360;
        m.lat = Math.max(-80, Math.min(80, m.lat + (rand() - 0.5) * step));
        m.version++;
        m.time = Date.now() - Math.round(5 + rand() * 40);
        const was = held.has(m.id);
        const is = wanted(m);
        if (is) held.set(m.id, m);
        else held.delete(m.id);
        if (was && is) updated.push(copy(m));
        else if (is) added.push(copy(m));
        else if (was) removed.push(m.id);
      }
      if (state === 'open' && view) frame(false, added, updated, removed);
    };

    const handle = {
      setView(w, s, e, n, zoom) {
        if (state === 'closed') return Promise.reject(Object.assign(new Error('client closed'), { code: 'closed' }));
        if (![w, s, e, n, zoom].every(Number.isFinite) || s > n || w < -180 || e > 180) {
          return Promise.reject(Object.assign(new Error(`bad view ${[w, s, e, n, zoom]}`), { code: 'bad_view' }));
        }
        sentViews++;
        const first = view === null;
        view = widen([w, s, e, n], opts.margin ?? 0);
        handle.lastView = { west: w, south: s, east: e, north: n, zoom };
        if (state === 'open') {
          if (first) snapshot();
          else refilter();
        }
        return new Promise((r) => setTimeout(r, options.ackMs));
      },
      setLayers(ls) {
        layers = new Set(ls);
        if (state === 'open' && view) refilter();
        return new Promise((r) => setTimeout(r, options.ackMs));
      },
      markers: () => [...held.values()].map(copy),
      clusters: () => [...heldClusters.values()].map((c) => ({ ...c })),
      status: () => state,
      close() {
        if (state === 'closed') return;
        clearInterval(timer);
        setState('closed', 1000, 'closed by the client');
      },
      get sentViews() {
        return sentViews;
      },
      url,
      opts,
      lastView: null,
      tick,
      emit,
    };
    clients.push(handle);
    setState('connecting');
    setTimeout(() => {
      if (state === 'closed') return;
      setState('open');
      if (view) snapshot();
      if (options.tickMs > 0) timer = setInterval(tick, options.tickMs);
    }, 20);
    return handle;
  }

  globalThis.__pushmap = { version: 1, connect, fake: true };
  globalThis.__pushmapFake = { options, clients };
})();
