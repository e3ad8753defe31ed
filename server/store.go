package server

import (
	"bytes"
	"fmt"
	"math"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// A marker is a stored marker and its encoded upsert op. op is immutable:
// outboxes hold it while it waits to be written; a change makes a new one.
type marker struct {
	m       wire.Marker
	op      []byte
	expires int64 // Unix nanoseconds when it expires, 0 for never
	cell    *cell // its cluster cell at the finest zoom
	// lo and hi are its box in the point index, which holds m.Pos.
	lo, hi [2]float64
}

func pointRect(p geo.Point) [2]float64 { return [2]float64{p.Lon, p.Lat} }

// pointSlack is how far, in degrees, a marker may move from where the
// point index last put it before the index must be told. The index holds
// each marker as a box of this half-size around that place, so that a
// marker taking small steps changes the index once every several steps
// instead of at every step (a delete and an insert in the tree); a search
// finds every marker whose box meets the area and keeps those whose
// position is inside it (markersIn).
const pointSlack = 0.001

// slackBox returns the box the point index holds a marker at p as.
func slackBox(p geo.Point) (lo, hi [2]float64) {
	return [2]float64{max(p.Lon-pointSlack, -180), max(p.Lat-pointSlack, -90)},
		[2]float64{min(p.Lon+pointSlack, 180), min(p.Lat+pointSlack, 90)}
}

// indexPointLocked puts rec, now at p, into the point index, or moves it
// there when p left its box.
func (s *Server) indexPointLocked(rec *marker, p geo.Point, indexed bool) {
	if indexed && rec.lo[0] <= p.Lon && p.Lon <= rec.hi[0] && rec.lo[1] <= p.Lat && p.Lat <= rec.hi[1] {
		return
	}
	lo, hi := slackBox(p)
	if indexed {
		s.points.Replace(rec.lo, rec.hi, rec, lo, hi, rec)
	} else {
		s.points.Insert(lo, hi, rec)
	}
	rec.lo, rec.hi = lo, hi
}

// markersIn calls fn for each marker inside box (which does not cross the
// antimeridian) until fn returns false.
func (s *Server) markersIn(box geo.Box, fn func(rec *marker) bool) {
	s.points.Search(minRect(box), maxRect(box), func(_, _ [2]float64, rec *marker) bool {
		if !box.Contains(rec.m.Pos) {
			return true
		}
		return fn(rec)
	})
}

// Upsert creates or changes the marker m.ID and pushes the change to the
// clients that see it. m.Pos is quantised to the wire's resolution.
//
// Versions: an upsert with a version not greater than the stored one is
// ignored as stale (counted in Stats.Stale), so feeds may retry safely; a
// new marker takes any version, 0 included. An upsert without a version
// takes the stored version + 1 (1 for a new marker), except that a marker
// at version math.MaxUint64 has no next version: such an upsert is stale
// too, as every other upsert of it is (remove the marker to start over).
// Upsert and UpsertBatch read a zero m.Version as no version; to send a
// version 0, use Apply with Update.HasVersion.
//
// It returns an error naming the first invalid field; then nothing
// changes. The server keeps m.Props: do not modify the map after the call.
func (s *Server) Upsert(m wire.Marker) error {
	return s.UpsertBatch([]wire.Marker{m})
}

// UpsertBatch upserts every marker of ms under one lock, in order. If any
// marker is invalid it returns an error naming it and changes nothing.
// The server keeps each marker's Props map, as Upsert does, but not ms.
// Upserted markers never expire; see Apply for expiry.
func (s *Server) UpsertBatch(ms []wire.Marker) error {
	for i := range ms {
		if err := ms[i].Validate(); err != nil {
			return fmt.Errorf("marker %d of %d: %w", i, len(ms), err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(len(ms))
	defer s.endBatchLocked()
	for i := range ms {
		rec, err := s.upsertLocked(ms[i], ms[i].Version != 0)
		if err != nil {
			return fmt.Errorf("marker %d of %d: %w", i, len(ms), err)
		}
		if rec != nil {
			rec.expires = 0
		}
	}
	return nil
}

// Remove deletes the marker id and tells the clients that saw it. Removing
// a marker that does not exist is not an error.
func (s *Server) Remove(id string) error {
	return s.RemoveBatch([]string{id})
}

// RemoveBatch removes every marker of ids under one lock. An empty id is an
// error, and then nothing changes.
func (s *Server) RemoveBatch(ids []string) error {
	for i, id := range ids {
		if id == "" {
			return fmt.Errorf("remove %d of %d: %w", i, len(ids), wire.Error{Code: wire.CodeInvalidMarker, Message: "marker id is empty"})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(len(ids))
	defer s.endBatchLocked()
	for _, id := range ids {
		s.removeLocked(id)
	}
	return nil
}

// Marker returns the stored marker id.
func (s *Server) Marker(id string) (wire.Marker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.markers[id]
	if !ok {
		return wire.Marker{}, false
	}
	return rec.m, true
}

// MarkersIn returns the markers inside box whose layer is in layers (every
// layer when layers is empty), in no particular order.
func (s *Server) MarkersIn(box geo.Box, layers []string) []wire.Marker {
	set := newLayerSet(layers)
	var out []wire.Marker
	s.mu.Lock()
	defer s.mu.Unlock()
	parts, n := box.Split()
	for _, part := range parts[:n] {
		s.markersIn(part, func(rec *marker) bool {
			if set.has(rec.m.Layer) {
				out = append(out, rec.m)
			}
			return true
		})
	}
	return out
}

// upsertLocked upserts m, whose Version is the feed's when versioned, and
// returns its record; nil when m is stale, and was ignored.
func (s *Server) upsertLocked(m wire.Marker, versioned bool) (*marker, error) {
	m.Pos = wire.Quantize(m.Pos)
	rec, exists := s.markers[m.ID]
	var old wire.Marker
	if exists {
		old = rec.m
		stale := versioned && m.Version <= old.Version || !versioned && old.Version == math.MaxUint64
		if stale {
			s.counters.stale.Add(1)
			return nil, nil
		}
		if !versioned {
			m.Version = old.Version + 1
		}
	} else if !versioned {
		m.Version = 1
	}
	encoded, err := s.enc.Upsert(&m)
	if err != nil {
		return nil, err
	}
	op := bytes.Clone(encoded)
	if exists {
		rec.m, rec.op = m, op
		if old.Pos != m.Pos {
			s.indexPointLocked(rec, m.Pos, true)
		}
	} else {
		rec = &marker{m: m, op: op}
		s.markers[m.ID] = rec
		s.indexPointLocked(rec, m.Pos, false)
	}
	if !exists || old.Pos != m.Pos || old.Layer != m.Layer {
		s.markerMovedLocked(rec, old.Layer, old.Pos, exists, m.Layer, m.Pos, true)
	}

	s.fan.add(fanJob{
		key: outbox.KeyOf(m.ID), op: op, layer: m.Layer, at: m.Pos,
		moved: exists && (old.Pos != m.Pos || old.Layer != m.Layer), fromLayer: old.Layer, from: old.Pos,
	})
	return rec, nil
}

func (s *Server) removeLocked(id string) {
	rec, ok := s.markers[id]
	if !ok {
		return
	}
	delete(s.markers, id)
	s.points.Delete(rec.lo, rec.hi, rec)
	s.markerMovedLocked(rec, rec.m.Layer, rec.m.Pos, true, "", geo.Point{}, false)
	s.fan.add(fanJob{key: outbox.KeyOf(id), layer: rec.m.Layer, at: rec.m.Pos})
}

// deliver puts op in c's outbox. A connection whose view is split by the
// antimeridian, or who has several views, may be found more than once for
// one point: the same op put twice under one id is written once (the
// writer coalesces by id).
func (s *Server) deliver(c *conn, key outbox.Key, op []byte) {
	s.counters.delivered.Add(1)
	if c.out.Put(key, op) {
		if s.batching {
			s.wake = append(s.wake, c)
		} else {
			c.startWriter()
		}
	}
}

// beginBatchLocked holds back the writers that deliveries start until
// endBatchLocked, so that a batch of n updates leaves in as few frames as
// possible, and prepares its fan-out.
func (s *Server) beginBatchLocked(n int) {
	s.batching = true
	s.fan.beginLocked(s, n)
}

func (s *Server) endBatchLocked() {
	var delivered int64
	s.wake, delivered = s.fan.endLocked(s.wake)
	s.counters.delivered.Add(delivered)
	for _, c := range s.wake {
		c.startWriter()
	}
	clear(s.wake)
	s.wake = s.wake[:0]
	s.batching = false
}

// A layerSet is the set of layers a client sees; nil means every layer.
type layerSet map[string]struct{}

func newLayerSet(layers []string) layerSet {
	if len(layers) == 0 {
		return nil
	}
	set := make(layerSet, len(layers))
	for _, l := range layers {
		set[l] = struct{}{}
	}
	return set
}

func (ls layerSet) has(layer string) bool {
	if ls == nil {
		return true
	}
	_, ok := ls[layer]
	return ok
}

func minRect(b geo.Box) [2]float64 { return [2]float64{b.West, b.South} }
func maxRect(b geo.Box) [2]float64 { return [2]float64{b.East, b.North} }
