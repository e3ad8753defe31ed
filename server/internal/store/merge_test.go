package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// blob is a dense group of points around a centre.
type blob struct {
	name   string
	at     geo.Point
	sigma  float64 // degrees
	points int
}

// pointSet makes a fixed set: uniform points world-wide plus blobs.
func pointSet(seed uint64, uniform int, blobs []blob) []geo.Point {
	rng := rand.New(rand.NewPCG(seed, 14))
	var pts []geo.Point
	for range uniform {
		pts = append(pts, geo.Pt(rng.Float64()*360-180, rng.Float64()*170-85))
	}
	for _, b := range blobs {
		for range b.points {
			lon := geo.WrapLon(b.at.Lon + rng.NormFloat64()*b.sigma)
			lat := b.at.Lat + rng.NormFloat64()*b.sigma*0.7
			pts = append(pts, geo.Pt(lon, lat))
		}
	}
	for i, p := range pts {
		pts[i] = wire.Quantize(p)
	}
	return pts
}

// zoomResult is one zoom of web/tools/supercluster-zooms.mjs's output.
type zoomResult struct {
	Zoom, Items, Points int
	Probes              []int
	Expansions          [][4]float64 // lon, lat, count, getClusterExpansionZoom
	Clusters            [][3]float64 // lon, lat, count: the clusters of the input's box, when it has one
}

// superclusterZooms clusters pts with npm supercluster at zooms.
func superclusterZooms(t *testing.T, pts []geo.Point, zooms []int, probes []geo.Box) []zoomResult {
	t.Helper()
	pb := make([][4]float64, len(probes))
	for i, b := range probes {
		pb[i] = [4]float64{b.West, b.South, b.East, b.North}
	}
	return runSupercluster(t, pts, map[string]any{"zooms": zooms, "probes": pb})
}

// runSupercluster runs web/tools/supercluster-zooms.mjs on pts and the
// rest of its input, in.
func runSupercluster(t *testing.T, pts []geo.Point, in map[string]any) []zoomResult {
	t.Helper()
	web := filepath.Join("..", "..", "..", "web")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "supercluster")); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatal("npm supercluster missing in web/node_modules: run make web")
		}
		t.Skip("npm supercluster missing in web/node_modules: run make web")
	}
	raw := make([][2]float64, len(pts))
	for i, p := range pts {
		raw[i] = [2]float64{p.Lon, p.Lat}
	}
	in["points"] = raw
	if in["probes"] == nil {
		in["probes"] = [][4]float64{}
	}
	body, _ := json.Marshal(in)
	cmd := exec.Command("node", filepath.Join(web, "tools", "supercluster-zooms.mjs"))
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("supercluster: %v", err)
	}
	var r []zoomResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("supercluster output %.200q: %v", out, err)
	}
	return r
}

// probeOf is the box around a blob within which its cluster is looked for.
func probeOf(b blob) geo.Box {
	d := 4 * b.sigma
	return geo.Box{West: geo.WrapLon(b.at.Lon - d), South: b.at.Lat - d, East: geo.WrapLon(b.at.Lon + d), North: b.at.Lat + d}
}

// inProbe tells whether p lies in probe box b (which may cross the antimeridian).
func inProbe(b geo.Box, p geo.Point) bool {
	inLon := p.Lon >= b.West && p.Lon <= b.East
	if b.West > b.East {
		inLon = p.Lon >= b.West || p.Lon <= b.East
	}
	return inLon && p.Lat >= b.South && p.Lat <= b.North
}

