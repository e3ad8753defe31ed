package store

import "github.com/pushmap/pushmap/geo"

// pointSlack is how far, in degrees, a marker may move from where the
// point index last put it before the index must be told. The index holds
// each marker as a box of this half-size around that place, so that a
// marker taking small steps changes the index once every several steps
// instead of at every step (a delete and an insert in the tree); a search
// finds every marker whose box meets the area and keeps those whose
// position is inside it (Search).
const pointSlack = 0.001

// slackBox returns the box the point index holds a marker at p as.
func slackBox(p geo.Point) (lo, hi [2]float64) {
	return [2]float64{max(p.Lon-pointSlack, -180), max(p.Lat-pointSlack, -90)},
		[2]float64{min(p.Lon+pointSlack, 180), min(p.Lat+pointSlack, 90)}
}

// indexPoint puts rec, now at p, into the point index (indexed: it is in
// it already), or moves it there when p left its box.
func (st *Store) indexPoint(rec *Record, p geo.Point, indexed bool) {
	if indexed && rec.lo[0] <= p.Lon && p.Lon <= rec.hi[0] && rec.lo[1] <= p.Lat && p.Lat <= rec.hi[1] {
		return
	}
	lo, hi := slackBox(p)
	if indexed {
		st.points.Replace(rec.lo, rec.hi, rec, lo, hi, rec)
	} else {
		st.points.Insert(lo, hi, rec)
	}
	rec.lo, rec.hi = lo, hi
}

// Search calls fn for each marker inside box, edges included, in no
// particular order, until fn returns false. box must not cross the
// antimeridian (see geo.Box.Split). fn must not write to the store.
func (st *Store) Search(box geo.Box, fn func(*Record) bool) {
	lo, hi := [2]float64{box.West, box.South}, [2]float64{box.East, box.North}
	st.points.Search(lo, hi, func(_, _ [2]float64, rec *Record) bool {
		if !box.Contains(rec.Marker.Pos) {
			return true
		}
		return fn(rec)
	})
}
