// supercluster-compare.mjs clusters points with npm supercluster, for
// comparing with pushmap's clusters (server/supercluster_test.go runs it).
//
// Usage: node supercluster-compare.mjs < input.json
// input: {"points": [[lon, lat], ...], "zoom": z, "bbox": [w, s, e, n]}
// output: {"clusters": n, "points": total, "maxCount": m, "buildMs": t, "queryMs": q}
//   clusters: entries getClusters returns for bbox at zoom (single points count as one)
//   buildMs: time to build the index, which supercluster redoes on any change
import Supercluster from 'supercluster';

let raw = '';
for await (const chunk of process.stdin) raw += chunk;
const { points, zoom, bbox } = JSON.parse(raw);
const features = points.map(([lon, lat]) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [lon, lat] } }));

const t0 = performance.now();
const index = new Supercluster({ radius: 40, maxZoom: 16 }).load(features);
const t1 = performance.now();
const clusters = index.getClusters(bbox, Math.floor(zoom));
const t2 = performance.now();

let total = 0;
let maxCount = 0;
for (const c of clusters) {
  const n = c.properties.cluster ? c.properties.point_count : 1;
  total += n;
  maxCount = Math.max(maxCount, n);
}
process.stdout.write(JSON.stringify({
  clusters: clusters.length, points: total, maxCount, buildMs: t1 - t0, queryMs: t2 - t1,
}));