// minDistance returns the smallest distance between two clusters' centres,
// in world units, the short way round the antimeridian.
func minDistance(cs []MergedCluster) float64 {
	type xy struct{ x, y float64 }
	ps := make([]xy, len(cs))
	for i, c := range cs {
		ps[i] = xy{(c.At.Lon + 180) / 360, geo.MercatorY(c.At.Lat)}
	}
	slices.SortFunc(ps, func(a, b xy) int { return cmp.Compare(a.y, b.y) })
	best := math.Inf(1)
	for i := range ps {
		for j := i + 1; j < len(ps) && ps[j].y-ps[i].y < best; j++ {
			dx := math.Abs(ps[j].x - ps[i].x)
			dx = min(dx, 1-dx)
			best = min(best, math.Hypot(dx, ps[j].y-ps[i].y))
		}
	}
	return best
}

// TestMergedVsSupercluster: on fixed point sets (uniform, city blobs, a blob
// on a zoom-6 tile corner, a blob across the antimeridian), at zooms 0–16,
// the merged clusters of a world view are no closer than the radius, hold
// exactly the points of their units (a brute-force recount), number within
// ±15% of supercluster's at every zoom (beyond cluster zoom − 5, merged
// from the markers one by one), and keep each blob whole where
// supercluster does. The ratios at every zoom are logged.
func TestMergedVsSupercluster(t *testing.T) {
	keepMembers = true
	defer func() { keepMembers = false }()
	const maxZoom = 14
	corner := geo.Tile{Z: 6, X: 33, Y: 22}.Bounds()
	sets := []struct {
		name    string
		uniform int
		blobs   []blob
	}{
		{"uniform", 20000, nil},
		{"cities", 10000, []blob{
			{"paris", geo.Pt(2.35, 48.85), 0.15, 3000}, {"nyc", geo.Pt(-74, 40.7), 0.3, 3000},
			{"tokyo", geo.Pt(139.7, 35.7), 0.5, 3000}, {"lagos", geo.Pt(3.4, 6.5), 0.08, 3000},
			{"lima", geo.Pt(-77, -12), 0.05, 3000},
		}},
		{"tile corner", 5000, []blob{{"corner", geo.Pt(corner.West, corner.North), 0.1, 3000}}},
		{"antimeridian", 5000, []blob{{"fiji", geo.Pt(180, -17), 0.1, 3000}}},
	}
	world := geo.BBox(-180, -85.06, 180, 85.06)
	zooms := make([]int, 17)
	for z := range zooms {
		zooms[z] = z
	}
	for si, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			pts := pointSet(uint64(si+1), set.uniform, set.blobs)
			st := New(maxZoom)
			for i, p := range pts {
				if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
					t.Fatal(err)
				}
			}
			probes := make([]geo.Box, len(set.blobs))
			for i, b := range set.blobs {
				probes[i] = probeOf(b)
			}
			theirs := superclusterZooms(t, pts, zooms, probes)
			for _, z := range zooms {
				ours := st.MergedClusters(world, z, nil, nil)
				checkExact(t, z, maxZoom, pts, ours)
				if d, r := minDistance(ours), radiusAt(z); d < r*(1-1e-6) {
					t.Errorf("zoom %d: two clusters %.1f px apart, radius %d px", z, d/r*MergeRadius, MergeRadius)
				}
				sc := theirs[z]
				ratio := float64(len(ours)) / float64(sc.Items)
				t.Logf("zoom %2d: pushmap %6d clusters, supercluster %6d: ratio %.2f", z, len(ours), sc.Items, ratio)
				if ratio < 0.85 || ratio > 1.15 {
					t.Errorf("zoom %d: %d clusters, supercluster %d: ratio %.2f outside ±15%%", z, len(ours), sc.Items, ratio)
				}
				for i, b := range set.blobs {
					largest := uint64(0)
					for _, c := range ours {
						if inProbe(probes[i], c.At) {
							largest = max(largest, c.Count)
						}
					}
					whole := func(n uint64) bool { return float64(n) >= 0.9*float64(b.points) }
					t.Logf("zoom %2d: blob %s: largest cluster pushmap %d, supercluster %d", z, b.name, largest, sc.Probes[i])
					if whole(uint64(sc.Probes[i])) && !whole(largest) {
						t.Errorf("zoom %d: blob %s: supercluster keeps it whole (%d of %d), pushmap's largest cluster there holds %d",
							z, b.name, sc.Probes[i], b.points, largest)
					}
				}
			}
		})
	}
}

