package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// refTile is the slippy-map formula as the OpenStreetMap wiki gives it, to
// check TileOf against away from tile boundaries.
func refTile(lon, lat float64, z int) (x, y float64) {
	n := math.Exp2(float64(z))
	r := lat * math.Pi / 180
	x = math.Floor((lon + 180) / 360 * n)
	y = math.Floor((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return x, y
}

func TestTileOf(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		z    int
		want Tile
	}{
		{"Paris z10", Pt(2.3522, 48.8566), 10, Tile{10, 518, 352}},
		{"Paris z24", Pt(2.3522, 48.8566), 24, Tile{24, 8498228, 5771838}},
		{"New York z12", Pt(-74.0060, 40.7128), 12, Tile{12, 1205, 1540}},
		{"Sydney z8", Pt(151.2093, -33.8688), 8, Tile{8, 235, 153}},
		{"Tokyo z15", Pt(139.6917, 35.6895), 15, Tile{15, 29099, 12902}},
		{"Rio de Janeiro z5", Pt(-43.1729, -22.9068), 5, Tile{5, 12, 18}},
		{"Reykjavik z16", Pt(-21.9426, 64.1466), 16, Tile{16, 28773, 17416}},
		{"London z1", Pt(-0.1276, 51.5072), 1, Tile{1, 0, 0}},
		{"anything at z0", Pt(123, -45), 0, Tile{0, 0, 0}},
		{"null island goes south-east", Pt(0, 0), 1, Tile{1, 1, 1}},
		{"lon 180 is the last column", Pt(180, 10), 3, Tile{3, 7, 3}},
		{"lon -180 is column 0", Pt(-180, 10), 3, Tile{3, 0, 3}},
		{"north pole clamps to row 0", Pt(0, 90), 4, Tile{4, 8, 0}},
		{"south pole clamps to the last row", Pt(0, -90), 4, Tile{4, 8, 15}},
		{"MaxMercatorLat is row 0", Pt(-180, MaxMercatorLat), 20, Tile{20, 0, 0}},
		{"-MaxMercatorLat is the last row", Pt(180, -MaxMercatorLat), 20, Tile{20, 1<<20 - 1, 1<<20 - 1}},
		{"zoom below 0 clamps to 0", Pt(2.35, 48.85), -3, Tile{0, 0, 0}},
		{"zoom above MaxZoom clamps", Pt(2.3522, 48.8566), 99, Tile{24, 8498228, 5771838}},
		{"NaN gives column and row 0", Pt(nan, nan), 3, Tile{3, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TileOf(tc.p, tc.z)
			if got != tc.want {
				t.Fatalf("TileOf(%v, %d) = %v, want %v", tc.p, tc.z, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The expected cities above agree with the reference formula.
	for _, tc := range tests[:8] {
		x, y := refTile(tc.p.Lon, tc.p.Lat, tc.z)
		if x != float64(tc.want.X) || y != float64(tc.want.Y) {
			t.Errorf("%s: reference formula gives %v/%v, table says %v", tc.name, x, y, tc.want)
		}
	}
}

func TestTileBounds(t *testing.T) {
	m := MaxMercatorLat
	tests := []struct {
		tile Tile
		want Box
	}{
		{Tile{0, 0, 0}, BBox(-180, -m, 180, m)},
		{Tile{1, 0, 0}, BBox(-180, 0, 0, m)},
		{Tile{1, 1, 1}, BBox(0, -m, 180, 0)},
		{Tile{2, 3, 2}, BBox(90, -66.51326044311186, 180, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.tile.String(), func(t *testing.T) {
			got := tc.tile.Bounds()
			if got.West != tc.want.West || got.East != tc.want.East || got.South != tc.want.South && !near(got.South, tc.want.South) || got.North != tc.want.North {
				t.Fatalf("Bounds() = %v, want %v", got, tc.want)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

func TestTileValid(t *testing.T) {
	tests := []struct {
		name string
		tile Tile
		want string // substring of the error; "" means valid
	}{
		{"z0", Tile{0, 0, 0}, ""},
		{"last tile at MaxZoom", Tile{MaxZoom, 1<<MaxZoom - 1, 1<<MaxZoom - 1}, ""},
		{"zoom 25", Tile{25, 0, 0}, "zoom 25 is above 24"},
		{"x 1 at z0", Tile{0, 1, 0}, "x 1 is outside [0, 0]"},
		{"x 4 at z2", Tile{2, 4, 0}, "x 4 is outside [0, 3] at zoom 2"},
		{"y 2 at z1", Tile{1, 0, 2}, "y 2 is outside [0, 1] at zoom 1"},
		{"huge y", Tile{3, 0, math.MaxUint32}, "y 4294967295"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.tile.Validate(), tc.want)
		})
	}
}

func TestTileFamily(t *testing.T) {
	root := Tile{0, 0, 0}
	if got := root.Parent(); got != root {
		t.Errorf("Parent of %v = %v, want itself", root, got)
	}
	if got := (Tile{3, 5, 6}).Parent(); got != (Tile{2, 2, 3}) {
		t.Errorf("Parent of 3/5/6 = %v, want 2/2/3", got)
	}
	want := [4]Tile{{2, 2, 0}, {2, 3, 0}, {2, 2, 1}, {2, 3, 1}}
	if got := (Tile{1, 1, 0}).Children(); got != want {
		t.Errorf("Children of 1/1/0 = %v, want %v", got, want)
	}
	if got := (Tile{MaxZoom, 0, 0}).Children()[0].Validate(); got == nil {
		t.Errorf("a child below MaxZoom is Valid")
	}
	if got := (Tile{10, 518, 352}).String(); got != "10/518/352" {
		t.Errorf("String() = %q", got)
	}

	tests := []struct {
		name string
		t, u Tile
		want bool
	}{
		{"itself", Tile{3, 5, 6}, Tile{3, 5, 6}, true},
		{"root holds everything", root, Tile{24, 12345, 67890}, true},
		{"child", Tile{1, 1, 0}, Tile{2, 3, 1}, true},
		{"grandchild", Tile{1, 1, 0}, Tile{3, 7, 3}, true},
		{"not a child", Tile{1, 1, 0}, Tile{2, 1, 1}, false},
		{"parent is not held", Tile{2, 3, 1}, Tile{1, 1, 0}, false},
		{"same zoom, other tile", Tile{2, 3, 1}, Tile{2, 3, 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.Contains(tc.u); got != tc.want {
				t.Fatalf("%v.Contains(%v) = %v, want %v", tc.t, tc.u, got, tc.want)
			}
		})
	}
}

func TestMercator(t *testing.T) {
	tests := []struct {
		lat, y float64
	}{
		{MaxMercatorLat, 0},
		{0, 0.5},
		{-MaxMercatorLat, 1},
	}
	for _, tc := range tests {
		if got := MercatorY(tc.lat); got != tc.y {
			t.Errorf("MercatorY(%v) = %v, want %v", tc.lat, got, tc.y)
		}
		if got := LatFromMercatorY(tc.y); got != tc.lat {
			t.Errorf("LatFromMercatorY(%v) = %v, want %v", tc.y, got, tc.lat)
		}
	}
	clamped := []struct {
		name    string
		in, out float64
		f       func(float64) float64
	}{
		{"MercatorY(90)", 90, 0, MercatorY},
		{"MercatorY(-90)", -90, 1, MercatorY},
		{"LatFromMercatorY(-1)", -1, MaxMercatorLat, LatFromMercatorY},
		{"LatFromMercatorY(2)", 2, -MaxMercatorLat, LatFromMercatorY},
		{"ClampLat(90)", 90, MaxMercatorLat, ClampLat},
		{"ClampLat(-85.1)", -85.1, -MaxMercatorLat, ClampLat},
		{"ClampLat(45)", 45, 45, ClampLat},
	}
	for _, tc := range clamped {
		if got := tc.f(tc.in); got != tc.out {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.out)
		}
	}
	for name, f := range map[string]func(float64) float64{"MercatorY": MercatorY, "LatFromMercatorY": LatFromMercatorY, "ClampLat": ClampLat} {
		if got := f(nan); !math.IsNaN(got) {
			t.Errorf("%s(NaN) = %v, want NaN", name, got)
		}
	}
}

// TestPropMercator checks that MercatorY and LatFromMercatorY invert each
// other and that MercatorY runs from north to south.
func TestPropMercator(t *testing.T) {
	r := newRand(t)
	for range 100000 {
		lat := randLat(r, MaxZoom)
		y := MercatorY(lat)
		if y < 0 || y > 1 {
			t.Fatalf("MercatorY(%v) = %v, outside [0, 1]", lat, y)
		}
		if back := LatFromMercatorY(y); math.Abs(back-lat) > 1e-9 {
			t.Fatalf("LatFromMercatorY(MercatorY(%v)) = %v", lat, back)
		}
		lat2 := randLat(r, MaxZoom)
		if y2 := MercatorY(lat2); lat < lat2 && y < y2 {
			t.Fatalf("MercatorY(%v) = %v < MercatorY(%v) = %v", lat, y, lat2, y2)
		}
	}
}

// TestPropTileOf checks, for points in the Mercator range and every zoom,
// that the tile of a point owns it (its Bounds hold the point, west and north
// edges included, east and south edges excluded) and is its parent's child.
func TestPropTileOf(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		p := Pt(randLon(r, MaxZoom), randLat(r, MaxZoom))
		var prev Tile
		for z := range MaxZoom + 1 {
			tile := TileOf(p, z)
			if err := tile.Validate(); err != nil {
				t.Fatalf("TileOf(%v, %d): %v", p, z, err)
			}
			if int(tile.Z) != z {
				t.Fatalf("TileOf(%v, %d) = %v", p, z, tile)
			}
			if b := tile.Bounds(); !owns(b, p) {
				t.Fatalf("TileOf(%v, %d) = %v, whose bounds %v do not own it", p, z, tile, b)
			}
			if z > 0 && tile.Parent() != prev {
				t.Fatalf("TileOf(%v, %d) = %v, whose parent is not TileOf(p, %d) = %v", p, z, tile, z-1, prev)
			}
			x, y := refTile(p.Lon, p.Lat, z)
			if math.Abs(x-float64(tile.X)) > 1 || math.Abs(y-float64(tile.Y)) > 1 && math.Abs(p.Lat) < MaxMercatorLat {
				t.Fatalf("TileOf(%v, %d) = %v, far from the formula's %v/%v", p, z, tile, x, y)
			}
			prev = tile
		}
	}
}

// owns reports whether a tile with bounds b owns p: west and north edges
// included, east and south edges excluded, except at 180 and
// -MaxMercatorLat.
func owns(b Box, p Point) bool {
	return b.West <= p.Lon && (p.Lon < b.East || b.East == 180) &&
		p.Lat <= b.North && (b.South < p.Lat || b.South == -MaxMercatorLat)
}

// TestPropTileFamily checks that a parent holds its child and that the four
// children partition their parent: shared edges are equal, and every point
// of the parent has its tile one level down among the children.
func TestPropTileFamily(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		tile := randTile(r, r.IntN(MaxZoom+1))
		b := tile.Bounds()
		if !tile.Contains(tile) {
			t.Fatalf("%v does not contain itself", tile)
		}
		if tile.Z > 0 {
			p := tile.Parent()
			siblings := p.Children()
			if p.Z != tile.Z-1 || !p.Contains(tile) || tile.Contains(p) || !slices.Contains(siblings[:], tile) {
				t.Fatalf("%v and its parent %v", tile, p)
			}
			if pb := p.Bounds(); !holdsBox(pb, b) {
				t.Fatalf("parent %v bounds %v do not hold %v bounds %v", p, pb, tile, b)
			}
		}
		if tile.Z == MaxZoom {
			continue
		}
		ch := tile.Children()
		var cb [4]Box
		for i, c := range ch {
			if err := c.Validate(); err != nil {
				t.Fatalf("child of %v: %v", tile, err)
			}
			if c.Parent() != tile || !tile.Contains(c) || c.Contains(tile) {
				t.Fatalf("%v and its child %v", tile, c)
			}
			cb[i] = c.Bounds()
		}
		nw, ne, sw, se := cb[0], cb[1], cb[2], cb[3]
		edges := []struct {
			name string
			a, b float64
		}{
			{"west", b.West, nw.West}, {"west", b.West, sw.West},
			{"east", b.East, ne.East}, {"east", b.East, se.East},
			{"north", b.North, nw.North}, {"north", b.North, ne.North},
			{"south", b.South, sw.South}, {"south", b.South, se.South},
			{"middle meridian", nw.East, ne.West}, {"middle meridian", sw.East, se.West}, {"middle meridian", nw.East, sw.East},
			{"middle parallel", nw.South, sw.North}, {"middle parallel", ne.South, se.North}, {"middle parallel", nw.South, ne.South},
		}
		for _, e := range edges {
			if e.a != e.b {
				t.Fatalf("children of %v do not partition it: %s %v != %v; children %v", tile, e.name, e.a, e.b, cb)
			}
		}
		for range 4 {
			p := randPointIn(r, b)
			if !b.Contains(p) {
				t.Fatalf("generated %v outside %v", p, b)
			}
			if owns(b, p) && TileOf(p, int(tile.Z)) != tile {
				t.Fatalf("%v in %v, but TileOf gives %v", p, tile, TileOf(p, int(tile.Z)))
			}
			c := TileOf(p, int(tile.Z)+1)
			if owns(b, p) && !slices.Contains(ch[:], c) {
				t.Fatalf("%v in %v, but its tile one level down %v is not a child", p, tile, c)
			}
		}
	}
}

func holdsBox(outer, inner Box) bool {
	return outer.West <= inner.West && inner.East <= outer.East && outer.South <= inner.South && inner.North <= outer.North
}

func TestTilesCovering(t *testing.T) {
	m := MaxMercatorLat
	tests := []struct {
		name string
		b    Box
		z    int
		want string // tiles joined by spaces
	}{
		{"world z0", World, 0, "0/0/0"},
		{"world z1", World, 1, "1/0/0 1/1/0 1/0/1 1/1/1"},
		{"exactly one tile: edges on boundaries", BBox(-180, 0, 0, m), 1, "1/0/0"},
		{"the same box one level down", BBox(-180, 0, 0, m), 2, "2/0/0 2/1/0 2/0/1 2/1/1"},
		{"inner tile exactly", Tile{2, 2, 2}.Bounds(), 2, "2/2/2"},
		{"inner tile exactly, one level down", Tile{2, 2, 2}.Bounds(), 3, "3/4/4 3/5/4 3/4/5 3/5/5"},
		{"point on a corner: south-east tile", BBox(0, 0, 0, 0), 1, "1/1/1"},
		{"meridian line on a boundary: east column", BBox(0, -10, 0, 10), 1, "1/1/0 1/1/1"},
		{"parallel line on a boundary: south row", BBox(-10, 0, 10, 0), 1, "1/0/1 1/1/1"},
		{"Paris", BBox(2.25, 48.81, 2.42, 48.90), 10, "10/518/352"},
		{"Paris and around", BBox(2.2, 48.8, 2.6, 49.0), 10, "10/518/351 10/519/351 10/518/352 10/519/352"},
		{"crossing", BBox(170, -10, -170, 10), 2, "2/3/1 2/0/1 2/3/2 2/0/2"},
		{"crossing, halves share a column", BBox(10, 0, 5, 1), 1, "1/1/0 1/0/0"},
		{"crossing, halves share the world column", BBox(10, 0, 5, 1), 0, "0/0/0"},
		{"crossing, east edge on a boundary", BBox(170, 0, 0, 1), 1, "1/1/0 1/0/0"},
		{"crossing, east -180 adds no column", BBox(90, 1, -180, 10), 2, "2/3/1"},
		{"crossing, west 180 adds no column", BBox(180, 1, -90, 10), 2, "2/0/1"},
		{"antimeridian line", BBox(180, -10, -180, 10), 2, "2/3/1 2/3/2"},
		{"beyond the Mercator limit: first row", BBox(-10, 86, 10, 89), 1, "1/0/0 1/1/0"},
		{"to the south pole", BBox(-10, -90, 10, -80), 1, "1/0/1 1/1/1"},
		{"zoom below 0", World, -1, "0/0/0"},
		{"zoom above MaxZoom", BBox(2.3522, 48.8566, 2.3522, 48.8566), 25, "24/8498228/5771838"},
		{"invalid: NaN", BBox(nan, 0, 1, 1), 3, ""},
		{"invalid: south above north", BBox(0, 2, 1, 1), 3, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tiles := TilesCovering(tc.b, tc.z)
			if got := joinTiles(tiles); got != tc.want {
				t.Fatalf("TilesCovering(%v, %d) = %q, want %q", tc.b, tc.z, got, tc.want)
			}
			if n := CountTilesCovering(tc.b, tc.z); n != uint64(len(tiles)) {
				t.Fatalf("CountTilesCovering = %d, want %d", n, len(tiles))
			}
			prefix := []Tile{{9, 9, 9}}
			got := AppendTilesCovering(prefix, tc.b, tc.z)
			if got[0] != prefix[0] || !slices.Equal(got[1:], tiles) {
				t.Fatalf("AppendTilesCovering = %v, want %v after %v", got, tiles, prefix)
			}
		})
	}
}

func joinTiles(tiles []Tile) string {
	s := make([]string, len(tiles))
	for i, t := range tiles {
		s[i] = t.String()
	}
	return strings.Join(s, " ")
}

// wantTile reports whether the rule TilesCovering documents takes t into the
// covering of the valid box b. It works from t.Bounds alone: along each axis
// the spans overlap with positive length, or, where the box has no length
// on that axis, t owns the box's coordinate.
func wantTile(b Box, t Tile) bool {
	tb := t.Bounds()
	s, n := ClampLat(b.South), ClampLat(b.North)
	if s < n {
		if !(max(s, tb.South) < min(n, tb.North)) {
			return false
		}
	} else if !(tb.South < s && s <= tb.North || s == -MaxMercatorLat && tb.South == s) {
		return false
	}
	var spans [][2]float64
	switch {
	case !b.CrossesAntimeridian():
		spans = [][2]float64{{b.West, b.East}}
	case b.East == -180: // the other half is only the antimeridian
		spans = [][2]float64{{b.West, 180}}
	case b.West == 180:
		spans = [][2]float64{{-180, b.East}}
	default:
		spans = [][2]float64{{b.West, 180}, {-180, b.East}}
	}
	for _, sp := range spans {
		w, e := sp[0], sp[1]
		if w < e && max(w, tb.West) < min(e, tb.East) {
			return true
		}
		if w == e && tb.West <= w && (w < tb.East || w == 180 && tb.East == 180) {
			return true
		}
	}
	return false
}

// checkCovering checks the covering of b at zoom z against the documented
// rule: no duplicates, only tiles the rule takes (minimal), and no tile the
// rule takes left out, found by looking at every neighbour of the covering
// (the rule takes a block of rows by a run of columns, so that suffices).
// It returns the covering as a set.
func checkCovering(t *testing.T, b Box, z int) map[Tile]bool {
	t.Helper()
	tiles := TilesCovering(b, z)
	if n := CountTilesCovering(b, z); n != uint64(len(tiles)) || n == 0 {
		t.Fatalf("TilesCovering(%v, %d): %d tiles, CountTilesCovering says %d", b, z, len(tiles), n)
	}
	set := make(map[Tile]bool, len(tiles))
	for i, tile := range tiles {
		if set[tile] {
			t.Fatalf("TilesCovering(%v, %d): %v twice", b, z, tile)
		}
		set[tile] = true
		if err := tile.Validate(); err != nil || int(tile.Z) != z {
			t.Fatalf("TilesCovering(%v, %d): tile %v: %v", b, z, tile, err)
		}
		if !wantTile(b, tile) {
			t.Fatalf("TilesCovering(%v, %d): %v (bounds %v) is not needed", b, z, tile, tile.Bounds())
		}
		if i > 0 && tile.Y < tiles[i-1].Y {
			t.Fatalf("TilesCovering(%v, %d): rows out of order at %v", b, z, tile)
		}
	}
	n := int64(1) << z
	for _, tile := range tiles {
		for dy := int64(-1); dy <= 1; dy++ {
			for dx := int64(-1); dx <= 1; dx++ {
				x, y := (int64(tile.X)+dx+n)%n, int64(tile.Y)+dy
				if y < 0 || y >= n {
					continue
				}
				u := Tile{uint8(z), uint32(x), uint32(y)}
				if !set[u] && wantTile(b, u) {
					t.Fatalf("TilesCovering(%v, %d) misses %v (bounds %v)", b, z, u, u.Bounds())
				}
			}
		}
	}
	return set
}

// TestPropTilesCovering checks that the covering of random boxes, many with
// edges on tile boundaries, is complete and minimal: every point of the box
// lies in a covering tile (the tile of any point inside the box's edges is
// in the covering), and the covering holds exactly the tiles the edge rule
// takes, once each. Up to zoom 5 the rule is checked against every tile of
// the world.
func TestPropTilesCovering(t *testing.T) {
	r := newRand(t)
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for i := range iters {
		z := i % (MaxZoom + 1)
		b := randBox(r, z)
		if CountTilesCovering(b, z) > 5000 {
			continue
		}
		set := checkCovering(t, b, z)
		if z <= 5 {
			n := uint32(1) << z
			for y := range n {
				for x := range n {
					u := Tile{uint8(z), x, y}
					if set[u] != wantTile(b, u) {
						t.Fatalf("TilesCovering(%v, %d): has %v = %v, rule says %v", b, z, u, set[u], !set[u])
					}
				}
			}
		}
		for range 20 {
			p := randPointIn(r, b)
			if !b.Contains(p) {
				t.Fatalf("generated %v outside %v", p, b)
			}
			if inside(b, p) && !set[TileOf(p, z)] {
				t.Fatalf("TilesCovering(%v, %d) misses %v, the tile of %v", b, z, TileOf(p, z), p)
			}
			if !coveredBy(set, p) {
				t.Fatalf("TilesCovering(%v, %d): no tile holds %v", b, z, p)
			}
		}
	}
}

// inside reports whether p lies strictly inside b, off its edges.
func inside(b Box, p Point) bool {
	if !(b.South < p.Lat && p.Lat < b.North) {
		return false
	}
	if b.CrossesAntimeridian() {
		return p.Lon > b.West || p.Lon < b.East
	}
	return b.West < p.Lon && p.Lon < b.East
}

// coveredBy reports whether a tile of set holds p (latitude clamped) in its
// bounds, edges included, where longitudes -180 and 180 are the same.
func coveredBy(set map[Tile]bool, p Point) bool {
	lat := ClampLat(p.Lat)
	for tile := range set {
		b := tile.Bounds()
		if lat < b.South || lat > b.North {
			continue
		}
		if b.West <= p.Lon && p.Lon <= b.East || p.Lon == 180 && b.West == -180 || p.Lon == -180 && b.East == 180 {
			return true
		}
	}
	return false
}

// TestPropTilesCoveringAntimeridian checks that a box crossing the
// antimeridian has as its covering the union of its Split halves'
// coverings, except that a half which is only the antimeridian (West 180 or
// East -180) adds nothing.
func TestPropTilesCoveringAntimeridian(t *testing.T) {
	r := newRand(t)
	for i := range 3000 {
		z := i % 13
		b := randBox(r, z)
		if !b.CrossesAntimeridian() {
			b.West, b.East = b.East, b.West
		}
		if !b.CrossesAntimeridian() || CountTilesCovering(b, z) > 5000 {
			continue
		}
		got := checkCovering(t, b, z)
		parts, _ := b.Split()
		want := map[Tile]bool{}
		for i, part := range parts {
			if i == 1 && b.East == -180 || i == 0 && b.West == 180 && b.East != -180 {
				continue
			}
			for _, tile := range TilesCovering(part, z) {
				want[tile] = true
			}
		}
		if len(got) != len(want) {
			t.Fatalf("TilesCovering(%v, %d): %d tiles, its halves %v %d", b, z, len(got), parts, len(want))
		}
		for tile := range want {
			if !got[tile] {
				t.Fatalf("TilesCovering(%v, %d) misses %v of its halves %v", b, z, tile, parts)
			}
		}
	}
}

// FuzzTilesCovering checks that covering any box never panics and, for
// valid boxes with small coverings, follows the edge rule.
func FuzzTilesCovering(f *testing.F) {
	f.Add(170.0, -10.0, -170.0, 10.0, uint8(2))
	f.Add(0.0, 0.0, 0.0, 0.0, uint8(1))
	f.Add(180.0, -90.0, -180.0, 90.0, uint8(3))
	f.Add(math.NaN(), 0.0, 1.0, 1.0, uint8(200))
	f.Fuzz(func(t *testing.T, w, s, e, n float64, z uint8) {
		b := BBox(w, s, e, n)
		if CountTilesCovering(b, int(z)) > 4096 {
			return
		}
		tiles := TilesCovering(b, int(z))
		if b.Validate() != nil {
			if tiles != nil {
				t.Fatalf("TilesCovering(%v) = %v for an invalid box", b, tiles)
			}
			return
		}
		set := checkCovering(t, b, min(int(z), MaxZoom))
		for _, p := range []Point{Pt(w, s), Pt(w, n), Pt(e, s), Pt(e, n)} {
			if !coveredBy(set, p) {
				t.Fatalf("TilesCovering(%v, %d): corner %v not covered", b, z, p)
			}
		}
	})
}

func BenchmarkAppendTilesCovering(b *testing.B) {
	for _, side := range []uint32{1, 10, 100} {
		// side × side tiles at zoom 14 from Paris eastwards and southwards.
		nw := TileOf(Pt(2.3522, 48.8566), 14)
		se := Tile{nw.Z, nw.X + side - 1, nw.Y + side - 1}
		box := BBox(nw.Bounds().West, se.Bounds().South, se.Bounds().East, nw.Bounds().North)
		b.Run(fmt.Sprintf("%dTiles", side*side), func(b *testing.B) {
			b.ReportAllocs()
			var dst []Tile
			for b.Loop() {
				dst = AppendTilesCovering(dst[:0], box, 14)
			}
			b.ReportMetric(float64(len(dst)), "tiles/op")
		})
	}
}

// randTile returns a valid tile at zoom z, often on the edge of the world.
func randTile(r *rand.Rand, z int) Tile {
	n := uint32(1) << z
	pick := func() uint32 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return n - 1
		}
		return r.Uint32N(n)
	}
	return Tile{uint8(z), pick(), pick()}
}

// randLon returns a longitude in [-180, 180]: often a tile boundary at zoom
// z or above, sometimes ±180, otherwise uniform.
func randLon(r *rand.Rand, z int) float64 {
	switch r.IntN(8) {
	case 0:
		return 180
	case 1:
		return -180
	case 2, 3:
		return randTile(r, r.IntN(z+1)).Bounds().West
	case 4:
		return nudge(r, randTile(r, r.IntN(z+1)).Bounds().West, -180, 180)
	}
	return r.Float64()*360 - 180
}

// nudge moves v by one to four floats up or down, staying in [lo, hi]: near
// a tile boundary is where rounding would put a point in the wrong tile.
func nudge(r *rand.Rand, v, lo, hi float64) float64 {
	to := hi
	if r.IntN(2) == 0 {
		to = lo
	}
	for range 1 + r.IntN(4) {
		v = math.Nextafter(v, to)
	}
	return v
}

// randLat returns a latitude in the Mercator range: often a tile boundary at
// zoom z or above, sometimes ±MaxMercatorLat, otherwise uniform in degrees
// or in Mercator y.
func randLat(r *rand.Rand, z int) float64 {
	switch r.IntN(10) {
	case 0:
		return MaxMercatorLat
	case 1:
		return -MaxMercatorLat
	case 2, 3:
		return randTile(r, r.IntN(z+1)).Bounds().North
	case 4:
		return nudge(r, randTile(r, r.IntN(z+1)).Bounds().North, -MaxMercatorLat, MaxMercatorLat)
	case 5, 6:
		return LatFromMercatorY(r.Float64())
	}
	return (r.Float64()*2 - 1) * MaxMercatorLat
}

// randBox returns a valid box whose covering at zoom z is a few tiles
// across (any size up to zoom 5): its edges are often on tile boundaries,
// it may have no width or height, cross the antimeridian, have West 180 or
// East -180, or reach beyond the Mercator limit.
func randBox(r *rand.Rand, z int) Box {
	n := uint32(1) << z
	tile := randTile(r, z)
	var b Box

	// Longitudes: columns x0 to x0+k, edges on or inside them.
	k := r.Uint32N(4)
	x1 := (tile.X + k) % n
	b.West = Tile{uint8(z), tile.X, 0}.Bounds().West
	switch r.IntN(3) {
	case 0:
		b.West += r.Float64() * (360 / float64(n))
	case 1:
		b.West = nudge(r, b.West, -180, 180)
	}
	switch east := (Tile{uint8(z), x1, 0}).Bounds(); r.IntN(6) {
	case 0:
		b.East = east.West
	case 1:
		b.East = east.East
	case 2:
		b.East = nudge(r, east.West, -180, 180)
	case 3:
		b.East = nudge(r, east.East, -180, 180)
	default:
		b.East = east.West + r.Float64()*(east.East-east.West)
	}
	if tile.X+k < n && b.East < b.West || r.IntN(10) == 0 {
		b.East = b.West
	}

	// Latitudes: rows y0 to y0+k, edges on or inside them.
	y1 := min(tile.Y+r.Uint32N(4), n-1)
	north, south := tile.Bounds(), Tile{uint8(z), 0, y1}.Bounds()
	b.North = north.North
	switch r.IntN(3) {
	case 0:
		b.North -= r.Float64() * (north.North - north.South)
	case 1:
		b.North = nudge(r, b.North, -90, 90)
	}
	switch r.IntN(6) {
	case 0:
		b.South = south.North
	case 1:
		b.South = south.South
	case 2:
		b.South = nudge(r, south.North, -90, 90)
	case 3:
		b.South = nudge(r, south.South, -90, 90)
	default:
		b.South = south.South + r.Float64()*(south.North-south.South)
	}
	if b.South > b.North || r.IntN(10) == 0 {
		b.South = b.North
	}

	switch r.IntN(12) {
	case 0:
		b.West = 180
	case 1:
		b.East = -180
	case 2:
		b.North = 90
	case 3:
		b.South = -90
	case 4:
		b.South, b.North = 86+r.Float64(), 87+r.Float64()
	case 5:
		b.West, b.East = -180, 180
	}
	if z <= 5 && r.IntN(3) == 0 {
		// Any box at all.
		b.West, b.East = randLon(r, z), randLon(r, z)
		b.South, b.North = randLat(r, z), randLat(r, z)
		if r.IntN(4) == 0 {
			b.South, b.North = -90+r.Float64()*180, -90+r.Float64()*180
		}
	}
	if b.South > b.North {
		b.South, b.North = b.North, b.South
	}
	if b.Validate() != nil {
		panic(fmt.Sprintf("randBox made %v: %v", b, b.Validate()))
	}
	return b
}

// randPointIn returns a point of the valid box b, often on its edges or
// corners, or on ±180 when b crosses the antimeridian.
func randPointIn(r *rand.Rand, b Box) Point {
	var p Point
	switch r.IntN(5) {
	case 0:
		p.Lat = b.South
	case 1:
		p.Lat = b.North
	default:
		p.Lat = min(max(b.South+r.Float64()*(b.North-b.South), b.South), b.North)
	}
	switch r.IntN(6) {
	case 0:
		p.Lon = b.West
	case 1:
		p.Lon = b.East
	case 2:
		if b.CrossesAntimeridian() {
			p.Lon = 180
			if r.IntN(2) == 0 {
				p.Lon = -180
			}
			break
		}
		fallthrough
	default:
		width := b.East - b.West
		if b.CrossesAntimeridian() {
			width += 360
		}
		p.Lon = b.West + r.Float64()*width
		if p.Lon > 180 {
			p.Lon = max(min(p.Lon-360, b.East), -180)
		}
		if !b.CrossesAntimeridian() {
			p.Lon = min(max(p.Lon, b.West), b.East)
		}
	}
	return p
}

// randPointNear returns a point on, next to or anywhere around the box b.
func randPointNear(r *rand.Rand, b Box) Point {
	lons := []float64{b.West, b.East, 180, -180, r.Float64()*360 - 180,
		math.Nextafter(b.West, -180), math.Nextafter(b.East, 180)}
	lats := []float64{b.South, b.North, r.Float64()*180 - 90,
		math.Nextafter(b.South, -90), math.Nextafter(b.North, 90)}
	p := Pt(lons[r.IntN(len(lons))], lats[r.IntN(len(lats))])
	if r.IntN(2) == 0 {
		p = randPointIn(r, b)
	}
	return p
}

// TestPropTilesTouching: every point of a box, edges included, lies in a
// tile of TilesTouching, and every such tile meets the box.
func TestPropTilesTouching(t *testing.T) {
	rng := newRand(t)
	for range 2000 {
		z := rng.IntN(7)
		w := rng.Float64()*360 - 180
		e := rng.Float64()*360 - 180
		s := rng.Float64()*160 - 80
		n := s + rng.Float64()*(80-s)
		if rng.IntN(4) == 0 { // edges on tile boundaries
			b := TileOf(Pt(w, s), z).Bounds()
			w, s = b.West, b.South
		}
		box := BBox(w, s, e, n)
		tiles := TilesTouching(box, z)
		if uint64(len(tiles)) > CountTilesTouching(box, z) {
			t.Fatalf("%v z%d: %d tiles, count says %d", box, z, len(tiles), CountTilesTouching(box, z))
		}
		set := map[Tile]bool{}
		for _, tl := range tiles {
			set[tl] = true
		}
		corners := []Point{Pt(w, s), Pt(w, n), Pt(e, s), Pt(e, n), Pt(w, (s+n)/2)}
		for range 20 {
			lon := w + rng.Float64()*(e-w)
			if box.CrossesAntimeridian() {
				lon = w + rng.Float64()*(e+360-w)
				if lon > 180 {
					lon -= 360
				}
			}
			corners = append(corners, Pt(lon, s+rng.Float64()*(n-s)))
		}
		for _, p := range corners {
			if ClampLat(p.Lat) != p.Lat {
				continue
			}
			if !set[TileOf(p, z)] {
				t.Fatalf("%v z%d: point %v in tile %v, not among %d tiles", box, z, p, TileOf(p, z), len(tiles))
			}
		}
	}
}

// TestZOrder: a tile's children follow it in Z-order in the order Children
// gives them, and every descendant of a tile falls in its range.
func TestZOrder(t *testing.T) {
	for _, tl := range []Tile{{Z: 1, X: 1, Y: 0}, {Z: 5, X: 17, Y: 9}, {Z: 16, X: 65535, Y: 3}} {
		base := ZOrder(tl.X, tl.Y) << 2
		for i, c := range tl.Children() {
			if got := ZOrder(c.X, c.Y); got != base+uint64(i) {
				t.Errorf("%v: child %d %v at %d, want %d", tl, i, c, got, base+uint64(i))
			}
		}
	}
	if got := ZOrder(1<<32-1, 1<<32-1); got != 1<<64-1 {
		t.Errorf("ZOrder of the largest x and y: %#x, want every bit set", got)
	}
}
