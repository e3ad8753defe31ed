// Package store holds pushmap's markers: each marker by id with its
// version and expiry, a point index of their positions, and the marker
// counts of every layer in every tile at every zoom up to the cluster zoom
// (the clusters). It applies upserts and removals under the version rules
// and returns, for each one that changed something, a Change: what the
// marker was and is. It knows nothing of connections or views; the server
// turns changes into deliveries (fan-out, cluster pushes, density tiles),
// as tile38's collection leaves its clients to the server.
//
// A Store is not safe for concurrent use: its owner serializes every call
// (the server holds its lock). Records and Changes are read-only to the
// caller; a Change is valid until the next call that writes.
package store

import (
	"bytes"
	"container/heap"
	"math"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
	"github.com/tidwall/rtree"
)

// A Record is a stored marker. Its fields are read-only outside the store.
type Record struct {
	// Marker is the marker as stored: its position quantised to the
	// wire's resolution and its version set.
	Marker wire.Marker
	// Op is the marker's upsert op as the wire encodes it. It is immutable
	// (readers such as outboxes hold it while it waits to be written): a
	// change makes a new one.
	Op []byte
	// Expires is when the marker expires, Unix nanoseconds; 0 for never.
	Expires int64

	cell finest // its cluster cell at the finest zoom
	// lo and hi are its box in the point index, which holds Marker.Pos.
	lo, hi [2]float64
}

// A Kind says what a Change did to its marker.
type Kind uint8

// The kinds of Change.
const (
	Added   Kind = iota + 1 // the marker is new
	Updated                 // the marker existed and changed (position, layer, props or version)
	Removed                 // the marker was removed
	Expired                 // the marker's expiry passed, and it was removed
)

// A Place is where a marker is: its layer and its position.
type Place struct {
	Layer string
	Pos   geo.Point
}

// A Change is what one write did to one marker.
type Change struct {
	Kind Kind
	ID   string
	// Old is where the marker was before the change (every kind but
	// Added); New where it is after it (Added and Updated).
	Old, New Place
	// Op is the marker's new upsert op (Added and Updated), the Record's
	// Op; nil for a removal.
	Op []byte
}

// Had reports whether the marker existed before the change.
func (c *Change) Had() bool { return c.Kind != Added }

// Has reports whether the marker exists after the change.
func (c *Change) Has() bool { return c.Kind == Added || c.Kind == Updated }

// Moved reports whether the change is an update that changed the marker's
// position or layer (not only its props or version).
func (c *Change) Moved() bool { return c.Kind == Updated && c.Old != c.New }

// A Store holds markers and their indexes. The zero value is not usable:
// call New.
type Store struct {
	markers  map[string]*Record
	points   rtree.RTreeG[*Record] // marker positions, in slack boxes (see pointSlack)
	clusters *clusterIndex
	expiries expiries // markers with an expiry, soonest first
	enc      *wire.Encoder
	change   Change // the last write's change, returned by pointer
	merge    mergeScratch
}

// New returns an empty store that keeps cluster counts at every zoom from
// 0 to clusterZoom (in [0, geo.MaxZoom]).
func New(clusterZoom int) *Store {
	return &Store{
		markers:  make(map[string]*Record),
		clusters: newClusterIndex(clusterZoom),
		enc:      wire.NewEncoder(),
	}
}

// Len returns how many markers the store holds.
func (st *Store) Len() int { return len(st.markers) }

// ClusterZoom returns the finest zoom at which the store keeps clusters.
func (st *Store) ClusterZoom() int { return st.clusters.maxZoom }

// Get returns the record of marker id, nil when there is none.
func (st *Store) Get(id string) *Record { return st.markers[id] }

