// supercluster-zooms.mjs clusters points with npm supercluster at every
// zoom of a range, for server/internal/store's TestMergedVsSupercluster.
//
// Usage: node supercluster-zooms.mjs < input.json
// input: {"points": [[lon, lat], ...], "zooms": [z...], "probes": [[w, s, e, n], ...]}
// output: [{"zoom": z, "items": n, "points": total, "minDist": px, "probes": [largest count centred in probe...]}...]
//   items: entries getClusters returns for the world (a single point is one)
//   minDist: smallest distance between two entries, in pixels of a 512-px tile
import Supercluster from 'supercluster';

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { points, zooms, probes } = JSON.parse(raw);
const features = points.map(([lon, lat]) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [lon, lat] } }));
const index = new Supercluster({ radius: 40, extent: 512, maxZoom: 16 }).load(features);
const out = [];
for (const zoom of zooms) {
  const cs = index.getClusters([-180, -85.06, 180, 85.06], zoom);
  let total = 0;
  const best = probes.map(() => 0);
  for (const c of cs) {
    const n = c.properties.cluster ? c.properties.point_count : 1;
    total += n;
    const [lon, lat] = c.geometry.coordinates;
    probes.forEach(([w, s, e, nn], i) => {
      const inLon = w <= e ? lon >= w && lon <= e : lon >= w || lon <= e;
      if (inLon && lat >= s && lat <= nn) best[i] = Math.max(best[i], n);
    });
  }
  out.push({ zoom, items: cs.length, points: total, probes: best });
}
process.stdout.write(JSON.stringify(out));
