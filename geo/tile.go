package geo

import (
	"math"
	"slices"
	"strconv"
)

// MaxZoom is the deepest zoom level, as in slippy maps, that this package
// works at. A tile at MaxZoom is about 2.4 m wide at the equator.
const MaxZoom = 24

// A Tile is a slippy-map tile z/x/y in Web Mercator: at zoom Z the world
// square is cut into 2^Z columns X, counted east from longitude -180, and
// 2^Z rows Y, counted south from latitude MaxMercatorLat. A Tile is valid
// when Z <= MaxZoom and X, Y < 2^Z (see Validate). Tiles are comparable values
// and can be used as map keys.
//
// A tile owns the points of its Bounds west and north edges included, east
// and south edges excluded, except that the last column also owns longitude
// 180 and the last row latitude -MaxMercatorLat; so every point in the
// Mercator range has exactly one tile at each zoom, the one TileOf returns.
type Tile struct {
	Z    uint8  // zoom level, 0 (one tile for the world) to MaxZoom
	X, Y uint32 // column from the west, row from the north, each < 2^Z
}

// TileOf returns the tile at zoom z that owns p (see Tile). Latitudes beyond
// ±MaxMercatorLat are clamped onto the first or last row, longitude 180 maps
// to the last column, and z is clamped to [0, MaxZoom]. p should be valid
// (Point.Validate): longitudes outside [-180, 180] are clamped, and a NaN
// coordinate gives column or row 0. The result is always valid, and
// TileOf(p, z-1) == TileOf(p, z).Parent().
func TileOf(p Point, z int) Tile {
	z = clampZoom(z)
	return Tile{Z: uint8(z), X: col(p.Lon, z), Y: row(ClampLat(p.Lat), z)}
}

// Bounds returns the box t covers, in degrees: West and East are the
// longitudes of its column edges, North and South the latitudes of its row
// edges, within ±MaxMercatorLat. Neighbouring tiles share their edges exactly
// and the four Children of t share t's outer edges exactly. Bounds never
// panics, but only the bounds of a valid tile are meaningful.
func (t Tile) Bounds() Box {
	z := int(t.Z)
	return Box{
		West:  colLon(t.X, z),
		South: rowLat(t.Y+1, z),
		East:  colLon(t.X+1, z),
		North: rowLat(t.Y, z),
	}
}

// Validate reports why t is not a tile: a zoom above MaxZoom, or a column or
// row not below 2^Z. The error names the bad value and wraps ErrInvalid.
func (t Tile) Validate() error {
	if t.Z > MaxZoom {
		return invalidError("tile " + t.String() + ": zoom " + strconv.Itoa(int(t.Z)) + " is above " + strconv.Itoa(MaxZoom))
	}
	last := uint32(1)<<t.Z - 1
	if t.X > last {
		return invalidError("tile " + t.String() + ": x " + u32(t.X) + " is outside [0, " + u32(last) + "] at zoom " + strconv.Itoa(int(t.Z)))
	}
	if t.Y > last {
		return invalidError("tile " + t.String() + ": y " + u32(t.Y) + " is outside [0, " + u32(last) + "] at zoom " + strconv.Itoa(int(t.Z)))
	}
	return nil
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// Parent returns the tile one zoom level up that holds t. The parent of the
// zoom 0 tile is itself.
func (t Tile) Parent() Tile {
	if t.Z == 0 {
		return t
	}
	return Tile{Z: t.Z - 1, X: t.X / 2, Y: t.Y / 2}
}

// Children returns the four tiles one zoom level down that partition t, in
// the order north-west, north-east, south-west, south-east. The children of
// a tile at MaxZoom are not Valid.
func (t Tile) Children() [4]Tile {
	z, x, y := t.Z+1, 2*t.X, 2*t.Y
	return [4]Tile{{z, x, y}, {z, x + 1, y}, {z, x, y + 1}, {z, x + 1, y + 1}}
}

// ZOrder returns the position of tile x, y (of any one zoom) along a
// Z-order curve: the bits of x on the even bits, those of y on the odd
// ones. A tile's descendants at every zoom are contiguous in it, and a
// tile's Children come in its order.
func ZOrder(x, y uint32) uint64 { return spreadBits(x) | spreadBits(y)<<1 }

// spreadBits spreads the bits of v to the even bits of the result.
func spreadBits(v uint32) uint64 {
	b := uint64(v)
	b = (b | b<<16) & 0x0000ffff0000ffff
	b = (b | b<<8) & 0x00ff00ff00ff00ff
	b = (b | b<<4) & 0x0f0f0f0f0f0f0f0f
	b = (b | b<<2) & 0x3333333333333333
	b = (b | b<<1) & 0x5555555555555555
	return b
}

// Contains reports whether u is t or one of its descendants at a deeper
// zoom level.
func (t Tile) Contains(u Tile) bool {
	if u.Z < t.Z {
		return false
	}
	d := u.Z - t.Z
	return u.X>>d == t.X && u.Y>>d == t.Y
}

// String returns t as "z/x/y", the order of slippy-map tile URLs.
func (t Tile) String() string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, uint64(t.Z), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(t.X), 10)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(t.Y), 10)
	return string(b)
}

