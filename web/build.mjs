// build.mjs builds pushmap's demo into web/dist/, from the library (lib/,
// the npm package @pushmap/client) and the demo pages (demo/).
//
// Usage (from web/, after `npm ci` and `make wasm`):
//
//   node build.mjs            the demo's files, content-hashed, and its pages
//   node build.mjs compress   precompress what is in dist/ (.br, .gz)
//   node build.mjs all        both, in that order
//   node build.mjs check-package   fail unless lib/ holds the wasm and
//                             wasm_exec.js (npm pack runs it: prepack)
//
// The Go side puts lib/pushmap.wasm and lib/wasm_exec.js in place (`make
// wasm`: GOOS=js GOARCH=wasm go build, and a copy of $(go env GOROOT)/lib/
// wasm/wasm_exec.js): they are the package's assets as much as the demo's.
//
// What dist/ holds:
//
//   - Content-hashed files, named base.<12 hex digits of their SHA-256>.ext:
//     the wasm, wasm_exec.js, the demo bundles demo.js and leaflet-demo.js
//     (esbuild: demo/ with the library and, for Leaflet, Leaflet itself),
//     MapLibre's module, worker and CSS, Leaflet's CSS, basemap.json, the
//     demo's CSS and favicon. web.Handler serves a file whose name carries
//     its own hash `Cache-Control: immutable`: a browser never asks again.
//   - manifest.json: {"pushmap.wasm": "pushmap.3f2a….wasm", ...}, logical
//     name to file, for pages of your own.
//   - index.html and leaflet.html: demo/'s templates with every {{name}}
//     replaced by its file in the manifest (no-cache: they are the entry).
//   - vendor/*.LICENSE.txt of the third-party code.
//
// Files of an earlier build that this one did not write are removed, with
// their variants. Every output is written only when its bytes change, so an
// unchanged file keeps its modification time and its precompressed variants.
//
// Precompressed variants: X.br (brotli, quality 11) and X.gz (gzip -9) are
// written next to every compressible file X of dist/ larger than 1 KiB. The
// Go handler in static.go serves them to clients that accept them. Every
// step deletes variants that are older than their file, so a stale X.br
// never outlives a rebuilt X.
//
// dist/, node_modules/, lib/pushmap.wasm and lib/wasm_exec.js are build
// output (see .gitignore): nothing from npm or GOROOT is committed.

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const lib = join(here, 'lib');
const demo = join(here, 'demo');
const nm = join(here, 'node_modules');

// Latitude limit of Web Mercator: rings that circle a pole are closed along it.
const MAX_LAT = 85.0511;

// Hex digits of the SHA-256 in a hashed name: 48 bits, no collision among a
// build's few files; web.Handler checks them against the content.
const HASH_DIGITS = 12;

// The package's assets that `make wasm` builds into lib/.
const WASM_ASSETS = ['pushmap.wasm', 'wasm_exec.js'];

// Files copied, content-hashed: [logical name, source, directory in dist/].
const COPIED = [
  ['pushmap.wasm', join(lib, 'pushmap.wasm'), ''],
  ['wasm_exec.js', join(lib, 'wasm_exec.js'), ''],
  // maplibre-gl.mjs starts its worker from a URL the demo sets
  // (maplibregl.setWorkerUrl), so the two need not sit side by side.
  ['maplibre-gl.mjs', join(nm, 'maplibre-gl/dist/maplibre-gl.mjs'), 'vendor'],
  ['maplibre-gl-worker.mjs', join(nm, 'maplibre-gl/dist/maplibre-gl-worker.mjs'), 'vendor'],
  ['maplibre-gl.css', join(nm, 'maplibre-gl/dist/maplibre-gl.css'), 'vendor'],
  ['leaflet.css', join(nm, 'leaflet/dist/leaflet.css'), 'vendor'],
  ['demo.css', join(demo, 'demo.css'), ''],
  ['favicon.svg', join(demo, 'favicon.svg'), ''],
];

