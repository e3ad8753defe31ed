package server

// OutboxBytes returns the bytes waiting in the outboxes of all connections,
// for tests that check a slow client's memory stays bounded.
func (s *Server) OutboxBytes() (total int) {
	for _, c := range s.connList() {
		total += c.out.Bytes()
	}
	return total
}
