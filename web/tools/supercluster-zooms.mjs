// supercluster-zooms.mjs clusters points with npm supercluster at every
// zoom of a range, for server/internal/store's TestMergedVsSupercluster and
// TestExpansionZoomVsSupercluster.
//
// Usage: node supercluster-zooms.mjs < input.json
// input: {"points": [[lon, lat], ...], "zooms": [z...], "probes": [[w, s, e, n], ...],
//         "box": [w, s, e, n] (optional: the clusters of this box are listed)}
// output: [{"zoom": z, "items": n, "points": total, "probes": [largest count centred in probe...],
//           "expansions": [[lon, lat, count, getClusterExpansionZoom]...],
//           "clusters": [[lon, lat, count]...] (with box only)}...]
//   items: entries getClusters returns for the world (a single point is one)
//   expansions: every cluster of 20 points or more, at most 400
import Supercluster from 'supercluster';

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { points, zooms, probes, box } = JSON.parse(raw);
const features = points.map(([lon, lat]) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [lon, lat] } }));
const index = new Supercluster({ radius: 40, extent: 512, maxZoom: 16 }).load(features);
const out = [];
for (const zoom of zooms) {
  const cs = index.getClusters([-180, -85.06, 180, 85.06], zoom);
  let total = 0;
  const best = (probes ?? []).map(() => 0);
  for (const c of cs) {
    const n = c.properties.cluster ? c.properties.point_count : 1;
    total += n;
    const [lon, lat] = c.geometry.coordinates;
    (probes ?? []).forEach(([w, s, e, nn], i) => {
      const inLon = w <= e ? lon >= w && lon <= e : lon >= w || lon <= e;
      if (inLon && lat >= s && lat <= nn) best[i] = Math.max(best[i], n);
    });
  }
  const expansions = cs
    .filter((c) => c.properties.cluster && c.properties.point_count >= 20)
    .slice(0, 400)
    .map((c) => [...c.geometry.coordinates, c.properties.point_count, index.getClusterExpansionZoom(c.properties.cluster_id)]);
  const res = { zoom, items: cs.length, points: total, probes: best, expansions };
  if (box) {
    res.clusters = index.getClusters(box, zoom).map((c) => [...c.geometry.coordinates, c.properties.cluster ? c.properties.point_count : 1]);
  }
  out.push(res);
}
process.stdout.write(JSON.stringify(out));
