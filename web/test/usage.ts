// usage.ts is type-checked by `make test-js` (tsc -p test/tsconfig.json),
// never run: it uses the package as a TypeScript user would, through its
// name and exports map, so that the typings and the exports agree.

import { load, normalizeBox, type BBox, type MarkerEvent } from '@pushmap/client';
import { attachMapLibre } from '@pushmap/client/maplibre';
import { attachLeaflet } from '@pushmap/client/leaflet';

declare const maplibreMap: { getZoom(): number };
declare const leafletMap: object;

export async function usage(): Promise<void> {
  const pushmap = await load({ timeoutMs: 5000 });
  const client = pushmap.connect('/ws', { layers: ['vehicles'], margin: 0.25, declutter: true });
  client.on('marker', (m: MarkerEvent) => {
    const kind: 'added' | 'changed' = m.kind;
    void kind;
  });
  client.on('status', (s) => void s.state);
  const box: BBox = normalizeBox(-190, -10, 10, 10);
  await client.setView(box, 4);
  const a = attachMapLibre(maplibreMap, client, { colors: { vehicles: '#1971c2' }, tileSources: { density: 'density' } });
  const kindM: 'maplibre' = a.kind;
  const b = attachLeaflet(leafletMap, client, undefined, { radius: 4 });
  const kindL: 'leaflet' = b.kind;
  void kindM;
  void kindL;
  a.detach();
  b.detach();
}