// Upsert creates or changes the marker m.ID, which must be valid
// (wire.Marker.Validate), and returns the change; m.Pos is quantised to the
// wire's resolution. The store keeps m.Props.
//
// Versions: when versioned, m.Version is the feed's version of this change,
// and an upsert of an existing marker whose version is not greater than
// the stored one is stale. When not, the marker takes the stored version
// + 1 (1 for a new marker), and an upsert of a marker at version
// math.MaxUint64, which has no next version, is stale. A stale upsert
// changes nothing, its expiry included: Upsert returns stale true and a
// nil change.
//
// expires is when the marker expires, Unix nanoseconds (0: never), now the
// present time: an upsert that is not stale but has already expired at now
// ends the marker, returned as an Expired change (nil when the marker did
// not exist). Every applied upsert sets the expiry anew.
//
// An error, only from encoding the marker's op, changes nothing.
func (st *Store) Upsert(m *wire.Marker, versioned bool, expires, now int64) (ch *Change, stale bool, err error) {
	rec, exists := st.markers[m.ID]
	version := m.Version
	if exists {
		old := rec.Marker.Version
		if versioned && version <= old || !versioned && old == math.MaxUint64 {
			return nil, true, nil
		}
		if !versioned {
			version = old + 1
		}
	} else if !versioned {
		version = 1
	}
	if expires != 0 && expires <= now {
		if !exists {
			return nil, false, nil
		}
		return st.remove(rec, Expired), false, nil
	}
	stored := *m
	stored.Pos = wire.Quantize(m.Pos)
	stored.Version = version
	encoded, err := st.enc.Upsert(&stored)
	if err != nil {
		return nil, false, err
	}
	op := bytes.Clone(encoded)
	ch = &st.change
	*ch = Change{ID: stored.ID, New: Place{stored.Layer, stored.Pos}, Op: op}
	if !exists {
		rec = &Record{Marker: stored, Op: op}
		st.markers[stored.ID] = rec
		st.indexPoint(rec, stored.Pos, false)
		rec.cell = st.clusters.in(stored.Layer, stored.Pos)
		ch.Kind = Added
	} else {
		ch.Kind = Updated
		ch.Old = Place{rec.Marker.Layer, rec.Marker.Pos}
		rec.Marker, rec.Op = stored, op
		if ch.Old.Pos != ch.New.Pos {
			st.indexPoint(rec, stored.Pos, true)
		}
		switch {
		case ch.Old.Layer != ch.New.Layer:
			c := st.clusters.in(ch.New.Layer, ch.New.Pos)
			st.clusters.out(ch.Old.Layer, rec.cell.cell, ch.Old.Pos)
			rec.cell = c
		case ch.Old.Pos != ch.New.Pos:
			rec.cell = st.clusters.move(ch.New.Layer, rec.cell, ch.Old.Pos, ch.New.Pos)
		}
	}
	st.setExpiry(rec, expires)
	return ch, false, nil
}

// Remove removes the marker id and returns the change; nil when there was
// no such marker.
func (st *Store) Remove(id string) *Change {
	rec, ok := st.markers[id]
	if !ok {
		return nil
	}
	return st.remove(rec, Removed)
}

func (st *Store) remove(rec *Record, kind Kind) *Change {
	m := &rec.Marker
	delete(st.markers, m.ID)
	st.points.Delete(rec.lo, rec.hi, rec)
	st.clusters.out(m.Layer, rec.cell.cell, m.Pos)
	rec.cell = finest{}
	ch := &st.change
	*ch = Change{Kind: kind, ID: m.ID, Old: Place{m.Layer, m.Pos}}
	return ch
}

// Each calls fn for every marker, in no particular order, until fn returns
// false. fn must not write to the store.
func (st *Store) Each(fn func(*Record) bool) {
	for _, rec := range st.markers {
		if !fn(rec) {
			return
		}
	}
}

// expiry is a marker's place in the expiry heap.
type expiry struct {
	rec *Record
	at  int64 // Unix nanoseconds
}

// expiries is a min-heap of expiries by time. Entries whose marker has
// since been removed, or whose expiry changed, are skipped when they come
// up.
type expiries []expiry

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// setExpiry sets when rec expires (0: never).
func (st *Store) setExpiry(rec *Record, at int64) {
	rec.Expires = at
	if at != 0 {
		heap.Push(&st.expiries, expiry{rec: rec, at: at})
	}
}

// NextExpiry returns the earliest time, Unix nanoseconds, at which a
// marker may expire; 0 when none will. It may be the time of an expiry
// since changed: ExpireDue then returns nothing, and NextExpiry the next.
func (st *Store) NextExpiry() int64 {
	if len(st.expiries) == 0 {
		return 0
	}
	return st.expiries[0].at
}

// ExpireDue removes one marker whose expiry is at or before now and
// returns its Expired change; nil when none is due. Call it until it
// returns nil.
func (st *Store) ExpireDue(now int64) *Change {
	for len(st.expiries) > 0 && st.expiries[0].at <= now {
		e := heap.Pop(&st.expiries).(expiry)
		if cur, ok := st.markers[e.rec.Marker.ID]; ok && cur == e.rec && cur.Expires == e.at {
			return st.remove(cur, Expired)
		}
	}
	return nil
}
