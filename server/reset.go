package server

import "github.com/pushmap/pushmap/wire"

// ResetClients sends every client with a view a reset with the behind
// flag: its whole state (views, markers, clusters) as the server holds it
// now, in place of the changes still waiting for it, as when it falls
// behind (docs/protocol.md, "Falling behind"). A store whose markers were
// replaced wholesale (a cluster node that reloaded its snapshot after Redis
// lost entries) calls it so that its clients are told explicitly, not
// merely sent the difference. It returns how many clients were reset.
func (s *Server) ResetClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if len(c.views) == 0 {
			continue
		}
		n++
		c.dropPulls() // the reset's state holds them
		if c.out.Replace(s.resetFramesLocked(c, wire.FlagBehind)...) {
			c.startWriter()
		}
	}
	return n
}
