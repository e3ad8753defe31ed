package geo

// Intersect returns the points that lie in both a and b, as at most three
// boxes that do not cross the antimeridian (the second result says how
// many; zero when a and b do not meet). Either box may cross the
// antimeridian: the intersection of two such longitude ranges may be two
// separate ranges, each of which may cross it in turn, hence up to three
// parts. Edges are included, as in Contains: a point is in a and in b
// exactly when it is in one of the parts.
func Intersect(a, b Box) (parts [3]Box, n int) {
	south, north := max(a.South, b.South), min(a.North, b.North)
	if !(south <= north) {
		return parts, 0
	}
	as, na := a.Split()
	bs, nb := b.Split()
	for _, x := range as[:na] {
		for _, y := range bs[:nb] {
			west, east := max(x.West, y.West), min(x.East, y.East)
			if west <= east && n < len(parts) {
				parts[n] = Box{West: west, South: south, East: east, North: north}
				n++
			}
		}
	}
	return parts, n
}

// Intersects reports whether a and b share a point, edges included. Either
// may cross the antimeridian.
func Intersects(a, b Box) bool {
	_, n := Intersect(a, b)
	return n > 0
}

// Within reports whether every point of inner lies in outer. Either may
// cross the antimeridian.
func Within(inner, outer Box) bool {
	if inner.South < outer.South || inner.North > outer.North {
		return false
	}
	parts, n := inner.Split()
	for _, p := range parts[:n] {
		if !lonsWithin(p.West, p.East, outer) {
			return false
		}
	}
	return true
}

// lonsWithin reports whether the longitudes [west, east] (west ≤ east) all
// lie in outer's longitude range.
func lonsWithin(west, east float64, outer Box) bool {
	if !outer.CrossesAntimeridian() {
		return outer.West <= west && east <= outer.East
	}
	return outer.West <= west || east <= outer.East
}
