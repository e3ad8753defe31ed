package server

// OutboxBytes returns the bytes waiting in the outboxes of all connections,
// for tests that check a slow client's memory stays bounded.
func (s *Server) OutboxBytes() (total int) {
	for _, c := range s.connList() {
		total += c.out.Bytes()
	}
	return total
}

// FixFanShare makes the goroutine applying a large batch take share of its
// fan-out from now on (instead of a share learnt from the last batches), so
// that tests run both halves of a split whatever the machine's timing.
func (s *Server) FixFanShare(share float64) {
	s.mu.Lock()
	s.fan.share, s.fan.fixed = share, true
	s.mu.Unlock()
}

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