// Licenses of the third-party code in dist/, under their own names.
const LICENSES = [
  ['maplibre-gl/LICENSE.txt', 'maplibre-gl.LICENSE.txt'],
  ['leaflet/LICENSE', 'leaflet.LICENSE.txt'],
  ['world-atlas/LICENSE', 'world-atlas.LICENSE.txt'],
];

// The demo's bundles: [logical name, entry]. 'maplibre-gl' stays a module of
// its own (vendor/, hashed), imported by URL; Leaflet is bundled in.
const BUNDLES = [
  ['demo.js', join(demo, 'demo.js')],
  ['leaflet-demo.js', join(demo, 'leaflet-demo.js')],
];

// The pages: templates whose {{name}} become manifest entries.
const PAGES = ['index.html', 'leaflet.html'];

// Basemap resolution. world-atlas countries-50m (740 KB TopoJSON) rather than
// 110m: at the demo's zoom 4-6 over Europe the 110m coastlines are visibly
// polygonal (islands vanish, fjords become straight lines), while 50m, rounded
// to 3 decimals (~100 m, finer than the data's own detail), comes to ~1.5 MB
// of GeoJSON and ~0.3 MB brotli: parsed and tiled by MapLibre's worker well
// within the page's start-up. 10m (3.5 MB TopoJSON) is far too heavy.
const BASEMAP = 'world-atlas/countries-50m.json';
const COORD_DECIMALS = 3;

const COMPRESSIBLE = new Set(['.wasm', '.js', '.mjs', '.json', '.css', '.html', '.svg', '.ts', '.txt']);
const MIN_COMPRESS_SIZE = 1024;

// checkPackage fails unless lib/ holds the assets the package's exports name.
async function checkPackage() {
  for (const f of WASM_ASSETS) {
    const st = await stat(join(lib, f)).catch(() => null);
    if (!st?.size) throw new Error(`lib/${f} is missing: run \`make wasm\` in the repository first`);
  }
}

// hashedName returns dir/base.<hash>.ext for the bytes data.
export function hashedName(name, dir, data) {
  const ext = extname(name);
  const hash = createHash('sha256').update(data).digest('hex').slice(0, HASH_DIGITS);
  return join(dir, `${basename(name, ext)}.${hash}${ext}`).split('\\').join('/');
}

async function build() {
  await checkPackage();
  const manifest = {};
  const outputs = new Map(); // path in dist/ -> bytes
  const put = (name, dir, data) => {
    const file = hashedName(name, dir, data);
    manifest[name] = file;
    outputs.set(file, data);
  };
  for (const [name, from, dir] of COPIED) put(name, dir, await readFile(from));
  const basemap = await makeBasemap(join(nm, BASEMAP));
  const bad = checkRings(basemap);
  if (bad.length) {
    throw new Error(`basemap: ${bad.length} rings still jump across the antimeridian: ${bad.slice(0, 5).join(', ')}`);
  }
  put('basemap.json', '', Buffer.from(JSON.stringify(basemap)));
  for (const [name, entry] of BUNDLES) put(name, '', await bundle(entry, manifest['maplibre-gl.mjs']));
  for (const [from, to] of LICENSES) outputs.set(`vendor/${to}`, await readFile(join(nm, from)));
  for (const page of PAGES) outputs.set(page, Buffer.from(renderPage(page, await readFile(join(demo, page), 'utf8'), manifest)));
  const sorted = Object.fromEntries(Object.entries(manifest).sort(([a], [b]) => a.localeCompare(b)));
  outputs.set('manifest.json', Buffer.from(JSON.stringify(sorted, null, 2) + '\n'));

  let changed = 0;
  for (const [file, data] of outputs) {
    await mkdir(dirname(join(dist, file)), { recursive: true });
    changed += await writeIfChanged(join(dist, file), data);
  }
  const removed = await removeOthers(new Set(outputs.keys()));
  await removeStaleVariants();
  log(`built ${relative(process.cwd(), dist) || '.'}/: ${changed} files changed, ${removed} old ones removed (${basemap.features.filter((f) => !f.properties.kind).length} countries in basemap.json)`);
}

