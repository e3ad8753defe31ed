package server

import (
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
)

// Reads of the marker store. The server lock guards the store: each read
// takes it, so it sees the state between two writes.

// A layerSet is the set of layers a client sees; nil means every layer.
type layerSet = store.LayerSet

func newLayerSet(layers []string) layerSet { return store.NewLayerSet(layers) }

// Marker returns the stored marker id.
func (s *Server) Marker(id string) (wire.Marker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.store.Get(id)
	if rec == nil {
		return wire.Marker{}, false
	}
	return rec.Marker, true
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
		s.store.Search(part, func(rec *store.Record) bool {
			if set.Has(rec.Marker.Layer) {
				out = append(out, rec.Marker)
			}
			return true
		})
	}
	return out
}

// MarkersPerLayer returns how many markers each layer holds, for every
// layer that has held one since the server started (a layer emptied since
// counts 0). It reads counts the store keeps up to date, so it costs one
// lookup per layer, not a scan of the markers.
func (s *Server) MarkersPerLayer() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.LayerCounts()
}

// A StoredMarker is a marker as the server holds it: its fields, version
// included, and when it expires.
type StoredMarker struct {
	Marker  wire.Marker
	Expires time.Time // zero: never
}

// Stored returns the stored marker id with its version and expiry, or
// false when there is none. The Props map is the server's: do not modify
// it.
func (s *Server) Stored(id string) (StoredMarker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storedLocked(id)
}

func (s *Server) storedLocked(id string) (StoredMarker, bool) {
	rec := s.store.Get(id)
	if rec == nil {
		return StoredMarker{}, false
	}
	return storedOf(rec), true
}

func storedOf(rec *store.Record) StoredMarker {
	sm := StoredMarker{Marker: rec.Marker}
	if rec.Expires != 0 {
		sm.Expires = time.Unix(0, rec.Expires)
	}
	return sm
}

// Snapshot returns every marker the server holds, with its version, props
// and expiry, in no particular order: the state between two writes, copied
// under one hold of the server lock (feeds wait for a copy of every
// marker). It is what a durable log or a replica saves, and Restore puts
// back. The Props maps are the server's: do not modify them.
func (s *Server) Snapshot() []StoredMarker {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StoredMarker, 0, s.store.Len())
	s.store.Each(func(rec *store.Record) bool {
		out = append(out, storedOf(rec))
		return true
	})
	return out
}

// Restore applies stored markers, as Snapshot lists them, in order under
// one lock: each is an upsert of sm.Marker at its version (HasVersion: it
// is stale, and skipped, against a newer stored version) that expires at
// sm.Expires, an absolute time that kept counting while the marker was
// stored. One whose expiry has passed ends the marker it would update
// (counted in Stats.Expired), and is not restored. Clients see restored
// markers as any upsert. Errors are those of Apply; then nothing changes.
func (s *Server) Restore(ms []StoredMarker) error {
	updates := make([]Update, len(ms))
	expiries := make([]int64, len(ms))
	for i := range ms {
		updates[i] = Update{Marker: ms[i].Marker, HasVersion: true}
		if !ms[i].Expires.IsZero() {
			expiries[i] = ms[i].Expires.UnixNano()
		}
	}
	return s.apply(nil, updates, expiries, nil)
}