// TilesCovering returns the fewest tiles at zoom z (clamped to [0, MaxZoom])
// whose Bounds together cover b, each once. It returns nil when b is not
// valid (Box.Validate).
//
// The rule at the edges: along each axis a tile is taken when its span
// overlaps the box's span with positive length, so a box edge lying exactly
// on a tile boundary does not pull in the tile beyond it. Where the box has
// no width or no height (a line or a point) the column or row TileOf picks is
// taken instead: on a boundary, the one east or south of it. Latitudes are
// clamped to ±MaxMercatorLat first, so a box beyond the Mercator limit gets
// the first or last row. A box crossing the antimeridian is covered as its
// two Split halves; longitudes 180 and -180 are the same meridian, so West
// 180 or East -180 does not pull in a column on the other side.
//
// Tiles come row by row from the north, and within a row eastwards from the
// box's west edge, wrapping across the antimeridian. The count grows as 4^z:
// check CountTilesCovering before covering a large box at a deep zoom.
func TilesCovering(b Box, z int) []Tile {
	return AppendTilesCovering(nil, b, z)
}

// AppendTilesCovering appends the tiles TilesCovering(b, z) returns to dst
// and returns the extended slice, allocating only when dst lacks capacity.
func AppendTilesCovering(dst []Tile, b Box, z int) []Tile {
	c, ok := coverOf(b, z)
	if !ok {
		return dst
	}
	n := uint32(1) << c.z
	dst = slices.Grow(dst, int(c.count()))
	for y := c.y0; y <= c.y1; y++ {
		for i := range c.nx {
			x := c.x0 + i
			if x >= n {
				x -= n
			}
			dst = append(dst, Tile{Z: uint8(c.z), X: x, Y: y})
		}
	}
	return dst
}

// CountTilesCovering returns len(TilesCovering(b, z)) without building the
// slice: 0 for an invalid box, at most 4^z. Use it to bound the work before
// covering a box at a deep zoom.
func CountTilesCovering(b Box, z int) uint64 {
	c, ok := coverOf(b, z)
	if !ok {
		return 0
	}
	return c.count()
}

// cover is the covering of a box at zoom z: rows y0 to y1, and nx columns
// from x0 eastwards, wrapping from the last column to column 0.
type cover struct {
	z      int
	x0, nx uint32
	y0, y1 uint32
}

func (c cover) count() uint64 { return uint64(c.nx) * uint64(c.y1-c.y0+1) }

func coverOf(b Box, z int) (cover, bool) {
	if b.Validate() != nil {
		return cover{}, false
	}
	z = clampZoom(z)
	n := uint32(1) << z
	c := cover{z: z}

	north, south := ClampLat(b.North), ClampLat(b.South)
	c.y0, c.y1 = row(north, z), row(south, z)
	if c.y1 > c.y0 && south == rowLat(c.y1, z) {
		c.y1-- // the south edge only touches row y1's north edge
	}

	switch {
	case !b.CrossesAntimeridian():
		c.x0 = col(b.West, z)
		c.nx = eastCol(b.East, z, c.x0) - c.x0 + 1
	case b.East == -180:
		// The eastern half is the antimeridian alone, which the western
		// half [West, 180] already holds.
		c.x0 = col(b.West, z)
		c.nx = n - c.x0
	case b.West == 180:
		// Likewise the western half, held by [-180, East].
		c.x0 = 0
		c.nx = eastCol(b.East, z, 0) + 1
	default:
		c.x0 = col(b.West, z)
		c.nx = min(n-c.x0+eastCol(b.East, z, 0)+1, n)
	}
	return c, true
}

