package server

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/pushmap/pushmap/wire"
)

// A Record is a stored marker as durable storage keeps it: the marker with
// its version, and when it expires.
type Record struct {
	Marker wire.Marker
	// Expires is when the marker expires; the zero Time means never.
	Expires time.Time
}

// Record returns the stored marker id with its expiry, or false when there
// is none. The Props map is the server's: do not modify it.
func (s *Server) Record(id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.markers[id]
	if !ok {
		return Record{}, false
	}
	return rec.record(), true
}

// Dump calls fn with every stored marker, in no particular order, until fn
// returns false. fn runs under the server's lock: it must be quick (copy
// the record and return) and must not call the server. The Props maps are
// the server's: do not modify them.
func (s *Server) Dump(fn func(Record) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range s.markers {
		if !fn(rec.record()) {
			return
		}
	}
}

func (rec *marker) record() Record {
	r := Record{Marker: rec.m}
	if rec.expires != 0 {
		r.Expires = time.Unix(0, rec.expires)
	}
	return r
}

// Restore stores recs, in order, as versioned upserts with an absolute
// expiry: each marker keeps its version and expires at its Expires (never
// when zero), and clients that see it are told as for any upsert. A record
// whose Expires has passed is skipped, as is one whose version is not
// greater than the stored marker's (on an empty server, none is). If a
// record is invalid it returns an error naming it and restores nothing.
// The server keeps the Props maps.
func (s *Server) Restore(recs []Record) error {
	for i := range recs {
		if err := recs[i].Marker.Validate(); err != nil {
			return fmt.Errorf("record %d of %d: %w", i, len(recs), err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beginBatchLocked(len(recs))
	defer s.endBatchLocked()
	now := time.Now().UnixNano()
	for i := range recs {
		r := &recs[i]
		at := int64(0)
		if !r.Expires.IsZero() {
			if at = r.Expires.UnixNano(); at <= now {
				continue
			}
		}
		rec, err := s.upsertLocked(r.Marker, true)
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i, len(recs), err)
		}
		if rec == nil {
			continue
		}
		rec.expires = at
		if at != 0 {
			heap.Push(&s.expiries, expiry{rec: rec, at: at})
		}
	}
	s.armExpiryLocked()
	return nil
}