// bundle builds the demo entry into one ES module with esbuild: the demo,
// demo-stats.js and the library (imported through its package name, as an
// application would), Leaflet when imported; 'maplibre-gl' stays an import
// of the URL maplibreFile (relative to the page).
async function bundle(entry, maplibreFile) {
  const esbuild = await import('esbuild');
  const external = {
    name: 'maplibre-external',
    setup(b) {
      b.onResolve({ filter: /^maplibre-gl$/ }, () => ({ path: `./${maplibreFile}`, external: true }));
    },
  };
  const out = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: here,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none', // the licenses are in vendor/
    write: false,
    logLevel: 'warning',
    plugins: [external],
  });
  return Buffer.from(out.outputFiles[0].contents);
}

// renderPage replaces each {{name}} of a page template with its file from
// the manifest; an unknown name is an error.
export function renderPage(page, html, manifest) {
  return html.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (_, name) => {
    if (!(name in manifest)) throw new Error(`demo/${page}: {{${name}}} is not in the manifest (${Object.keys(manifest).join(', ')})`);
    return manifest[name];
  });
}

// removeOthers deletes the files of dist/ that are not in keep (paths
// relative to dist/) and are not a variant of one that is; it returns how
// many it deleted.
async function removeOthers(keep) {
  let n = 0;
  for (const file of await walk(dist)) {
    const rel = relative(dist, file).split('\\').join('/');
    const orig = rel.endsWith('.br') || rel.endsWith('.gz') ? rel.slice(0, -3) : rel;
    if (keep.has(orig)) continue;
    await unlink(file);
    n++;
  }
  return n;
}

// makeBasemap converts the world-atlas TopoJSON into a GeoJSON
// FeatureCollection whose rings MapLibre and Leaflet draw without false land
// bands across the map.
//
// A country whose outline would show the edges that close a ring around a
// pole (Antarctica: a seam along the antimeridian) gets properties.outline =
// false, and a companion feature {kind: 'outline'} carrying its rings as
// lines without those edges. Style: fill the features without `kind`, draw
// lines of the features whose `outline` is not false.
async function makeBasemap(file) {
  const { default: topojson } = await import('topojson-client');
  const topo = JSON.parse(await readFile(file, 'utf8'));
  const fc = topojson.feature(topo, topo.objects.countries);
  const features = [];
  for (const f of fc.features) {
    if (!f.geometry) continue;
    const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
    const mended = polys.map(mendPolygon).filter((p) => p.rings.length > 0);
    if (!mended.length) continue;
    const out = mended.map((p) => p.rings);
    const name = f.properties?.name ?? '';
    const polar = mended.some((p) => p.polar);
    const id = f.id === undefined ? undefined : Number(f.id) || f.id;
    features.push({
      type: 'Feature',
      id,
      properties: polar ? { name, outline: false } : { name },
      geometry: out.length === 1 ? { type: 'Polygon', coordinates: out[0] } : { type: 'MultiPolygon', coordinates: out },
    });
    if (polar) {
      features.push({
        type: 'Feature',
        properties: { name, kind: 'outline' },
        geometry: { type: 'MultiLineString', coordinates: mended.flatMap((p) => p.lines) },
      });
    }
  }
  return { type: 'FeatureCollection', features };
}

// mendPolygon mends each ring of a polygon (see mendRing), drops rings left
// without area (50m Antarctica carries a tiny ring around the pole itself,
// which becomes a line along the latitude limit) and winds the rings one way:
// the first (exterior) counter-clockwise, holes clockwise. MapLibre tells
// exteriors from holes by winding across a whole MultiPolygon, so the
// windings must agree between its polygons. It returns {rings, lines, polar}:
// lines are the rings' outlines without pole closures, polar whether a ring
// circled a pole.
export function mendPolygon(rings) {
  const out = { rings: [], lines: [], polar: false };
  for (const ring of rings) {
    const r = mendRing(ring);
    if (r.coast) {
      out.polar = true;
      out.lines.push(...r.coast);
    }
    const a = signedArea(r);
    if (r.length < 4 || Math.abs(a) < 1e-9) continue;
    const wantCCW = out.rings.length === 0;
    if (a > 0 !== wantCCW) r.reverse();
    out.rings.push(r);
    if (!r.coast) out.lines.push(r);
  }
  return out;
}

