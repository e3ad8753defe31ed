package server

import "testing"

// FuzzParseTilePath: the density endpoint's path parser never panics and
// accepts only valid tiles.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"10/518/352.png", "/0/0/0.png", "25/0/0.png", "1/2/3.jpg", "a/b/c.png", "1//1.png"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := parseTilePath(p)
		if err == nil && tile.Validate() != nil {
			t.Fatalf("%q parsed to invalid tile %v", p, tile)
		}
	})
}
