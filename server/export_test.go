package server

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/server/internal/store"
)

// ClusterSetsMatchStore returns "" when every cluster set holds the
// clusters a merge afresh of its region gives (no share, no cache), else
// what differs: a flush's shared gathering must not serve stale cells.
// Sets with changes still to merge are skipped.
func (s *Server) ClusterSetsMatchStore() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clusterDirty) > 0 {
		return fmt.Sprintf("%d changes not merged yet", len(s.clusterDirty))
	}
	for _, set := range s.clusterSets {
		if !set.fresh {
			return fmt.Sprintf("set %+v not merged yet", set.key)
		}
		k := &set.key
		want := s.store.MergedClustersOfTiles(k.m, min(k.m+1, geo.MaxZoom), k.x0, k.x1, k.y0, k.y1, set.layers, set.grant, k.group, nil)
		if !slices.EqualFunc(set.clusters, want, func(a, b store.MergedCluster) bool {
			return a.ID == b.ID && a.Count == b.Count && a.At == b.At && a.ExpansionZoom == b.ExpansionZoom
		}) {
			return fmt.Sprintf("set %+v: %d clusters, afresh %d", set.key, len(set.clusters), len(want))
		}
	}
	return ""
}

// OutboxBytes returns the bytes waiting in the outboxes of all connections,
// for tests that check a slow client's memory stays bounded.
func (s *Server) OutboxBytes() (total int) {
	for _, c := range s.connList() {
		total += c.out.Bytes()
	}
	return total
}

// HoldFanOut makes the helpers of the large batches applied from now on
// wait before their first job until release is called: the batch's
// fan-out, and the hold of the server lock that ends with it, last until
// then, whatever the machine's timing.
func (s *Server) HoldFanOut() (release func()) {
	hold := make(chan struct{})
	s.mu.Lock()
	s.fan.hold = hold
	s.fan.pushOnly = true // a pulled batch has no helpers to hold
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(hold) }) }
}

// OnPageHold makes MarkersPage call fn with the markers it looked at in each
// hold of the server lock.
func (s *Server) OnPageHold(fn func(visited int)) { s.pageHold = fn }

// OnInterestCopied makes InterestIn call fn once it copied the views' boxes.
func (s *Server) OnInterestCopied(fn func()) { s.interestCopied = fn }

// Unlocked reports whether the server lock is free at the moment.
func (s *Server) Unlocked() bool {
	if s.mu.TryLock() {
		s.mu.Unlock()
		return true
	}
	return false
}

// ClientIP returns the address a connection from remote is counted under.
func ClientIP(remote string) netip.Addr { return clientIP(remote) }

// Behind reports whether some connection's outbox fell behind and waits for
// its reset.
func (s *Server) Behind() bool {
	for _, c := range s.connList() {
		if c.out.Behind() {
			return true
		}
	}
	return false
}

// FlushClusters merges again at once the cluster sets changes touched and
// sends their views the differences, as the ClusterInterval timer does.
func (s *Server) FlushClusters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushClustersLocked()
}

// HoldBacklog queues an op of sizes[i] bytes in the outbox of the i-th
// connection without starting its writer, as a writer blocked on a slow
// client leaves them; those connections write nothing afterwards.
func (s *Server) HoldBacklog(sizes ...int) {
	for i, c := range s.connList() {
		if i < len(sizes) {
			c.out.Put(outbox.KeyOf("backlog"), make([]byte, sizes[i]))
		}
	}
}

// OnFanOutEnd makes every feed's batch call fn once its fan-out is done,
// every op in its outbox, before the server lock is unlocked and the
// writers start.
func (s *Server) OnFanOutEnd(fn func()) {
	s.mu.Lock()
	s.fan.ended = fn
	s.mu.Unlock()
}

// PushOnly makes the large batches applied from now on be fanned out by
// the server (push: fangrid.go) rather than pulled by the writers
// (fanpull.go), or lets them be pulled again.
func (s *Server) PushOnly(push bool) {
	s.mu.Lock()
	s.fan.pushOnly = push
	s.mu.Unlock()
}

// PulledBatches returns how many batches were given to the writers to pull.
func (s *Server) PulledBatches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fan.pulled
}
