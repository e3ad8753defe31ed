package server

import (
	"net/netip"
	"sync"

	"github.com/pushmap/pushmap/internal/outbox"
)

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
