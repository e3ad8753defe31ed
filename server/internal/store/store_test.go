package store

import (
	"math"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// upsert is Upsert without expiry, failing the test on an error.
func upsert(t *testing.T, st *Store, m wire.Marker, versioned bool) (*Change, bool) {
	t.Helper()
	ch, stale, err := st.Upsert(&m, versioned, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ch, stale
}

// TestChanges: each write returns the change record its consumers need:
// the kind, where the marker was and is, and the op of its new state.
func TestChanges(t *testing.T) {
	st := New(14)
	a, b := geo.Pt(2.35, 48.85), geo.Pt(2.36, 48.86)
	type want struct {
		kind     Kind
		old, new Place
		moved    bool
	}
	steps := []struct {
		name  string
		write func() *Change
		want  *want
	}{
		{"new marker", func() *Change { ch, _ := upsert(t, st, wire.Marker{ID: "m", Layer: "cars", Pos: a}, false); return ch },
			&want{kind: Added, new: Place{"cars", a}}},
		{"props only", func() *Change {
			ch, _ := upsert(t, st, wire.Marker{ID: "m", Layer: "cars", Pos: a, Props: map[string]any{"k": 1}}, false)
			return ch
		}, &want{kind: Updated, old: Place{"cars", a}, new: Place{"cars", a}}},
		{"a move", func() *Change { ch, _ := upsert(t, st, wire.Marker{ID: "m", Layer: "cars", Pos: b}, false); return ch },
			&want{kind: Updated, old: Place{"cars", a}, new: Place{"cars", b}, moved: true}},
		{"a layer change", func() *Change { ch, _ := upsert(t, st, wire.Marker{ID: "m", Layer: "bikes", Pos: b}, false); return ch },
			&want{kind: Updated, old: Place{"cars", b}, new: Place{"bikes", b}, moved: true}},
		{"removal", func() *Change { return st.Remove("m") }, &want{kind: Removed, old: Place{"bikes", b}}},
		{"removal of nothing", func() *Change { return st.Remove("m") }, nil},
	}
	for _, s := range steps {
		ch := s.write()
		if s.want == nil {
			if ch != nil {
				t.Errorf("%s: %+v, want no change", s.name, *ch)
			}
			continue
		}
		w := s.want
		if ch == nil {
			t.Fatalf("%s: no change, want %+v", s.name, *w)
		}
		if ch.Kind != w.kind || ch.ID != "m" || ch.Old != w.old || ch.New != w.new || ch.Moved() != w.moved {
			t.Errorf("%s: %+v (moved %v), want %+v", s.name, *ch, ch.Moved(), *w)
		}
		if ch.Has() != (ch.Op != nil) {
			t.Errorf("%s: Has %v with op % x", s.name, ch.Has(), ch.Op)
		}
		if ch.Has() {
			rec := st.Get("m")
			if m, err := decodeOp(ch.Op); err != nil || m.Pos != w.new.Pos || m.Layer != w.new.Layer || m.Version != rec.Marker.Version {
				t.Errorf("%s: op decodes as %+v, %v", s.name, m, err)
			}
			if &rec.Op[0] != &ch.Op[0] {
				t.Errorf("%s: the change's op is not the record's", s.name)
			}
		}
	}
	if st.Len() != 0 || st.LayerCounts()["bikes"] != 0 || st.LayerCounts()["cars"] != 0 {
		t.Errorf("after the removal: %d markers, counts %v", st.Len(), st.LayerCounts())
	}
}

// TestVersionRules: a versioned upsert must be newer than the stored
// version; one without a version takes the next; a marker at
// math.MaxUint64 has no next. A stale upsert changes nothing.
func TestVersionRules(t *testing.T) {
	st := New(14)
	p := geo.Pt(1, 1)
	if ch, _ := upsert(t, st, wire.Marker{ID: "v", Pos: p}, true); ch == nil || st.Get("v").Marker.Version != 0 {
		t.Fatalf("a new marker at version 0: %+v", st.Get("v"))
	}
	if _, stale := upsert(t, st, wire.Marker{ID: "v", Pos: geo.Pt(2, 2)}, true); !stale {
		t.Error("version 0 again was not stale")
	}
	if ch, _ := upsert(t, st, wire.Marker{ID: "v", Pos: p}, false); ch == nil || st.Get("v").Marker.Version != 1 {
		t.Errorf("an upsert without a version: version %d, want 1", st.Get("v").Marker.Version)
	}
	if ch, _ := upsert(t, st, wire.Marker{ID: "v", Pos: p, Version: math.MaxUint64}, true); ch == nil {
		t.Fatal("version 2^64-1 refused")
	}
	if _, stale := upsert(t, st, wire.Marker{ID: "v", Pos: geo.Pt(3, 3)}, false); !stale {
		t.Error("an upsert without a version of a marker at 2^64-1 was not stale")
	}
	if got := st.Get("v").Marker; got.Pos != p || got.Version != math.MaxUint64 {
		t.Errorf("after stale upserts: %+v", got)
	}
}

// TestExpiry: markers expire in order; an applied upsert sets the expiry
// anew, a stale one leaves it; an upsert that has already expired ends
// the marker.
func TestExpiry(t *testing.T) {
	st := New(14)
	p := geo.Pt(1, 1)
	put := func(id string, version uint64, expires, now int64) (*Change, bool) {
		t.Helper()
		ch, stale, err := st.Upsert(&wire.Marker{ID: id, Pos: p, Version: version}, version != 0, expires, now)
		if err != nil {
			t.Fatal(err)
		}
		return ch, stale
	}
	put("a", 0, 30, 0)
	put("b", 0, 10, 0)
	put("c", 0, 20, 0)
	put("c", 0, 0, 0) // permanent now
	put("s", 5, 15, 0)
	if _, stale := put("s", 4, 100, 0); !stale { // stale: keeps 15
		t.Fatal("version 4 after 5 was not stale")
	}
	if got := st.NextExpiry(); got != 10 {
		t.Errorf("NextExpiry = %d, want 10", got)
	}
	var gone []string
	for ch := st.ExpireDue(25); ch != nil; ch = st.ExpireDue(25) {
		if ch.Kind != Expired {
			t.Errorf("%s: kind %d, want Expired", ch.ID, ch.Kind)
		}
		gone = append(gone, ch.ID)
	}
	if len(gone) != 2 || gone[0] != "b" || gone[1] != "s" {
		t.Errorf("expired by 25: %v, want [b s]", gone)
	}
	if st.Get("c") == nil || st.Get("a") == nil || st.Get("a").Expires != 30 {
		t.Errorf("c (permanent) or a (expires at 30) is gone: %+v %+v", st.Get("c"), st.Get("a"))
	}
	// An upsert already expired at now ends the marker, and is nothing
	// for a marker that does not exist.
	if ch, _ := put("a", 0, 40, 50); ch == nil || ch.Kind != Expired || st.Get("a") != nil {
		t.Errorf("an expired upsert of a: %+v, stored %+v", ch, st.Get("a"))
	}
	if ch, stale := put("new", 0, 40, 50); ch != nil || stale || st.Get("new") != nil {
		t.Errorf("an expired upsert of a new marker: %+v, stale %v", ch, stale)
	}
	if ch := st.ExpireDue(1000); ch != nil {
		t.Errorf("%s expired, want nothing left to expire", ch.ID)
	}
}

// TestSearchFollowsSmallSteps: the point index holds markers in slack
// boxes; a search finds a marker at its exact position, never where it
// was, however small its steps.
func TestSearchFollowsSmallSteps(t *testing.T) {
	st := New(14)
	lon := 2.0
	for i := range 100 {
		lon += pointSlack / 7
		upsert(t, st, wire.Marker{ID: "m", Pos: geo.Pt(lon, 1)}, false)
		at := st.Get("m").Marker.Pos
		found, stale := 0, 0
		st.Search(geo.BBox(at.Lon, 1, at.Lon, 1), func(*Record) bool { found++; return true })
		st.Search(geo.BBox(at.Lon-pointSlack, 0.5, at.Lon-1e-6, 1.5), func(*Record) bool { stale++; return true })
		if found != 1 || stale != 0 {
			t.Fatalf("step %d: found %d at %v, %d just west of it", i, found, at, stale)
		}
	}
}

// TestClusterCounts: the counts at every zoom follow upserts, moves and
// removals, per layer.
func TestClusterCounts(t *testing.T) {
	st := New(10)
	upsert(t, st, wire.Marker{ID: "a", Layer: "cars", Pos: geo.Pt(10, 10)}, false)
	upsert(t, st, wire.Marker{ID: "b", Layer: "cars", Pos: geo.Pt(10.001, 10.001)}, false)
	upsert(t, st, wire.Marker{ID: "c", Layer: "bikes", Pos: geo.Pt(-50, -20)}, false)
	world := geo.Tile{}
	if n := st.Cluster(world, nil).Count; n != 3 {
		t.Errorf("world: %d markers, want 3", n)
	}
	if n := st.Cluster(world, NewLayerSet([]string{"cars"})).Count; n != 2 {
		t.Errorf("world, cars: %d, want 2", n)
	}
	upsert(t, st, wire.Marker{ID: "b", Layer: "cars", Pos: geo.Pt(-50, -20)}, false)
	fine := geo.TileOf(geo.Pt(-50, -20), 10)
	if cl := st.Cluster(fine, nil); cl.Count != 2 || cl.At != wire.Quantize(geo.Pt(-50, -20)) {
		t.Errorf("tile %v after the move: %+v, want 2 at (-50, -20)", fine, cl)
	}
	st.Remove("a")
	if got := st.LayerCounts(); got["cars"] != 1 || got["bikes"] != 1 {
		t.Errorf("LayerCounts = %v, want cars 1, bikes 1", got)
	}
}

// decodeOp decodes a marker upsert op, as a client reads it in a batch.
func decodeOp(op []byte) (wire.Marker, error) {
	msg, err := wire.Unmarshal(append([]byte{0x92, byte(wire.TypeBatch)}, op...))
	if err != nil {
		return wire.Marker{}, err
	}
	return msg.(wire.Batch).Ops[0].Marker, nil
}
