package wasmclient

import (
	"context"
	"time"

	"github.com/pushmap/pushmap/wire"
)

// Options configures a Client. A nil *Options, and zero fields, mean the
// defaults documented on each field.
type Options struct {
	// Token is sent in the Hello; "" when the server needs none. A static
	// token the server refuses (close 4401) or lets expire (4402) closes
	// the client for good: use TokenFunc for tokens that expire.
	Token string
	// TokenFunc, when set, is called for a token (in place of Token)
	// before the first connection, before each reconnection, and before
	// the current token expires: when the token is a JWT whose payload
	// has "exp", a quarter of its lifetime (at most a minute) before then,
	// the client sends the new one on the open connection (a refresh
	// message). A token the server refused (4401) is never sent again:
	// the client calls TokenFunc again, with backoff, until it returns
	// another; an expired token's close (4402) reconnects with a new one.
	// An error counts as a failed connection attempt (backoff, retry).
	TokenFunc func(ctx context.Context) (string, error)
	// Layers to see; empty means every layer.
	Layers []string
	// URLs are more addresses of the same map: the other nodes of a
	// cluster (docs/cluster.md). The client connects to the URL it was
	// given first; when a connection closes or an attempt fails it tries
	// the next one (the given URL, then URLs in order, then round again),
	// each attempt after the usual backoff, and the new node's snapshot
	// replaces the cache as on any reconnection. Dial tries each once
	// before it gives up.
	URLs []string

	// Throttle is the least time between two view changes sent to the
	// server: while a user drags the map, intermediate views are skipped
	// and the latest is sent. The server's own rate limit (from its
	// Welcome) is respected too. Default 100ms.
	Throttle time.Duration
	// Margin widens every view by this fraction of its width and height on
	// each side, so small pans need no round trip. Default 0, in Go and in
	// the JavaScript API alike (whose margin option is this field); a map
	// that is panned a lot gains from 0.25, which the demo pages use.
	Margin float64

	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles from MinBackoff up to MaxBackoff, each wait
	// randomised by ±50% (Socket.IO's randomizationFactor 0.5), so the
	// first retry comes after 250–750 ms by default. The attempts count
	// from zero again only once a connection stayed open StableAfter: a
	// client refused right after connecting backs off further each time.
	// Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a connection must stay open for the backoff
	// to start again from MinBackoff. Default 10s.
	StableAfter time.Duration

	// OnChange is called after each frame that changed the cache, in order,
	// from the client's reader goroutine; it must not block for long. The
	// Change's slices are the callee's to keep.
	OnChange func(Change)
	// OnStatus is called when the connection state changes.
	OnStatus func(Status)
	// OnError is called with each error the server reported for a message
	// of this client that was not a view change (those are returned by
	// SetView).
	OnError func(wire.Error)

	// Logger receives the client's logs; a *slog.Logger fits. Default:
	// discard.
	Logger Logger
}

// A Change is what one frame from the server did to the cache.
type Change struct {
	// Reset: the cache was replaced; Added holds all of it and the
	// markers not in Added are gone (Removed lists those that were held).
	// A reply too large for one frame comes in several: Reset is set on
	// the first Change, and the next ones add the rest (Added).
	Reset   bool
	Added   []wire.Marker // markers new to the cache
	Updated []wire.Marker // markers that moved or changed
	Removed []string      // ids of markers that left the cache
	Bytes   int           // size of the frame

	// Tiles lists tiles of tile layers that changed in the client's views:
	// a map showing one should fetch it again.
	Tiles []wire.TileChange
	// Clusters lists clusters that changed, each named by its View and
	// ID; Count 0 means one is gone. ClustersReset: Clusters is the whole
	// set held, replacing every cluster held before (a view changed mode
	// or was replaced). Client.Clusters reads the same state.
	Clusters      []wire.Cluster
	ClustersReset bool
}

// State is the state of a Client's connection.
type State int

// The states of a Client, in the order a connection goes through them.
const (
	Connecting   State = iota // dialling for the first time
	Open                      // connected and greeted
	Reconnecting              // lost; dialling again after a backoff
	Closed                    // closed by Close or by a fatal close code
)

// String returns the state's name: "connecting", "open", "reconnecting"
// or "closed", as the JavaScript API reports it.
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Open:
		return "open"
	case Reconnecting:
		return "reconnecting"
	}
	return "closed"
}

// Status is a state change with its cause.
type Status struct {
	State  State
	Code   int    // WebSocket close code of the connection that ended, or 0
	Reason string // close reason or error text, "" when none
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Throttle == 0 {
		r.Throttle = 100 * time.Millisecond
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 500 * time.Millisecond
	}
	if r.StableAfter <= 0 {
		r.StableAfter = 10 * time.Second
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	if r.MaxBackoff < r.MinBackoff {
		r.MaxBackoff = r.MinBackoff
	}
	if r.Logger == nil {
		r.Logger = discard{}
	}
	return r
}

// Logger is the part of *slog.Logger the client uses. The client does not
// import log/slog itself: in the browser build that would add its JSON
// handler and encoding/json, about 10% of the .wasm.
type Logger interface {
	Debug(msg string, args ...any)
	Warn(msg string, args ...any)
}

type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Warn(string, ...any)  {}