func clampZoom(z int) int { return min(max(z, 0), MaxZoom) }

// colLon returns the longitude of the west edge of column x at zoom z (x may
// be 2^z: the east edge of the last column, 180). x/2^z is exact, so the
// edge a tile shares with its neighbour or its parent is the same float.
func colLon(x uint32, z int) float64 {
	return math.Ldexp(float64(x), -z)*360 - 180
}

// rowLat returns the latitude of the north edge of row y at zoom z (y may be
// 2^z: the south edge of the last row, -MaxMercatorLat).
func rowLat(y uint32, z int) float64 {
	return LatFromMercatorY(math.Ldexp(float64(y), -z))
}

// col returns the column at zoom z (in [0, MaxZoom]) that owns lon: the one
// with colLon(x) <= lon < colLon(x+1), the last one for lon 180. The formula
// gives it up to rounding; the checks against colLon make TileOf agree with
// Bounds exactly.
func col(lon float64, z int) uint32 {
	x := cell((lon+180)/360, z)
	last := uint32(1)<<z - 1
	for x > 0 && lon < colLon(x, z) {
		x--
	}
	for x < last && lon >= colLon(x+1, z) {
		x++
	}
	return x
}

// row returns the row at zoom z (in [0, MaxZoom]) that owns lat, which must
// be clamped: the one with rowLat(y+1) < lat <= rowLat(y), the last one for
// lat -MaxMercatorLat.
func row(lat float64, z int) uint32 {
	y := cell(MercatorY(lat), z)
	last := uint32(1)<<z - 1
	for y > 0 && lat > rowLat(y, z) {
		y--
	}
	for y < last && lat <= rowLat(y+1, z) {
		y++
	}
	return y
}

// cell returns floor(f * 2^z) limited to [0, 2^z-1]; 0 for NaN.
func cell(f float64, z int) uint32 {
	n := uint32(1) << z
	v := math.Ldexp(f, z)
	switch {
	case !(v >= 0): // also NaN
		return 0
	case v >= float64(n):
		return n - 1
	}
	return uint32(v)
}

// eastCol returns the last column, at zoom z, of a span whose east edge is
// east and whose first column is first: the column owning east, less one
// when east lies exactly on that column's west edge and it is not first.
func eastCol(east float64, z int, first uint32) uint32 {
	x := col(east, z)
	if x > first && east == colLon(x, z) {
		x--
	}
	return x
}

// TilesTouching returns every tile at zoom z that holds a point of b by the
// rule of TileOf — edges included, so a box whose edge lies on a tile
// boundary also gets the tile beyond it that owns that edge. This is the
// covering for tiles that stand for the points in them (clusters), where
// TilesCovering's minimal covering could miss the points on b's edges. It
// returns nil for an invalid box.
func TilesTouching(b Box, z int) []Tile {
	if b.Validate() != nil {
		return nil
	}
	var out []Tile
	var seen map[Tile]bool
	parts, n := b.Split()
	if n == 2 {
		seen = make(map[Tile]bool)
	}
	for _, p := range parts[:n] {
		nw, se := TileOf(Pt(p.West, p.North), z), TileOf(Pt(p.East, p.South), z)
		for y := nw.Y; y <= se.Y; y++ {
			for x := nw.X; x <= se.X; x++ {
				t := Tile{Z: nw.Z, X: x, Y: y}
				if seen != nil {
					if seen[t] {
						continue
					}
					seen[t] = true
				}
				out = append(out, t)
			}
		}
	}
	return out
}

// CountTilesTouching returns len(TilesTouching(b, z)) without building the
// list (an upper bound when b crosses the antimeridian and its halves
// share a column).
func CountTilesTouching(b Box, z int) uint64 {
	if b.Validate() != nil {
		return 0
	}
	var total uint64
	parts, n := b.Split()
	for _, p := range parts[:n] {
		nw, se := TileOf(Pt(p.West, p.North), z), TileOf(Pt(p.East, p.South), z)
		total += uint64(se.X-nw.X+1) * uint64(se.Y-nw.Y+1)
	}
	return total
}