// signedArea is the planar area of a closed ring in square degrees, positive
// when the ring runs counter-clockwise (longitude east, latitude north).
export function signedArea(ring) {
  let s = 0;
  for (let i = 1; i < ring.length; i++) {
    s += (ring[i - 1][0] * ring[i][1]) - (ring[i][0] * ring[i - 1][1]);
  }
  return s / 2;
}

// mendRing makes a ring's longitudes continuous: where two consecutive points
// are more than 180° apart the ring crossed the antimeridian, so the rest of
// the ring is shifted by ±360° (Russia's Chukotka, Fiji then extend past 180;
// MapLibre and Leaflet draw longitudes beyond ±180 on the neighbouring world
// copy). A ring that ends 360° away from where it started circles a pole
// (Antarctica): it is closed along the Mercator latitude limit on that pole's
// side. Latitudes are clamped to ±85.0511 and coordinates rounded.
export function mendRing(ring) {
  const out = [];
  let shift = 0;
  let prev;
  for (const [lon0, lat0] of ring) {
    if (prev !== undefined) {
      const d = lon0 + shift - prev;
      if (d > 180) shift -= 360;
      else if (d < -180) shift += 360;
    }
    const lon = lon0 + shift;
    prev = lon;
    out.push([lon, clamp(lat0, -MAX_LAT, MAX_LAT)]);
  }
  if (out.length < 2) return out;
  const coastLen = out.length;
  const first = out[0];
  const last = out[out.length - 1];
  const span = last[0] - first[0];
  if (Math.abs(span) > 180) {
    // Circles a pole: the side is that of the ring's mean latitude.
    const meanLat = out.reduce((s, p) => s + p[1], 0) / out.length;
    const poleLat = meanLat < 0 ? -MAX_LAT : MAX_LAT;
    // Along the pole line in steps of at most 90°, so that no edge of the
    // ring spans more than 180° of longitude.
    const steps = Math.ceil(Math.abs(span) / 90);
    for (let i = 0; i <= steps; i++) out.push([last[0] - (span * i) / steps, poleLat]);
    out.push([first[0], first[1]]);
  } else if (last[0] !== first[0] || last[1] !== first[1]) {
    out.push([first[0], first[1]]);
  }
  // Keep the ring's middle inside [-180, 180] so the shifted part is the
  // smaller one.
  let min = Infinity;
  let max = -Infinity;
  for (const p of out) {
    if (p[0] < min) min = p[0];
    if (p[0] > max) max = p[0];
  }
  const mid = (min + max) / 2;
  const k = mid > 180 ? -360 : mid < -180 ? 360 : 0;
  const rounded = roundLine(out, k);
  // Rounding may have dropped the closing point as a duplicate of the one before.
  const a = rounded[0];
  const z = rounded[rounded.length - 1];
  if (a[0] !== z[0] || a[1] !== z[1]) rounded.push([a[0], a[1]]);
  if (coastLen < out.length) {
    // The ring without its pole closure, split where it runs along the
    // latitude limit itself (clamped points), for outlines.
    rounded.coast = [];
    let piece = [];
    for (const p of roundLine(out.slice(0, coastLen), k)) {
      if (Math.abs(p[1]) >= MAX_LAT - 1e-3) {
        if (piece.length >= 2) rounded.coast.push(piece);
        piece = [];
      } else {
        piece.push(p);
      }
    }
    if (piece.length >= 2) rounded.coast.push(piece);
  }
  return rounded;
}

// roundLine shifts the points' longitudes by k and rounds them to
// COORD_DECIMALS, dropping points that rounding made equal to the previous.
function roundLine(points, k) {
  const f = 10 ** COORD_DECIMALS;
  const out = [];
  for (const p of points) {
    const q = [Math.round((p[0] + k) * f) / f, Math.round(p[1] * f) / f];
    const r = out[out.length - 1];
    if (r && r[0] === q[0] && r[1] === q[1]) continue;
    out.push(q);
  }
  return out;
}

