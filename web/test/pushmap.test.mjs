// Tests of pushmap.js against the test double testdata/fake-pushmap.js.
// Run: cd web && node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import '../testdata/fake-pushmap.js';
import { clusterKey, load, normalizeBox, resolveURL } from '../lib/pushmap.js';

globalThis.location ??= new URL('http://example.test/app/index.html');

test('normalizeBox', () => {
  const cases = [
    ['plain box', [-10, 35, 30, 60], [-10, 35, 30, 60]],
    ['crossing, given west > east', [170, -10, -170, 10], [170, -10, -170, 10]],
    ['unwrapped east beyond 180', [170, -10, 190, 10], [170, -10, -170, 10]],
    ['unwrapped west below -180', [-190, -10, -170, 10], [170, -10, -170, 10]],
    ['whole copy to the east', [200, 0, 220, 10], [-160, 0, -140, 10]],
    ['east exactly 180', [-10, 0, 180, 10], [-10, 0, 180, 10]],
    ['west exactly -180', [-180, 0, 10, 10], [-180, 0, 10, 10]],
    ['360 wide', [-118, -85, 242, 85], [-180, -85, 180, 85]],
    ['wider than 360', [-200, -80, 500, 80], [-180, -80, 180, 80]],
    ['latitudes clamped', [0, -90, 10, 90], [0, -85.0511, 10, 85.0511]],
    ['zero width', [10, 0, 10, 1], [10, 0, 10, 1]],
  ];
  for (const [name, input, want] of cases) {
    assert.deepEqual(normalizeBox(...input), want, name);
  }
  assert.throws(() => normalizeBox(0, NaN, 1, 1), (e) => e.code === 'bad_view' && /south/.test(e.message));
});

test('resolveURL', () => {
  const base = 'https://maps.example/app/index.html';
  assert.equal(resolveURL('/ws', base), 'wss://maps.example/ws');
  assert.equal(resolveURL('ws', base), 'wss://maps.example/app/ws');
  assert.equal(resolveURL('/ws', 'http://localhost:8080/'), 'ws://localhost:8080/ws');
  assert.equal(resolveURL('ws://other:1/x?t=1', base), 'ws://other:1/x?t=1');
  assert.equal(resolveURL('http://other/ws', base), 'ws://other/ws');
  assert.throws(() => resolveURL('ftp://x/ws', base), (e) => e.code === 'bad_url');
});

function waitFor(fn, ms = 2000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const v = fn();
      if (v) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error('timed out'));
      setTimeout(poll, 5);
    };
    poll();
  });
}

test('load returns one promise and connects through __pushmap', async (t) => {
  const p1 = load();
  const p2 = load();
  assert.equal(p1, p2);
  const pm = await p1;
  assert.equal(pm.version, 1);

  const client = pm.connect('/ws', { layers: ['flights', 'vehicles'] });
  t.after(() => client.close());
  assert.equal(client.url, 'ws://example.test/ws');
  const fake = globalThis.__pushmapFake.clients.at(-1);
  assert.deepEqual(fake.opts, { token: '', layers: ['flights', 'vehicles'], throttleMs: 100 }); // margin: the Go default unless asked

  const seen = { status: [], changes: 0, reset: 0, added: 0, changed: 0, removed: 0, kinds: new Set() };
  client.on('status', (s) => seen.status.push(s.state));
  client.on('changes', () => seen.changes++);
  client.on('reset', (p) => {
    assert.equal(p, undefined);
    seen.reset++;
  });
  client.on('marker', (m) => {
    seen.kinds.add(m.kind);
    if (m.kind === 'added') seen.added++;
    else seen.changed++;
  });
  client.on('remove', (id) => {
    assert.equal(typeof id, 'string');
    seen.removed++;
  });
  // A throwing listener does not stop the others nor reach the wasm.
  const errors = [];
  const origReport = globalThis.reportError;
  globalThis.reportError = (e) => errors.push(e);
  t.after(() => (globalThis.reportError = origReport));
  client.on('changes', () => {
    throw new Error('listener bug');
  });

  await client.setView([-10, 35, 30, 60], 4);
  await waitFor(() => seen.reset > 0 && seen.changed > 0);
  // An updated marker may have moved, changed its props, or both: 'changed'.
  assert.deepEqual([...seen.kinds].sort(), ['added', 'changed']);
  assert.deepEqual(seen.status.slice(0, 1), ['open']);
  assert.equal(client.status, 'open');
  assert.ok(seen.added > 0, 'snapshot markers arrive as added');
  assert.ok(errors.length > 0 && errors[0].message === 'listener bug');
  assert.ok(client.markers().length > 0);

  // Unwrapped boxes reach the wasm normalised.
  await client.setView([170, -10, 190, 10], 3);
  assert.deepEqual(fake.lastView, { west: 170, south: -10, east: -170, north: 10, zoom: 3 });

  // off / the function on() returns remove listeners.
  const n = seen.changes;
  const off = client.on('changes', () => seen.changes++);
  off();
  fake.tick();
  assert.ok(seen.changes - n <= 1);
});

