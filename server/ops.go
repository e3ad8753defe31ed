package server

// MarkersPerLayer returns how many markers each layer holds, for every
// layer that has held one since the server started (a layer emptied since
// counts 0). It reads counts the cluster index keeps up to date, so it
// costs one lookup per layer, not a scan of the store.
func (s *Server) MarkersPerLayer() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.clusters.layers))
	for layer, levels := range s.clusters.layers {
		n := 0
		if c := levels[0][cellKey(0, 0, 0)]; c != nil {
			n = int(c.n)
		}
		out[layer] = n
	}
	return out
}

// AuthRequired reports whether clients must present a credential
// (Options.Authorize is set): an operator endpoint that reveals data
// should then ask for one too.
func (s *Server) AuthRequired() bool { return s.opts.Authorize != nil }
