//go:build !pushmap_browser

package wasmclient

import (
	"context"
	"errors"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// The Go API's entry points that take a context.Context or a
// time.Duration. The browser's .wasm (tag pushmap_browser) leaves them
// out with packages context and time: its bindings use the core beneath
// (options_browser.go).

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
	// Declutter asks the server to group markers closer than the cluster
	// radius on screen (40 px) below the budget too: every view below
	// wire.DeclutterMaxZoom is then in cluster mode (Clusters), a marker
	// with no other within the radius a cluster of count 1 carrying the
	// marker itself (wire.Cluster.Marker: its props included). Default
	// false: below the budget a view holds every marker (Markers). The
	// JavaScript API's declutter option is this field.
	Declutter bool

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

// Dial connects to the pushmap server at url (ws:// or wss://), greets it,
// and returns the Client once the connection is open. If the first attempt
// fails (with Options.URLs: the first attempt at each URL) it returns the
// error; afterwards the Client reconnects by itself until Close.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	c := newClient(url, opts)
	var errs []error
	for range c.urls {
		ws, err := c.connect(ctx)
		if err == nil {
			go c.run(ws)
			return c, nil
		}
		errs = append(errs, err)
		if code, _ := describe(err); c.fatal(code) || ctx.Err() != nil {
			break
		}
		c.moveOn()
	}
	c.cancel()
	close(c.done)
	return nil, errors.Join(errs...)
}

// SetView asks the server to show the client the markers in box at zoom,
// as view id (0 for a client with one map). Box is widened by the Margin
// option. SetView returns when the server has applied this view or a later
// one for the same id, with the error the server gave, or ctx's. While the
// client is disconnected the view is kept and sent on reconnection.
func (c *Client) SetView(ctx context.Context, id int, box geo.Box, zoom float64) error {
	return c.setView(ctx, id, box, zoom)
}

// RemoveView drops view id; markers only it held leave the cache.
func (c *Client) RemoveView(ctx context.Context, id int) error {
	return c.change(ctx, id, func(w *want) { w.remove = true })
}

// SetLayers changes the layers the client sees; the server answers with a
// fresh cache.
func (c *Client) SetLayers(ctx context.Context, layers []string) error {
	return c.setLayers(ctx, layers)
}
