// Package auth says who may read what from a pushmap server: a client's
// credential (a signed JWT, or a static token in development) becomes a
// Grant, and every read path — the WebSocket, GET /feed/markers, density
// tiles, interest, stats — applies the same Grant.
package auth

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pushmap/pushmap/geo"
)

// A Grant is what one credential allows its holder to read. The zero Grant
// allows everything and never expires: it is what a client gets when the
// server has no client authentication.
type Grant struct {
	// Subject names the holder, for logs and metrics (the JWT's "sub").
	Subject string
	// Layers lists the marker layers the holder may read; nil means every
	// layer. An empty, non-nil slice allows none.
	Layers []string
	// Box, when not nil, is the only area the holder may read: nothing
	// outside it is ever sent to them, in any form. It may cross the
	// antimeridian (West > East).
	Box *geo.Box
	// Expires is when the credential stops being valid; zero means never.
	Expires time.Time
}

// AllowsLayer reports whether the holder may read markers of layer.
func (g *Grant) AllowsLayer(layer string) bool {
	return g.Layers == nil || slices.Contains(g.Layers, layer)
}

// Covers reports whether the holder may read what lies at p.
func (g *Grant) Covers(p geo.Point) bool {
	return g.Box == nil || g.Box.Contains(p)
}

// Expired reports whether the credential has expired at now.
func (g *Grant) Expired(now time.Time) bool {
	return !g.Expires.IsZero() && !now.Before(g.Expires)
}

// An Authorizer turns the credential of a request into a Grant, or refuses
// it with an error whose text may be shown to the client (it must not
// reveal secrets). token is the credential the client presented: the
// token of a WebSocket hello, or TokenFrom(r) for a plain HTTP request.
// It must be safe for concurrent use.
type Authorizer func(r *http.Request, token string) (Grant, error)

// TokenFrom returns the credential of an HTTP request: the bearer token of
// its Authorization header or, for clients that cannot set headers (an
// <img> tile, a Leaflet tile layer), its access_token query parameter
// (RFC 6750). It returns "" when there is neither.
func TokenFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("access_token")
}
