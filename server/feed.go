package server

import (
	"fmt"
	"time"

	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
)

// The write path. Every write, from every feed (Go, HTTP, Redis), is an
// Apply: its updates are checked, then, under the server lock, applied to
// the store one by one; each change the store returns goes to changedLocked,
// which hands it to the cluster-mode views, the density layer and the
// fan-out to the marker-mode views, whose outboxes' writers start once the
// whole batch is in:
//
//	feed → Apply → store → change → fan-out → outbox → writer → socket

// An Update is one change from a feed: an upsert of Marker, or, with Remove
// set, the removal of the marker Marker.ID.
type Update struct {
	Marker wire.Marker
	// TTL, when positive, removes the marker TTL after this upsert unless
	// another applied upsert comes first; every applied upsert sets the
	// expiry anew, and one without TTL makes the marker permanent. A stale
	// upsert, ignored, leaves the expiry as it was. (Restore takes
	// absolute expiries.)
	TTL    time.Duration
	Remove bool
	// HasVersion says that Marker.Version is the feed's version of this
	// change even when it is 0. An update has a version when HasVersion is
	// set or Marker.Version is not 0; one without (the zero Update) takes
	// the stored version + 1.
	//
	// Versions: an upsert with a version not greater than the stored one
	// is ignored as stale (counted in Stats.Stale), so feeds may retry
	// safely; a new marker takes any version, 0 included. An upsert
	// without a version takes the stored version + 1 (1 for a new marker),
	// except that a marker at version math.MaxUint64 has no next version:
	// such an upsert is stale too, as every other upsert of it is (remove
	// the marker to start over).
	HasVersion bool
}

// Apply applies updates in order under one lock, and pushes each change to
// the clients that see it: the one way to write markers (Upsert and Remove
// are Apply of one update). If any update is invalid it returns an error
// naming it and the first invalid field, and applies nothing. Stale
// upserts (see Update.HasVersion) are skipped, their expiry with them: a
// late retry cannot shorten or end the life of the newer marker. An
// upserted marker's position is quantised to the wire's resolution.
//
// Apply returns once the store has the batch; a large batch's fan-out to
// the clients may end after it returns, but whatever comes next — another
// Apply, a view change, a read, Stats — waits for it, as it waits for the
// server lock.
//
// The server keeps each marker's Props map: do not modify it after the
// call. It does not keep updates.
func (s *Server) Apply(updates []Update) error { return s.apply(nil, updates, nil, nil) }

// Upsert creates or changes the marker m.ID: Apply of one update without
// expiry, which reads a zero m.Version as no version (to send a version 0,
// use Apply with Update.HasVersion).
func (s *Server) Upsert(m wire.Marker) error {
	return s.Apply([]Update{{Marker: m}})
}

// Upserts returns the updates that upsert ms, in order, without expiry,
// each reading a zero Version as no version: Apply(Upserts(ms...)) is the
// batch form of Upsert.
func Upserts(ms ...wire.Marker) []Update {
	us := make([]Update, len(ms))
	for i := range ms {
		us[i].Marker = ms[i]
	}
	return us
}

// Remove deletes the marker id and tells the clients that saw it: Apply of
// one removal. Removing a marker that does not exist is not an error.
func (s *Server) Remove(id string) error {
	return s.Apply([]Update{{Marker: wire.Marker{ID: id}, Remove: true}})
}

// apply is Apply for a feed that may write only the layers of scope (nil:
// every layer), checked under the same lock as the batch is applied. With
// expiries, expiries[i] is when the marker of updates[i] expires, Unix
// nanoseconds (0: never), in place of its TTL (see Restore). then, when
// set, is called once the batch is applied, under the same lock (see
// ApplyLayersThen).
func (s *Server) apply(scope *layerScope, updates []Update, expiries []int64, then func(stored func(id string) (StoredMarker, bool))) error {
	if err := ValidateUpdates(updates); err != nil {
		return err
	}
	s.mu.Lock()
	if err := s.checkScopeLocked(scope, updates); err != nil {
		s.mu.Unlock()
		return err
	}
	s.beginBatchLocked(len(updates))
	err := s.applyLocked(updates, expiries)
	if err == nil && then != nil {
		then(s.storedLocked)
	}
	// A large batch's fan-out may still run on helpers when this returns;
	// they unlock Server.mu once it is done.
	s.endBatchUnlock()
	return err
}

// applyLocked applies updates to the store, in order, each change handed to
// its consumers; see apply.
func (s *Server) applyLocked(updates []Update, expiries []int64) error {
	var now time.Time // read once, when an update has an expiry
	expiring := false
	defer func() {
		if expiring {
			s.armExpiryLocked()
		}
	}()
	for i := range updates {
		u := &updates[i]
		if u.Remove {
			if ch := s.store.Remove(u.Marker.ID); ch != nil {
				s.changedLocked(ch)
			}
			continue
		}
		var expires int64
		switch {
		case expiries != nil:
			expires = expiries[i]
		case u.TTL > 0:
			if now.IsZero() {
				now = time.Now()
			}
			expires = now.Add(u.TTL).UnixNano()
		}
		if expires != 0 && now.IsZero() {
			now = time.Now()
		}
		ch, stale, err := s.store.Upsert(&u.Marker, u.HasVersion || u.Marker.Version != 0, expires, now.UnixNano())
		switch {
		case err != nil:
			return fmt.Errorf("update %d of %d: %w", i, len(updates), err)
		case stale:
			s.counters.stale.Add(1)
		case ch != nil:
			s.changedLocked(ch)
			expiring = expiring || expires != 0
		}
	}
	return nil
}

// ValidateUpdates reports why the first update of updates that cannot be
// applied cannot be ("update i of n: ..." wrapping a wire.Error), or nil:
// the checks Apply makes before it takes the lock, for a feed that logs a
// batch elsewhere before applying it (the cluster's Redis stream).
func ValidateUpdates(updates []Update) error {
	for i := range updates {
		if err := updates[i].validate(); err != nil {
			return fmt.Errorf("update %d of %d: %w", i, len(updates), err)
		}
	}
	return nil
}

// validate reports why u cannot be applied.
func (u *Update) validate() error {
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
	return err
}

// changedLocked hands one change of the store to its consumers, in order:
// the cluster-mode views that show the clusters it changed (or the
// isolated marker whose props it changed), the density layer when it is
// on, then the fan-out to the marker-mode views. A change of props or
// version alone changes no cluster and no density.
func (s *Server) changedLocked(ch *store.Change) {
	if ch.Kind == store.Expired {
		s.counters.expired.Add(1)
	}
	s.changedClustersLocked(ch)
	if s.density != nil && (ch.Kind != store.Updated || ch.Moved()) {
		s.density.changed(ch)
	}
	s.fan.add(fanJobOf(ch))
}

// armExpiryLocked makes the timer fire at the store's earliest expiry.
func (s *Server) armExpiryLocked() {
	next := s.store.NextExpiry()
	if next == 0 || s.stopped {
		return
	}
	wait := time.Until(time.Unix(0, next))
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
	for ch := s.store.ExpireDue(now); ch != nil; ch = s.store.ExpireDue(now) {
		s.changedLocked(ch)
	}
	s.armExpiryLocked()
}
