package geo

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var nan = math.NaN()

func TestPointValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Point
		want string // substring of the error; "" means valid
	}{
		{"origin", Pt(0, 0), ""},
		{"south-west corner", Pt(-180, -90), ""},
		{"north-east corner", Pt(180, 90), ""},
		{"NaN longitude", Pt(nan, 0), "longitude NaN"},
		{"NaN latitude", Pt(0, nan), "latitude NaN"},
		{"+Inf longitude", Pt(math.Inf(1), 0), "longitude +Inf"},
		{"-Inf longitude", Pt(math.Inf(-1), 0), "longitude -Inf"},
		{"+Inf latitude", Pt(0, math.Inf(1)), "latitude +Inf"},
		{"-Inf latitude", Pt(0, math.Inf(-1)), "latitude -Inf"},
		{"latitude 90.0001", Pt(0, 90.0001), "latitude 90.0001"},
		{"latitude -90.0001", Pt(0, -90.0001), "latitude -90.0001"},
		{"longitude 180.5", Pt(180.5, 0), "longitude 180.5"},
		{"longitude -180.5", Pt(-180.5, 0), "longitude -180.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.p.Validate(), tc.want)
		})
	}
}

func TestBoxValidate(t *testing.T) {
	tests := []struct {
		name string
		b    Box
		want string // substring of the error; "" means valid
	}{
		{"world", World, ""},
		{"point", BBox(2, 48, 2, 48), ""},
		{"crossing the antimeridian", BBox(170, -10, -170, 10), ""},
		{"NaN west", BBox(nan, 0, 1, 1), "west NaN"},
		{"NaN south", BBox(0, nan, 1, 1), "south NaN"},
		{"+Inf east", BBox(0, 0, math.Inf(1), 1), "east +Inf"},
		{"-Inf north", BBox(0, 0, 1, math.Inf(-1)), "north -Inf"},
		{"south -90.0001", BBox(0, -90.0001, 1, 1), "south -90.0001"},
		{"north 90.0001", BBox(0, 0, 1, 90.0001), "north 90.0001"},
		{"west 180.5", BBox(180.5, 0, 1, 1), "west 180.5"},
		{"east -180.5", BBox(0, 0, -180.5, 1), "east -180.5"},
		{"south above north", BBox(0, 10, 1, 5), "south 10 is above north 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.b.Validate(), tc.want)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case !errors.Is(err, ErrInvalid):
		t.Fatalf("error %q does not wrap ErrInvalid", err)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestBoxContains(t *testing.T) {
	paris := BBox(2.2, 48.8, 2.5, 48.9)
	pacific := BBox(170, -10, -170, 10) // crosses the antimeridian
	tests := []struct {
		name string
		b    Box
		p    Point
		want bool
	}{
		{"inside", paris, Pt(2.35, 48.85), true},
		{"west edge", paris, Pt(2.2, 48.85), true},
		{"north-east corner", paris, Pt(2.5, 48.9), true},
		{"west of it", paris, Pt(2.19, 48.85), false},
		{"north of it", paris, Pt(2.35, 48.91), false},
		{"crossing: west half", pacific, Pt(175, 0), true},
		{"crossing: east half", pacific, Pt(-175, 0), true},
		{"crossing: on 180", pacific, Pt(180, 0), true},
		{"crossing: on -180", pacific, Pt(-180, 0), true},
		{"crossing: west edge", pacific, Pt(170, 10), true},
		{"crossing: east edge", pacific, Pt(-170, -10), true},
		{"crossing: outside, between the edges", pacific, Pt(0, 0), false},
		{"crossing: just east of it", pacific, Pt(-169.99, 0), false},
		{"crossing: just west of it", pacific, Pt(169.99, 0), false},
		{"crossing: south of it", pacific, Pt(180, -10.01), false},
		{"world holds a pole", World, Pt(-180, 90), true},
		{"NaN latitude", World, Pt(0, nan), false},
		{"NaN longitude", World, Pt(nan, 0), false},
		{"NaN longitude, crossing box", pacific, Pt(nan, 0), false},
		{"box with NaN south", BBox(-180, nan, 180, 90), Pt(0, 0), false},
		{"box with NaN west", BBox(nan, -90, 180, 90), Pt(0, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Contains(tc.p); got != tc.want {
				t.Fatalf("%v.Contains(%v) = %v, want %v", tc.b, tc.p, got, tc.want)
			}
		})
	}
}

func TestBoxSplit(t *testing.T) {
	tests := []struct {
		name string
		b    Box
		want []Box
	}{
		{"not crossing", BBox(-10, -5, 10, 5), []Box{BBox(-10, -5, 10, 5)}},
		{"world", World, []Box{World}},
		{"crossing", BBox(170, -10, -170, 10), []Box{BBox(170, -10, 180, 10), BBox(-180, -10, -170, 10)}},
		{"antimeridian line", BBox(180, 0, -180, 1), []Box{BBox(180, 0, 180, 1), BBox(-180, 0, -180, 1)}},
		{"almost the world", BBox(1, 0, 0, 1), []Box{BBox(1, 0, 180, 1), BBox(-180, 0, 0, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, n := tc.b.Split()
			if got := parts[:n]; !equalBoxes(got, tc.want) {
				t.Fatalf("%v.Split() = %v, want %v", tc.b, got, tc.want)
			}
			if got := tc.b.CrossesAntimeridian(); got != (len(tc.want) == 2) {
				t.Fatalf("CrossesAntimeridian() = %v", got)
			}
			for _, p := range parts[:n] {
				if p.CrossesAntimeridian() {
					t.Fatalf("part %v crosses the antimeridian", p)
				}
			}
		})
	}
}

func equalBoxes(a, b []Box) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPropSplit checks that a box and its Split halves hold the same points,
// for random boxes (half of them crossing the antimeridian) and points
// including the box edges and ±180.
func TestPropSplit(t *testing.T) {
	r := newRand(t)
	for range 5000 {
		b := randBox(r, 0)
		parts, n := b.Split()
		for range 10 {
			p := randPointNear(r, b)
			in := false
			for _, part := range parts[:n] {
				in = in || part.Contains(p)
			}
			if got := b.Contains(p); got != in {
				t.Fatalf("%v.Contains(%v) = %v, but its halves %v say %v", b, p, got, parts[:n], in)
			}
		}
	}
}

func TestWrapLon(t *testing.T) {
	cases := []struct{ in, want float64 }{
		{0, 0}, {180, 180}, {-180, -180}, {179.5, 179.5},
		{190, -170}, {-190, 170}, {540, 180}, {-200, 160}, {725, 5}, {-725, -5},
	}
	for _, c := range cases {
		if got := WrapLon(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("WrapLon(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := WrapLon(math.NaN()); !math.IsNaN(got) {
		t.Errorf("WrapLon(NaN) = %v, want NaN", got)
	}
}
