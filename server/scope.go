package server

import (
	"fmt"
	"strings"
)

// A layerScope is the set of layers a feed may write.
type layerScope struct{ layers map[string]struct{} }

func (ls *layerScope) has(layer string) bool {
	_, ok := ls.layers[layer]
	return ok
}

// ApplyLayers is Apply for a feed that may write only the markers of
// layers (nil: every layer, as Apply; empty: none). An update writes to
// the layer of the marker it sends and, for a marker that exists, to the
// layer of the stored marker: an upsert may not move a marker out of a
// layer the feed may not write, and a removal is checked against the
// stored marker's layer (removing a marker that does not exist is
// allowed). If any update writes elsewhere, ApplyLayers applies nothing
// and returns a *LayerError naming them. The check and the batch happen
// under one lock, so no other feed can move a marker between them.
func (s *Server) ApplyLayers(layers []string, updates []Update) error {
	if layers == nil {
		return s.Apply(updates)
	}
	scope := &layerScope{layers: make(map[string]struct{}, len(layers))}
	for _, l := range layers {
		scope.layers[l] = struct{}{}
	}
	return s.apply(scope, updates, nil, nil)
}

// ApplyLayersThen is ApplyLayers, which, when the batch was applied, calls
// then with stored, which returns a marker's state as Stored does, under
// the same hold of the server lock: no other write comes between the
// batch and what then reads, and then does not wait for the batch's
// fan-out, which for a large batch may end after ApplyLayersThen returns.
// Call stored only during then. A write-ahead log reads back the states it
// logs this way (server/wal).
func (s *Server) ApplyLayersThen(layers []string, updates []Update, then func(stored func(id string) (StoredMarker, bool))) error {
	var scope *layerScope
	if layers != nil {
		scope = &layerScope{layers: make(map[string]struct{}, len(layers))}
		for _, l := range layers {
			scope.layers[l] = struct{}{}
		}
	}
	return s.apply(scope, updates, nil, then)
}

// MaxLayerErrors is the most denied updates a LayerError lists.
const MaxLayerErrors = 100

// A LayerError is ApplyLayers' refusal of a batch that writes outside the
// feed's layers. Nothing of the batch was applied.
type LayerError struct {
	Count  int            // the updates denied
	Denied []DeniedUpdate // the first MaxLayerErrors of them
}

// A DeniedUpdate is one update of a batch that writes outside the feed's
// layers.
type DeniedUpdate struct {
	Index  int    // its position in the batch, from 0
	ID     string // its marker id
	Reason string // which layer it would write; the stored marker's layer is not named
}

func (e *LayerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server: %d updates write outside the feed's layers; nothing was applied", e.Count)
	if len(e.Denied) > 0 {
		d := e.Denied[0]
		fmt.Fprintf(&b, " (update %d, marker %q: %s)", d.Index, d.ID, d.Reason)
	}
	return b.String()
}

// checkScopeLocked returns a *LayerError when an update of a feed limited
// to scope writes outside it. Checking against the stored markers is
// enough for a whole batch: the updates before one in the batch can only
// have put its marker in a layer of the scope, or removed it.
func (s *Server) checkScopeLocked(scope *layerScope, updates []Update) error {
	if scope == nil {
		return nil
	}
	var le *LayerError
	for i := range updates {
		u := &updates[i]
		var reason string
		if !u.Remove && !scope.has(u.Marker.Layer) {
			reason = fmt.Sprintf("layer %q is not one this feed may write", u.Marker.Layer)
		} else if rec := s.store.Get(u.Marker.ID); rec != nil && !scope.has(rec.Marker.Layer) {
			reason = "the marker is in a layer this feed may not write"
		}
		if reason == "" {
			continue
		}
		if le == nil {
			le = &LayerError{}
		}
		if le.Count++; len(le.Denied) < MaxLayerErrors {
			le.Denied = append(le.Denied, DeniedUpdate{Index: i, ID: u.Marker.ID, Reason: reason})
		}
	}
	if le != nil {
		return le
	}
	return nil
}
