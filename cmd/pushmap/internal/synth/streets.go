package synth

import (
	"encoding/json"
	"math"
)

// majorEvery makes every majorEvery-th street of a grid, counted from the
// town's centre, a major one: drawn wider on the demo's basemap.
const majorEvery = 5

// StreetsGeoJSON returns the streets the fleet's vehicles drive on, as a
// GeoJSON FeatureCollection: per town, one MultiLineString of its major
// streets and one of the others (properties "town" and "major"), each line
// a straight run of blocks between two crossings, coordinates rounded to
// 1e-5° (about a metre). The demo's basemap draws them (web/demo/
// streets.json holds this output; TestStreetsFile keeps it current), so
// vehicles visibly follow the roads: they are generated grids, not the
// towns' real streets.
func StreetsGeoJSON() ([]byte, error) {
	type geometry struct {
		Type        string         `json:"type"`
		Coordinates [][][2]float64 `json:"coordinates"`
	}
	type feature struct {
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
		Geometry   geometry       `json:"geometry"`
	}
	fc := struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}{Type: "FeatureCollection"}
	for k := range towns {
		t, g := &towns[k], &townGeoms[k]
		var lines [2][][][2]float64 // minor, major
		at := func(i, j int) [2]float64 {
			p := g.lonLat(t, float64(i)*t.blockM, float64(j)*t.blockM)
			return [2]float64{round5(p.Lon), round5(p.Lat)}
		}
		for line := -g.n; line <= g.n; line++ {
			major := 0
			if line%majorEvery == 0 {
				major = 1
			}
			// The rows of the grid (grid x runs along them: direction 1,
			// grid east), then its columns (direction 0, grid north).
			for _, dir := range []uint8{1, 0} {
				cell := func(s int) (int, int) {
					if dir == 1 {
						return s, line
					}
					return line, s
				}
				start := math.MinInt
				for s := -g.n; s <= g.n; s++ {
					i, j := cell(s)
					if g.street(i, j, dir) {
						if start == math.MinInt {
							start = s
						}
						continue
					}
					if start != math.MinInt {
						i0, j0 := cell(start)
						lines[major] = append(lines[major], [][2]float64{at(i0, j0), at(i, j)})
						start = math.MinInt
					}
				}
			}
		}
		for major, ls := range lines {
			if len(ls) == 0 {
				continue
			}
			fc.Features = append(fc.Features, feature{
				Type:       "Feature",
				Properties: map[string]any{"town": t.name, "major": major == 1},
				Geometry:   geometry{Type: "MultiLineString", Coordinates: ls},
			})
		}
	}
	return json.Marshal(fc)
}

func round5(x float64) float64 { return math.Round(x*1e5) / 1e5 }