// checkExact checks the clusters of pts at zoom in a store of cluster
// zoom maxZoom against a brute-force recount: each holds exactly the
// points of its units (cells at zoom + mergeDepth, or of the cluster zoom
// beyond it, or one point each, named by its cell at zoom + mergeDepth),
// and expands at a finer zoom.
func checkExact(t *testing.T, zoom, maxZoom int, pts []geo.Point, ours []MergedCluster) {
	t.Helper()
	fz := min(zoom+mergeDepth, maxZoom)
	points := zoom+mergeDepth > maxZoom && len(pts) <= maxPointUnits
	if points {
		// A unit per point: as many members named by each cell at
		// zoom + mergeDepth as points in it, and a count per member.
		fz = zoom + mergeDepth
		members := make(map[uint64]int)
		for _, c := range ours {
			if c.Count != uint64(len(c.members)) {
				t.Errorf("zoom %d: cluster %d counts %d, holds %d points", zoom, c.ID, c.Count, len(c.members))
			}
			for _, k := range c.members {
				members[k]++
			}
		}
		for _, p := range pts {
			tl := geo.TileOf(p, fz)
			members[cellKey(fz, tl.X, tl.Y)]--
		}
		for k, n := range members {
			if n != 0 {
				t.Fatalf("zoom %d: cell %x: %d more members than points", zoom, k, n)
			}
		}
	} else {
		owner := make(map[uint64]int)
		for i, c := range ours {
			for _, k := range c.members {
				owner[k] = i
			}
		}
		recount := make([]uint64, len(ours))
		for _, p := range pts {
			tl := geo.TileOf(p, fz)
			i, ok := owner[cellKey(fz, tl.X, tl.Y)]
			if !ok {
				t.Fatalf("zoom %d: point %v in no cluster", zoom, p)
			}
			recount[i]++
		}
		for i, c := range ours {
			if c.Count != recount[i] {
				t.Errorf("zoom %d: cluster %d counts %d, holds %d", zoom, c.ID, c.Count, recount[i])
			}
		}
	}
	for _, c := range ours {
		if c.ExpansionZoom <= zoom {
			t.Errorf("zoom %d: cluster %d expands at zoom %d", zoom, c.ID, c.ExpansionZoom)
		}
	}
}

// TestMergedClustersGrant: for a reader restricted to a box, merged
// clusters count only markers of cells wholly inside it: a marker just
// outside the box, beside markers inside, is never counted.
func TestMergedClustersGrant(t *testing.T) {
	st := New(14)
	grant := geo.BBox(2, 48, 3, 49)
	inside, outside := 0, 0
	for i := range 200 {
		p := geo.Pt(2.5+float64(i%20)*0.05, 48.5+float64(i/20)*0.02) // across East = 3
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: wire.Quantize(p)}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
		if grant.Contains(p) {
			inside++
		} else {
			outside++
		}
	}
	for _, z := range []int{0, 4, 8, 12} {
		var total, all uint64
		for _, c := range st.MergedClusters(geo.BBox(-180, -85, 180, 85), z, nil, &grant) {
			total += c.Count
		}
		for _, c := range st.MergedClusters(geo.BBox(-180, -85, 180, 85), z, nil, nil) {
			all += c.Count
		}
		if total > uint64(inside) || total == 0 || all != 200 {
			t.Errorf("zoom %d: restricted clusters count %d (inside %d, outside %d), unrestricted %d", z, total, inside, outside, all)
		}
	}
}