test('clusters() reads the clusters the wasm client holds', async (t) => {
  const pm = await load();
  const client = pm.connect('/ws', { layers: ['flights'] });
  t.after(() => client.close());
  const fake = globalThis.__pushmapFake.clients.at(-1);
  const events = [];
  client.on('clusters', (e) => events.push({ e, held: client.clusters().length }));
  // The wasm leaves key to pushmap.js.
  const cl = (view, id, count, lon = 1, lat = 2) => ({ view, id, z: 4, count, lon, lat, expansionZoom: 6 });
  const keys = () => client.clusters().map((c) => c.key).sort();

  assert.deepEqual(client.clusters(), []);
  fake.emit('clusters', { reset: true, clusters: [cl(0, 1, 10), cl(0, 2, 3), cl(1, 1, 4)] });
  assert.deepEqual(keys(), ['0/1', '0/2', '1/1'], 'named by view and id');
  assert.equal(events.length, 1);
  assert.equal(events[0].held, 3, 'clusters() is up to date when listeners run');
  assert.equal(events[0].e.reset, true);

  fake.emit('clusters', { reset: false, clusters: [cl(0, 1, 11, 1.5, 2.5), cl(0, 2, 0)] });
  assert.deepEqual(keys(), ['0/1', '1/1']);
  assert.deepEqual(client.clusters().find((c) => c.key === '0/1'), { ...cl(0, 1, 11, 1.5, 2.5), key: '0/1' });
  assert.deepEqual(events[1].e.clusters.map((c) => c.key), ['0/1', '0/2'], "the event's clusters have their keys");

  // Snapshots are copies.
  client.clusters()[0].count = 999;
  assert.notEqual(client.clusters()[0].count, 999);
  fake.emit('clusters', { reset: true, clusters: [] });
  assert.deepEqual(client.clusters(), []);
  assert.equal(clusterKey({ view: 2, id: 2 ** 52 + 1 }), '2/4503599627370497');
});

test('setView and setLayers reject with coded Errors', async (t) => {
  const pm = await load();
  const client = pm.connect('ws://h/ws', { layers: ['flights'] });
  t.after(() => client.close());
  await assert.rejects(client.setView([1, 2, 3], 4), (e) => e instanceof Error && e.code === 'bad_view');
  await assert.rejects(client.setView([0, 0, 1, 1], NaN), (e) => e.code === 'bad_view');
  await assert.rejects(client.setView([0, 'x', 1, 1], 3), (e) => e.code === 'bad_view');
  await assert.rejects(client.setLayers('flights'), (e) => e.code === 'bad_layers');
  // The wasm's rejections reach the caller as Errors with .code.
  client.close();
  await assert.rejects(client.setView([0, 0, 1, 1], 3), (e) => e instanceof Error && e.code === 'closed');
});

test('load refuses another contract version', async (t) => {
  const saved = globalThis.__pushmap;
  t.after(() => (globalThis.__pushmap = saved));
  globalThis.__pushmap = { version: 2, connect() {} };
  const fresh = await import('../lib/pushmap.js?version-test');
  await assert.rejects(fresh.load(), (e) => e.code === 'version');
});

