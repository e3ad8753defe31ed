package server

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/pushmap/pushmap/wire"
)

// An Update is one change from a feed: an upsert of Marker, or, with Remove
// set, the removal of the marker Marker.ID.
type Update struct {
	Marker wire.Marker
	// TTL, when positive, removes the marker TTL after this upsert unless
	// another applied upsert comes first; every applied upsert sets the
	// expiry anew, and one without TTL makes the marker permanent. A stale
	// upsert, ignored, leaves the expiry as it was.
	TTL    time.Duration
	Remove bool
	// HasVersion says that Marker.Version is the feed's version of this
	// change even when it is 0. An update has a version when HasVersion is
	// set or Marker.Version is not 0; one without (the zero Update) takes
	// the stored version + 1. See Upsert for the version rules. (Next to
	// Remove, it takes no room of its own.)
	HasVersion bool
}

// Apply applies updates in order under one lock: the batch form of Upsert
// and Remove, with expiry. If any update is invalid it returns an error
// naming it and applies nothing. Stale upserts (see Upsert) are skipped,
// their TTL with them: a late retry cannot shorten or end the life of the
// newer marker.
func (s *Server) Apply(updates []Update) error { return s.applyIn(nil, updates) }

// applyIn is Apply for a feed that may write only the layers of scope (nil:
// every layer), checked under the same lock as the batch is applied.
func (s *Server) applyIn(scope *layerScope, updates []Update) error {
	for i := range updates {
		u := &updates[i]
		var err error
		switch {
		case u.Remove && u.Marker.ID == "":
			err = wire.Error{Code: wire.CodeInvalidMarker, Message: "marker id is empty"}
		case !u.Remove:
			err = u.Marker.Validate()
		}
		if err == nil && u.TTL < 0 {
			err = wire.Error{Code: wire.CodeInvalidMarker, Message: fmt.Sprintf("marker %q: negative TTL %v", u.Marker.ID, u.TTL)}
		}
		if err != nil {
			return fmt.Errorf("update %d of %d: %w", i, len(updates), err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkScopeLocked(scope, updates); err != nil {
		return err
	}
	s.beginBatchLocked(len(updates))
	defer s.endBatchLocked()
	now := time.Now()
	for i := range updates {
		u := &updates[i]
		if u.Remove {
			s.removeLocked(u.Marker.ID)
			continue
		}
		rec, err := s.upsertLocked(u.Marker, u.HasVersion || u.Marker.Version != 0)
		if err != nil {
			return fmt.Errorf("update %d of %d: %w", i, len(updates), err)
		}
		if rec != nil {
			s.setExpiryLocked(rec, u.TTL, now)
		}
	}
	return nil
}

// expiry is a marker's place in the expiry heap.
type expiry struct {
	rec *marker
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

// setExpiryLocked sets when marker rec expires, ttl after now (never when
// ttl is 0), and arms the expiry timer.
func (s *Server) setExpiryLocked(rec *marker, ttl time.Duration, now time.Time) {
	if ttl <= 0 {
		rec.expires = 0
		return
	}
	rec.expires = now.Add(ttl).UnixNano()
	heap.Push(&s.expiries, expiry{rec: rec, at: rec.expires})
	s.armExpiryLocked()
}

// armExpiryLocked makes the timer fire at the earliest expiry.
func (s *Server) armExpiryLocked() {
	if len(s.expiries) == 0 || s.stopped {
		return
	}
	wait := time.Until(time.Unix(0, s.expiries[0].at))
	if s.expiryTimer == nil {
		s.expiryTimer = time.AfterFunc(wait, s.expire)
		return
	}
	s.expiryTimer.Reset(wait)
}

// expire removes the markers whose time has come; only the clients that
// could see them are told.
func (s *Server) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(0)
	defer s.endBatchLocked()
	now := time.Now().UnixNano()
	for len(s.expiries) > 0 && s.expiries[0].at <= now {
		e := heap.Pop(&s.expiries).(expiry)
		if cur, ok := s.markers[e.rec.m.ID]; ok && cur == e.rec && cur.expires == e.at {
			s.counters.expired.Add(1)
			s.removeLocked(e.rec.m.ID)
		}
	}
	s.armExpiryLocked()
}
