package geo

import "testing"

func TestIntersect(t *testing.T) {
	cases := []struct {
		name string
		a, b Box
		want []Box
	}{
		{"plain overlap", BBox(0, 0, 10, 10), BBox(5, 5, 20, 20), []Box{BBox(5, 5, 10, 10)}},
		{"apart", BBox(0, 0, 10, 10), BBox(11, 0, 20, 10), nil},
		{"apart in latitude", BBox(0, 0, 10, 10), BBox(0, 11, 10, 20), nil},
		{"touching edges", BBox(0, 0, 10, 10), BBox(10, 10, 20, 20), []Box{BBox(10, 10, 10, 10)}},
		{"crossing and plain", BBox(170, -10, -170, 10), BBox(-175, 0, 0, 5), []Box{BBox(-175, 0, -170, 5)}},
		{"both crossing", BBox(170, -10, -170, 10), BBox(175, -5, -160, 5), []Box{BBox(175, -5, 180, 5), BBox(-180, -5, -170, 5)}},
		{"crossing box, wide plain one: two separate ranges", BBox(170, -10, -170, 10), BBox(-175, -10, 175, 10),
			[]Box{BBox(170, -10, 175, 10), BBox(-175, -10, -170, 10)}},
		{"two crossing boxes meeting in three parts", BBox(10, 0, 0, 1), BBox(-5, 0, -10, 1),
			[]Box{BBox(10, 0, 180, 1), BBox(-5, 0, 0, 1), BBox(-180, 0, -10, 1)}},
	}
	for _, c := range cases {
		parts, n := Intersect(c.a, c.b)
		if got := parts[:n]; !sameBoxes(got, c.want) {
			t.Errorf("%s: Intersect(%v, %v) = %v, want %v", c.name, c.a, c.b, got, c.want)
		}
	}
}

func sameBoxes(a, b []Box) bool {
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

// TestPropIntersect checks, for random boxes (half of them crossing the
// antimeridian) and points on and around their edges, that a point is in
// both boxes exactly when it is in one part of their intersection, that no
// part crosses the antimeridian, and that every part is Within both boxes.
func TestPropIntersect(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		a, b := randBox(r, r.IntN(4)), randBox(r, r.IntN(4))
		parts, n := Intersect(a, b)
		for _, p := range parts[:n] {
			if p.CrossesAntimeridian() || p.Validate() != nil {
				t.Fatalf("Intersect(%v, %v) has part %v", a, b, p)
			}
			if !Within(p, a) || !Within(p, b) {
				t.Fatalf("Intersect(%v, %v): part %v is not within both", a, b, p)
			}
		}
		for range 10 {
			p := randPointNear(r, a)
			if r.IntN(2) == 0 {
				p = randPointNear(r, b)
			}
			in := false
			for _, part := range parts[:n] {
				in = in || part.Contains(p)
			}
			if want := a.Contains(p) && b.Contains(p); in != want {
				t.Fatalf("Intersect(%v, %v) = %v holds %v: %v, want %v", a, b, parts[:n], p, in, want)
			}
		}
	}
}

// TestPropWithin checks that a box is within itself and within the world,
// and that every point of a box within another is in the other.
func TestPropWithin(t *testing.T) {
	r := newRand(t)
	for range 20000 {
		a, b := randBox(r, r.IntN(4)), randBox(r, r.IntN(4))
		if !Within(a, a) || !Within(a, World) {
			t.Fatalf("%v is not within itself or the world", a)
		}
		if !Within(a, b) {
			continue
		}
		for range 10 {
			if p := randPointNear(r, a); a.Contains(p) && !b.Contains(p) {
				t.Fatalf("Within(%v, %v), but %v is only in the first", a, b, p)
			}
		}
	}
}

func TestIntersects(t *testing.T) {
	cases := []struct {
		name string
		a, b Box
		want bool
	}{
		{"overlap", BBox(0, 0, 10, 10), BBox(5, 5, 20, 20), true},
		{"touching corner", BBox(0, 0, 10, 10), BBox(10, 10, 20, 20), true},
		{"apart", BBox(0, 0, 10, 10), BBox(11, 0, 20, 10), false},
		{"crossing, meets the eastern part", BBox(170, -10, -170, 10), BBox(-175, 0, -160, 5), true},
		{"crossing, between its parts", BBox(170, -10, -170, 10), BBox(-160, 0, 160, 5), false},
		{"both crossing", BBox(175, 0, -175, 1), BBox(179, 0, -179, 1), true},
	}
	for _, c := range cases {
		if got := Intersects(c.a, c.b); got != c.want {
			t.Errorf("%s: Intersects(%v, %v) = %v, want %v", c.name, c.a, c.b, got, c.want)
		}
		if got := Intersects(c.b, c.a); got != c.want {
			t.Errorf("%s: Intersects(%v, %v) = %v, want %v (swapped)", c.name, c.b, c.a, got, c.want)
		}
	}
}
