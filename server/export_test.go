package server

// OutboxBytes returns the bytes waiting in the outboxes of all connections,
// for tests that check a slow client's memory stays bounded.
func (s *Server) OutboxBytes() (total int) {
	for _, c := range s.connList() {
		c.out.mu.Lock()
		total += c.out.bytes
		c.out.mu.Unlock()
	}
	return total
}