// checkRings returns a description of every ring of fc that still has two
// consecutive points more than 180° of longitude apart, or is not closed.
export function checkRings(fc) {
  const bad = [];
  for (const f of fc.features) {
    if (f.geometry.type === 'MultiLineString') {
      f.geometry.coordinates.forEach((line, li) => {
        for (let i = 1; i < line.length; i++) {
          if (Math.abs(line[i][0] - line[i - 1][0]) > 180) {
            bad.push(`${f.properties.name} outline ${li} point ${i}`);
            return;
          }
        }
      });
      continue;
    }
    const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
    polys.forEach((rings, pi) =>
      rings.forEach((ring, ri) => {
        for (let i = 1; i < ring.length; i++) {
          if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180) {
            bad.push(`${f.properties.name} polygon ${pi} ring ${ri} point ${i}`);
            return;
          }
        }
        const a = ring[0];
        const z = ring[ring.length - 1];
        if (a[0] !== z[0] || a[1] !== z[1]) bad.push(`${f.properties.name} polygon ${pi} ring ${ri} not closed`);
      }),
    );
  }
  return bad;
}

async function compress() {
  await removeStaleVariants();
  let n = 0;
  for (const file of await walk(dist)) {
    const ext = extname(file);
    if (!COMPRESSIBLE.has(ext)) continue;
    const st = await stat(file);
    if (st.size < MIN_COMPRESS_SIZE) continue;
    const fresh = await Promise.all([stat(file + '.br'), stat(file + '.gz')]).then(() => true, () => false);
    if (fresh) continue; // removeStaleVariants kept them: not older than file
    const data = await readFile(file);
    const br = brotliCompressSync(data, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: 11,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: data.length,
        [zlibConstants.BROTLI_PARAM_MODE]: ext === '.wasm' ? zlibConstants.BROTLI_MODE_GENERIC : zlibConstants.BROTLI_MODE_TEXT,
      },
    });
    const gz = gzipSync(data, { level: 9 });
    await writeFile(file + '.br', br);
    await writeFile(file + '.gz', gz);
    n++;
    log(`${relative(dist, file)}: ${kb(data.length)} -> br ${kb(br.length)}, gz ${kb(gz.length)}`);
  }
  if (!n) log('compress: every variant is up to date');
}

// writeIfChanged writes data to file unless it holds those bytes already, so
// that unchanged files keep their modification time (and their precompressed
// variants stay valid). It returns 1 if it wrote, else 0.
async function writeIfChanged(file, data) {
  const old = await readFile(file).catch(() => null);
  if (old && old.equals(data)) return 0;
  await writeFile(file, data);
  return 1;
}

// removeStaleVariants deletes X.br and X.gz when X is missing or newer.
async function removeStaleVariants() {
  let files;
  try {
    files = await walk(dist);
  } catch {
    return;
  }
  let n = 0;
  for (const file of files) {
    if (!file.endsWith('.br') && !file.endsWith('.gz')) continue;
    const orig = file.slice(0, -3);
    const [v, o] = await Promise.all([stat(file), stat(orig).catch(() => null)]);
    if (!o || o.mtimeMs > v.mtimeMs) {
      await unlink(file);
      n++;
    }
  }
  if (n) log(`removed ${n} stale precompressed files`);
}

async function walk(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function clamp(x, lo, hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

function kb(n) {
  return `${(n / 1024).toFixed(0)} KiB`;
}

function log(msg) {
  process.stderr.write(msg + '\n');
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const cmd = process.argv[2] ?? 'build';
  const steps = { build: [build], compress: [compress], all: [build, compress], 'check-package': [checkPackage] }[cmd];
  if (!steps) {
    log(`usage: node build.mjs [build|compress|all|check-package] (got ${JSON.stringify(cmd)})`);
    process.exit(2);
  }
  try {
    for (const step of steps) await step();
  } catch (err) {
    log(`build.mjs ${cmd}: ${err.stack || err}`);
    process.exit(1);
  }
}
