package server

// AuthRequired reports whether clients must present a credential
// (Options.Authorize is set): an operator endpoint that reveals data
// should then ask for one too.
func (s *Server) AuthRequired() bool { return s.opts.Authorize != nil }
