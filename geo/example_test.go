package geo_test

import (
	"fmt"

	"github.com/pushmap/pushmap/geo"
)

func ExampleBox_Contains() {
	// West 170 is greater than East -170: the box crosses the antimeridian.
	pacific := geo.BBox(170, -10, -170, 10)
	fmt.Println(pacific.CrossesAntimeridian())
	fmt.Println(pacific.Contains(geo.Pt(175, 0)))  // Fiji side
	fmt.Println(pacific.Contains(geo.Pt(-175, 0))) // Samoa side
	fmt.Println(pacific.Contains(geo.Pt(0, 0)))    // Gulf of Guinea
	parts, n := pacific.Split()
	fmt.Println(parts[:n])
	// Output:
	// true
	// true
	// true
	// false
	// [[170, -10, 180, 10] [-180, -10, -170, 10]]
}

func ExampleTileOf() {
	paris := geo.Pt(2.3522, 48.8566)
	tile := geo.TileOf(paris, 10)
	fmt.Println(tile)
	fmt.Println(tile.Parent())
	fmt.Println(tile.Bounds().Contains(paris))
	fmt.Println(geo.TileOf(paris, 0))
	// Output:
	// 10/518/352
	// 9/259/176
	// true
	// 0/0/0
}

func ExampleTilesCovering() {
	// A box across the antimeridian: tiles row by row, eastwards from West.
	pacific := geo.BBox(170, -10, -170, 10)
	fmt.Println(geo.TilesCovering(pacific, 2))

	// Edges lying on tile boundaries do not pull in the neighbours.
	nw := geo.Tile{Z: 1, X: 0, Y: 0}.Bounds()
	fmt.Println(geo.TilesCovering(nw, 1))

	// Check the count before covering a large box at a deep zoom.
	fmt.Println(geo.CountTilesCovering(geo.World, 12))
	// Output:
	// [2/3/1 2/0/1 2/3/2 2/0/2]
	// [1/0/0]
	// 16777216
}

func ExampleAppendTilesCovering() {
	var buf []geo.Tile
	for _, z := range []int{9, 10} {
		buf = geo.AppendTilesCovering(buf[:0], geo.BBox(2.2, 48.8, 2.6, 49.0), z)
		fmt.Println(buf)
	}
	// Output:
	// [9/259/175 9/259/176]
	// [10/518/351 10/519/351 10/518/352 10/519/352]
}