// TestMergedClusterIDsStable: after 1,000 markers each move about 50 m,
// the clusters of a world view keep their ids — a cluster's id is its
// densest cell's key, which a small move rarely changes — so a map does
// not redraw them all. Logged: the share kept at each zoom.
func TestMergedClusterIDsStable(t *testing.T) {
	pts := pointSet(9, 10000, []blob{{"paris", geo.Pt(2.35, 48.85), 0.15, 3000}, {"nyc", geo.Pt(-74, 40.7), 0.3, 3000}})
	st := New(14)
	for i, p := range pts {
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	world := geo.BBox(-180, -85.06, 180, 85.06)
	zooms := []int{0, 3, 6, 9}
	before := make([]map[uint64]bool, len(zooms))
	for i, z := range zooms {
		before[i] = make(map[uint64]bool)
		for _, c := range st.MergedClusters(world, z, nil, nil) {
			before[i][c.ID] = true
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		i := rng.IntN(len(pts))
		pts[i] = wire.Quantize(geo.Pt(pts[i].Lon+(rng.Float64()-0.5)*9e-4, max(-85, min(85, pts[i].Lat+(rng.Float64()-0.5)*9e-4))))
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: pts[i]}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i, z := range zooms {
		after := st.MergedClusters(world, z, nil, nil)
		kept := 0
		for _, c := range after {
			if before[i][c.ID] {
				kept++
			}
		}
		share := float64(kept) / float64(len(after))
		t.Logf("zoom %d: %d of %d cluster ids kept (%.1f%%)", z, kept, len(after), 100*share)
		if share < 0.9 {
			t.Errorf("zoom %d: only %d of %d cluster ids kept after 1,000 small moves", z, kept, len(after))
		}
	}
}

// TestMergedClustersPartialView: for a view that is not the world (Europe,
// and a box across the antimeridian), the clusters hold exactly the points
// of the finer cells intersecting the box: every point in the box, and of
// the points outside only those in an edge cell (the edge rule documented
// on MergedClusters).
func TestMergedClustersPartialView(t *testing.T) {
	pts := pointSet(5, 20000, []blob{{"paris", geo.Pt(2.35, 48.85), 0.15, 3000}, {"fiji", geo.Pt(180, -17), 0.1, 2000}})
	st := New(14)
	for i, p := range pts {
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, box := range []geo.Box{geo.BBox(-10, 35, 30, 60), geo.BBox(175, -25, -170, -10)} {
		for _, z := range []int{3, 6, 9, 12} {
			fz := min(z+mergeDepth, 14)
			var want, inBox uint64
			for _, p := range pts {
				if geo.Intersects(geo.TileOf(p, fz).Bounds(), box) {
					want++
				}
				if box.Contains(p) {
					inBox++
				}
			}
			var got uint64
			for _, c := range st.MergedClusters(box, z, nil, nil) {
				got += c.Count
			}
			if got != want || got < inBox {
				t.Errorf("box %v zoom %d: clusters hold %d, cells intersecting the box hold %d, the box %d", box, z, got, want, inBox)
			}
			t.Logf("box %v zoom %d: clusters hold %d points, %d of them in the box", box, z, got, inBox)
		}
	}
}

// TestExpansionZoomVsSupercluster: each cluster's expansion zoom (where a
// click zooms to) against supercluster's getClusterExpansionZoom, for the
// clusters of 20 points or more of the point sets of
// TestMergedVsSupercluster at zooms 0–9: ours is matched to the cluster of
// supercluster's nearest to it (within the radius, its count within 30%);
// at least 90% of the matched equal supercluster's, and none is more than
// one zoom away. The distribution is logged.
func TestExpansionZoomVsSupercluster(t *testing.T) {
	corner := geo.Tile{Z: 6, X: 33, Y: 22}.Bounds()
	pts := pointSet(3, 10000, []blob{
		{"paris", geo.Pt(2.35, 48.85), 0.15, 3000}, {"nyc", geo.Pt(-74, 40.7), 0.3, 3000},
		{"corner", geo.Pt(corner.West, corner.North), 0.1, 3000}, {"fiji", geo.Pt(180, -17), 0.1, 3000},
	})
	st := New(14)
	for i, p := range pts {
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	zooms := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	theirs := superclusterZooms(t, pts, zooms, nil)
	world := geo.BBox(-180, -85.06, 180, 85.06)
	diffs := map[int]int{}
	matched := 0
	for _, z := range zooms {
		ours := st.MergedClusters(world, z, nil, nil)
		r := radiusAt(z)
		for _, e := range theirs[z].Expansions {
			at := geo.Pt(e[0], e[1])
			best, bestD := -1, r
			for i, c := range ours {
				if d := mercatorDist(at, c.At); d < bestD && math.Abs(float64(c.Count)-e[2]) <= 0.3*e[2] {
					best, bestD = i, d
				}
			}
			if best < 0 {
				continue
			}
			matched++
			d := ours[best].ExpansionZoom - int(e[3])
			diffs[d]++
			if d < -1 || d > 1 {
				t.Errorf("zoom %d: cluster of %d at %v expands at zoom %d, supercluster's (%v points) at %v",
					z, ours[best].Count, ours[best].At, ours[best].ExpansionZoom, e[2], e[3])
			}
		}
	}
	t.Logf("expansion zoom, pushmap − supercluster, over %d matched clusters: %v", matched, diffs)
	if matched < 100 || float64(diffs[0]) < 0.9*float64(matched) {
		t.Errorf("%d of %d matched clusters expand at supercluster's expansion zoom", diffs[0], matched)
	}
}

// mercatorDist is the distance between a and b in world widths.
func mercatorDist(a, b geo.Point) float64 {
	dx := math.Abs(a.Lon-b.Lon) / 360
	dx = min(dx, 1-dx)
	return math.Hypot(dx, geo.MercatorY(a.Lat)-geo.MercatorY(b.Lat))
}

// TestMergedClustersOfTilesEqualsWalk: the clusters of a region of tiles,
// gathered tile by tile and shared between calls through a GatherShare,
// equal MergedClusters' of the region shrunk by a hair (the walk from the
// root), for regions across the antimeridian, the whole world, two layers
// read apart and together, and a grant box; and a share reset after moves
// gives the clusters of the moved points.
func TestMergedClustersOfTilesEqualsWalk(t *testing.T) {
	pts := pointSet(11, 20000, []blob{{"paris", geo.Pt(2.35, 48.85), 0.3, 3000}, {"fiji", geo.Pt(180, -17), 0.5, 2000}})
	st := New(14)
	layerOf := func(i int) string { return []string{"a", "b"}[i%2] }
	for i, p := range pts {
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Layer: layerOf(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	grant := geo.BBox(-20, 30, 40, 60)
	groups := []struct {
		name  string
		ls    LayerSet
		grant *geo.Box
	}{{"all", nil, nil}, {"a", LayerSet{"a": {}}, nil}, {"granted", nil, &grant}}
	rng := rand.New(rand.NewPCG(11, 12))
	var share GatherShare
	check := func(round int) {
		share.Reset()
		for trial := range 60 {
			zoom := rng.IntN(17) // beyond 9, merged from the markers one by one
			tz := min(zoom+1, geo.MaxZoom)
			n := uint32(1) << tz
			x0, y0 := rng.Uint32N(n), rng.Uint32N(n)
			x1, y1 := (x0+rng.Uint32N(min(n, 6)))%n, min(y0+rng.Uint32N(5), n-1)
			switch trial % 10 {
			case 0: // the whole world, or the most tiles listed
				if tz <= 4 {
					x0, x1, y0, y1 = 0, n-1, 0, n-1
				} else {
					x1, y1 = (x0+31)%n, min(y0+31, n-1)
				}
			case 1: // across the antimeridian, on Fiji
				x0, x1 = n-1-min(n-1, 1), min(1, n-1)
				y0 = geo.TileOf(geo.Pt(180, -17), tz).Y
				y1 = min(y0+1, n-1)
			case 2: // on Paris
				tl := geo.TileOf(geo.Pt(2.35, 48.85), tz)
				x0, y0 = tl.X-min(tl.X, 1), tl.Y-min(tl.Y, 1)
				x1, y1 = min(tl.X+1, n-1), min(tl.Y+1, n-1)
			}
			w := geo.Tile{Z: uint8(tz), X: x0, Y: y0}.Bounds()
			e := geo.Tile{Z: uint8(tz), X: x1, Y: y1}.Bounds()
			region := geo.Box{West: w.West + regionHair, North: w.North - regionHair, East: e.East - regionHair, South: e.South + regionHair}
			gr := groups[trial%len(groups)]
			want := st.MergedClusters(region, zoom, gr.ls, gr.grant)
			alone := st.MergedClustersOfTiles(zoom, tz, x0, x1, y0, y1, gr.ls, gr.grant, gr.name, nil)
			shared := st.MergedClustersOfTiles(zoom, tz, x0, x1, y0, y1, gr.ls, gr.grant, gr.name, &share)
			for way, got := range map[string][]MergedCluster{"alone": alone, "shared": shared} {
				if !slices.EqualFunc(got, want, func(a, b MergedCluster) bool {
					return a.ID == b.ID && a.Count == b.Count && a.At == b.At && a.ExpansionZoom == b.ExpansionZoom && a.Covers == b.Covers
				}) {
					t.Fatalf("round %d, %s, zoom %d, tiles x %d..%d y %d..%d at %d, %s: %d clusters, the walk %d", round, gr.name, zoom, x0, x1, y0, y1, tz, way, len(got), len(want))
				}
			}
			if len(want) == 0 && (trial%10 == 1 || trial%10 == 2) && gr.grant == nil {
				t.Fatalf("round %d: no clusters in region %v at zoom %d", round, region, zoom)
			}
		}
	}
	check(0)
	for i := range pts {
		if i%3 == 0 {
			pts[i] = wire.Quantize(geo.Pt(geo.WrapLon(pts[i].Lon+(rng.Float64()-0.5)*0.5), max(-85, min(85, pts[i].Lat+(rng.Float64()-0.5)*0.5))))
			if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Layer: layerOf(i), Pos: pts[i]}, false, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(1)
}

// TestGridNear: a grid's near returns exactly the indices in the 3×3
// squares around a position (columns wrapping round the world), checked
// against a count of every index's square, for grids of one to many
// columns, regions across the antimeridian and positions at x = 1.
func TestGridNear(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := range 400 {
		r := []float64{0.7, 0.4, 0.3, 0.01, 1e-3}[trial%5]
		n := 1 + rng.IntN(300)
		cx, w := rng.Float64(), rng.Float64()*[]float64{1, 0.1, 0.01}[trial%3]
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i] = wrapX(cx + (rng.Float64()-0.5)*w)
			if i%50 == 7 {
				xs[i] = 1 // lon 180
			}
			ys[i] = rng.Float64()
		}
		var g grid
		g.reset(r, func(i int) float64 { return xs[i] }, func(i int) float64 { return ys[i] }, n)
		for i := range n {
			g.add(xs[i], ys[i], int32(i))
		}
		colOf := func(x float64) int64 {
			c := int64(math.Floor(x/g.size)) % g.cols
			return (c + g.cols) % g.cols
		}
		for q := range 20 {
			var qx, qy float64
			if q < 10 {
				qx, qy = xs[rng.IntN(n)], ys[rng.IntN(n)]
			} else {
				qx, qy = wrapX(cx+(rng.Float64()-0.5)*w), rng.Float64()
			}
			got := g.near(qx, qy, nil)
			slices.Sort(got)
			var want []int32
			qc, qr := colOf(qx), int64(math.Floor(qy/g.size))
			for i := range n {
				dc := (colOf(xs[i]) - qc + g.cols) % g.cols
				dr := int64(math.Floor(ys[i]/g.size)) - qr
				if (dc <= 1 || dc == g.cols-1) && dr >= -1 && dr <= 1 {
					want = append(want, int32(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d: grid of %d columns, near(%v, %v) = %v, want %v", trial, g.cols, qx, qy, got, want)
			}
		}
	}
}

// TestSortHigh: sortHigh orders keys as a stable sort by their high
// halves does, for counts that share bytes and counts that do not.
func TestSortHigh(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spread := range []uint64{1, 3, 200, 70_000, math.MaxUint32} {
		keys := make([]uint64, 5000)
		for i := range keys {
			keys[i] = (math.MaxUint32-rng.Uint64N(spread))<<32 | uint64(rng.Uint32())
		}
		want := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		got, _ := sortHigh(slices.Clone(keys), make([]uint64, len(keys)))
		if !slices.Equal(got, want) {
			t.Fatalf("spread %d: sortHigh differs from a stable sort by the high halves", spread)
		}
	}
}

// TestGatherShareKeepsFoundCells: a share reused over flushes reads each
// tile's cells through what the last walk found while no cell below the
// tile was made or dropped since; after rounds of small steps, jumps,
// removals and additions (cells made and dropped at every zoom), the
// clusters of fixed regions at zooms 0–9 equal a walk from the root.
func TestGatherShareKeepsFoundCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	st := New(14)
	pts := map[int]geo.Point{}
	somewhere := func() geo.Point {
		if rng.IntN(2) == 0 {
			return geo.Pt(2+rng.Float64()*1.5, 48.5+rng.Float64()) // near Paris
		}
		return geo.Pt(rng.Float64()*40-10, 36+rng.Float64()*24) // Europe
	}
	put := func(i int, p geo.Point) {
		pts[i] = wire.Quantize(p)
		if _, _, err := st.Upsert(&wire.Marker{ID: fmt.Sprint(i), Pos: p}, false, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20000 {
		put(i, somewhere())
	}
	var share GatherShare
	found := 0
	for round := range 12 {
		share.Reset()
		for zoom := range 10 {
			tz := zoom + 1
			c := geo.TileOf(geo.Pt(2.35, 48.85), tz)
			n := uint32(1) << tz
			x0, y0 := c.X-min(c.X, 2), c.Y-min(c.Y, 2)
			x1, y1 := min(c.X+2, n-1), min(c.Y+1, n-1)
			w := geo.Tile{Z: uint8(tz), X: x0, Y: y0}.Bounds()
			e := geo.Tile{Z: uint8(tz), X: x1, Y: y1}.Bounds()
			region := geo.Box{West: w.West + regionHair, North: w.North - regionHair, East: e.East - regionHair, South: e.South + regionHair}
			want := st.MergedClusters(region, zoom, nil, nil)
			got := st.MergedClustersOfTiles(zoom, tz, x0, x1, y0, y1, nil, nil, "all", &share)
			if !slices.EqualFunc(got, want, func(a, b MergedCluster) bool {
				return a.ID == b.ID && a.Count == b.Count && a.At == b.At && a.ExpansionZoom == b.ExpansionZoom
			}) {
				t.Fatalf("round %d, zoom %d: %d clusters through the share, the walk %d", round, zoom, len(got), len(want))
			}
		}
		if round > 0 {
			found += len(share.found)
		}
		for range 3000 {
			i := rng.IntN(21000)
			p, ok := pts[i]
			switch r := rng.IntN(100); {
			case !ok:
				put(i, somewhere())
			case r < 70: // a step of about 50 m
				put(i, geo.Pt(p.Lon+(rng.Float64()-0.5)*9e-4, p.Lat+(rng.Float64()-0.5)*9e-4))
			case r < 85:
				put(i, somewhere())
			default:
				st.Remove(fmt.Sprint(i))
				delete(pts, i)
			}
		}
	}
	if found == 0 {
		t.Fatal("the share kept no tile's cells")
	}
}
