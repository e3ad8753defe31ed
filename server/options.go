package server

import (
	"log/slog"
	"time"

	"github.com/pushmap/pushmap/auth"
)

// Options configures a Server. The zero value, and a nil *Options, mean the
// defaults documented on each field.
type Options struct {
	// Logger receives the server's logs. Default: slog.Default().
	Logger *slog.Logger

	// MaxConnections caps concurrent WebSocket connections past their
	// hello; one more is closed at its hello with close code 1013 (try
	// again later). Default 100000.
	MaxConnections int

	// MaxPending caps the connections waiting for their hello (for at most
	// HelloTimeout), counted apart from MaxConnections so that connections
	// that never say hello cannot keep clients out; one more is refused
	// before the upgrade with 503 and Retry-After. Default 1000.
	MaxPending int

	// MaxConnectionsPerIP caps the connections from one address (an IPv4
	// address, or an IPv6 /64), waiting for their hello or not, and
	// MaxPendingPerIP those waiting for their hello; one more is refused
	// before the upgrade with 429 and Retry-After. Behind a reverse proxy
	// every client has the proxy's address: set both to MaxConnections
	// there (the proxy must do the per-client limiting). X-Forwarded-For is
	// not read: any client could forge it. Defaults 5000 and 100.
	MaxConnectionsPerIP int
	MaxPendingPerIP     int

	// MaxFrameBytes caps the size of a frame a client may send; a larger one
	// closes the connection with 1009 (message too big). Default 16384.
	MaxFrameBytes int64

	// MaxSendFrameBytes caps the size of a frame the server sends: a
	// view_ack or reset larger than this, or than the client's own limit
	// from its hello, is split into the reply and more frames (a frame
	// holds at least one op, so one op larger than the limit goes alone).
	// At least wire.MinFrameBytes. Default 1 MiB.
	MaxSendFrameBytes int

	// MaxViews caps the views one connection may hold at once. Default 4.
	MaxViews int

	// ViewRate is how many view changes per second a connection may send on
	// average, and ViewBurst how many it may send at once. Changes beyond
	// them are refused with error code rate_limited; a connection that keeps
	// flooding is closed with 4003. Defaults 20 and 40.
	ViewRate  float64
	ViewBurst int

	// Budget is the most markers one view is sent. A view holding more is
	// put in cluster mode: it is sent merged clusters instead (counts and
	// weight centres of groups of markers no closer than 40 px on the map),
	// at most Budget of them unless even those of zoom 1 are more. Default
	// 5000.
	Budget int

	// ClusterInterval is how often, at most, the clusters of views in
	// cluster mode are merged again after markers changed, and the
	// differences sent: changes within it reach the clients together.
	// Default 100ms.
	ClusterInterval time.Duration

	// DensityLayer names the tile layer of the density tiles the server
	// renders (DensityHandler). When set, the server remembers where markers
	// move, and FlushDensity tells the views showing those tiles. Default
	// "": off.
	DensityLayer string

	// ClusterZoom is the finest zoom at which clusters are kept, 1 to 24.
	// Each marker costs one count per zoom level up to it. Default 14.
	ClusterZoom int

	// OutboxBytes caps what may wait, unsent, for one connection. When the
	// backlog reaches it, the changes of each marker are coalesced to the
	// latest; a client whose backlog still fills more than half of it has
	// the backlog dropped and is sent a fresh snapshot (a reset). Default
	// 4 MiB.
	OutboxBytes int

	// WriteTimeout is how long one write to a client may block before the
	// client is deemed gone and closed (without a closing handshake: it is
	// not reading). A watchdog checks four times per WriteTimeout, so a
	// write may block up to 1.25 × WriteTimeout. Default 10s.
	WriteTimeout time.Duration

	// HelloTimeout is how long a new connection has to send its hello.
	// Default 10s.
	HelloTimeout time.Duration

	// Authorize, when set, turns a client's credential (the token of its
	// Hello) into the auth.Grant of what it may read; an error refuses it
	// with close code 4401 and the error's text as the reason. The
	// connection then sees only the grant's layers (a hello asking for
	// another is closed with 4403) and area, and is closed with 4402 when
	// the grant expires unless a refresh message brought a new token
	// (Authorize is called again, with the upgrade request). The same
	// Authorizer guards every read path of the server (density tiles
	// included). Keep browser tokens apart from feed keys. Default: everyone
	// may connect and read everything.
	Authorize auth.Authorizer

	// OriginPatterns lists the host patterns (path.Match syntax) from which
	// browsers may connect besides the server's own host, as in
	// websocket.AcceptOptions. Use "*" to allow any origin.
	OriginPatterns []string
}