test('getToken reaches the wasm as a function returning a Promise of a string', async (t) => {
  const pm = await load();
  let n = 0;
  const client = pm.connect('/ws', { getToken: () => `tok-${++n}` });
  t.after(() => client.close());
  const fake = globalThis.__pushmapFake.clients.at(-1);
  assert.equal(typeof fake.opts.getToken, 'function');
  assert.equal(await fake.opts.getToken(), 'tok-1');
  assert.equal(await fake.opts.getToken(), 'tok-2');

  const asyncClient = pm.connect('/ws', { getToken: async () => 'async-tok' });
  t.after(() => asyncClient.close());
  assert.equal(await globalThis.__pushmapFake.clients.at(-1).opts.getToken(), 'async-tok');

  const bad = pm.connect('/ws', { getToken: () => 42 });
  t.after(() => bad.close());
  await assert.rejects(globalThis.__pushmapFake.clients.at(-1).opts.getToken(), /getToken returned number/);

  const throwing = pm.connect('/ws', { getToken: () => { throw new Error('no session'); } });
  t.after(() => throwing.close());
  await assert.rejects(globalThis.__pushmapFake.clients.at(-1).opts.getToken(), /no session/);

  assert.throws(() => pm.connect('/ws', { getToken: 'not a function' }), /getToken must be a function/);
  // Without getToken the options the wasm sees are unchanged.
  const plain = pm.connect('/ws', { token: 'static' });
  t.after(() => plain.close());
  assert.equal('getToken' in globalThis.__pushmapFake.clients.at(-1).opts, false);
});

test("'ready' comes once, after the first snapshot's 'changes'", async (t) => {
  const pm = await load();
  const client = pm.connect('/ws', { layers: ['flights'] });
  t.after(() => client.close());
  const fake = globalThis.__pushmapFake.clients.at(-1);
  const order = [];
  client.on('changes', (c) => order.push(c.reset ? 'snapshot' : 'changes'));
  client.on('ready', () => order.push('ready'));
  fake.emit('changes', { reset: false, added: [], updated: [], removed: [], bytes: 1 });
  fake.emit('changes', { reset: true, added: [], updated: [], removed: [], bytes: 1 });
  fake.emit('changes', { reset: true, added: [], updated: [], removed: [], bytes: 1 });
  assert.deepEqual(order, ['changes', 'snapshot', 'ready', 'snapshot']);
});

test("'ready' comes once for a view in cluster mode too, after its clusters", async (t) => {
  const pm = await load();
  const client = pm.connect('/ws', { layers: ['flights'] });
  t.after(() => client.close());
  const fake = globalThis.__pushmapFake.clients.at(-1);
  const order = [];
  client.on('clusters', (e) => order.push(e.reset ? 'cluster snapshot' : 'clusters'));
  client.on('ready', () => order.push('ready'));
  fake.emit('clusters', { reset: false, clusters: [] });
  fake.emit('clusters', { reset: true, clusters: [{ z: 3, x: 1, y: 1, count: 5, lon: 1, lat: 1 }] });
  fake.emit('changes', { reset: true, added: [], updated: [], removed: [], bytes: 1 });
  assert.deepEqual(order, ['clusters', 'cluster snapshot', 'ready']);
});

test('urls: more nodes of the same map, resolved as url is', async (t) => {
  const pm = await load();
  const client = pm.connect('/ws', { urls: ['ws://b.example/ws', 'https://c.example/ws'] });
  t.after(() => client.close());
  const fake = globalThis.__pushmapFake.clients.at(-1);
  assert.deepEqual(fake.opts.urls, ['ws://b.example/ws', 'wss://c.example/ws']);
  assert.throws(() => pm.connect('/ws', { urls: ['ftp://x/ws'] }), (e) => e.code === 'bad_url');
});

test('declutter reaches the wasm only when asked, as a boolean', async (t) => {
  const pm = await load();
  const on = pm.connect('/ws', { declutter: true });
  const off = pm.connect('/ws', { declutter: false });
  const unset = pm.connect('/ws');
  t.after(() => [on, off, unset].forEach((c) => c.close()));
  const [fOn, fOff, fUnset] = globalThis.__pushmapFake.clients.slice(-3);
  assert.equal(fOn.opts.declutter, true);
  assert.equal(fOff.opts.declutter, false);
  assert.equal('declutter' in fUnset.opts, false); // the Go default: off
});
