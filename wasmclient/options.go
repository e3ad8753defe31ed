package wasmclient

import "github.com/pushmap/pushmap/wire"

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
		r.Throttle = 100 * millisecond
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 500 * millisecond
	}
	if r.StableAfter <= 0 {
		r.StableAfter = 10 * second
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * second
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
