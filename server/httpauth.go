package server

import (
	"net/http"
	"time"

	"github.com/pushmap/pushmap/auth"
)

// Authorizer returns Options.Authorize: nil when every client may read
// everything. Handlers beside the server (the HTTP ingest's GET /markers)
// use it to apply the same grants as the WebSocket.
func (s *Server) Authorizer() auth.Authorizer { return s.opts.Authorize }

// httpGrant returns the grant of the credential of a plain HTTP request
// (auth.TokenFrom), or writes 401 (no credential) or 403 (refused or
// expired) and returns false.
func (s *Server) httpGrant(w http.ResponseWriter, r *http.Request, authorize auth.Authorizer) (auth.Grant, bool) {
	token := auth.TokenFrom(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pushmap"`)
		http.Error(w, "pushmap: a credential is needed: send \"Authorization: Bearer <token>\" or ?access_token=<token>", http.StatusUnauthorized)
		return auth.Grant{}, false
	}
	g, err := authorize(r, token)
	if err != nil {
		http.Error(w, "pushmap: token refused: "+err.Error(), http.StatusForbidden)
		return auth.Grant{}, false
	}
	if g.Expired(time.Now()) {
		http.Error(w, "pushmap: token refused: it expired at "+g.Expires.UTC().Format(time.RFC3339), http.StatusForbidden)
		return auth.Grant{}, false
	}
	return g, true
}
