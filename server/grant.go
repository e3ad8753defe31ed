package server

import (
	"fmt"
	"slices"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// How a connection applies its auth.Grant. Layers: the connection's layer
// set never holds a layer the grant does not allow (a hello asking for one
// is closed with 4403, a layers message asking for one is refused with
// forbidden), so the fan-out's layer test is the grant's too. Area: a
// connection whose grant has a box is restricted: its views go into the
// viewport index clipped to the box (clip), so the fan-out, the tile
// changes and the cluster pushes find it only for what lies inside, with
// no test of their own; searches for its acks and resets run on the
// clipped parts, and its clusters are counted inside the box only
// (store.Store.ClusterIn). An unrestricted connection pays nothing but
// one flag test where a cluster is pushed.

// grantedLayers returns the layer set a client asking for asked may see
// under g, and its layerKey: asked when g allows every layer in it; g's
// layers when asked is empty. A layer g does not allow is an error
// naming it.
func grantedLayers(g *auth.Grant, asked []string) (layerSet, string, error) {
	if g.Layers == nil {
		return newLayerSet(asked), layerKey(asked), nil
	}
	if len(asked) == 0 {
		return grantSet(g.Layers), grantKey(g.Layers), nil
	}
	for _, l := range asked {
		if !g.AllowsLayer(l) {
			return nil, "", fmt.Errorf("layer %q is not one the token grants (it grants %d layers)", l, len(g.Layers))
		}
	}
	return newLayerSet(asked), layerKey(asked), nil
}

// narrowedLayers returns the layers of asked that g allows, for a refresh
// whose grant may allow fewer than the connection's.
func narrowedLayers(g *auth.Grant, asked []string) (layerSet, string) {
	if g.Layers == nil || len(asked) == 0 {
		set, key, _ := grantedLayers(g, asked)
		return set, key
	}
	kept := slices.DeleteFunc(slices.Clone(asked), func(l string) bool { return !g.AllowsLayer(l) })
	return grantSet(kept), grantKey(kept)
}

// grantSet is newLayerSet for a list that is the whole allowance: an empty
// list allows nothing (newLayerSet would make it every layer).
func grantSet(layers []string) layerSet {
	set := make(layerSet, len(layers))
	for _, l := range layers {
		set[l] = struct{}{}
	}
	return set
}

// grantKey is layerKey for a grantSet: the empty set is named apart from
// "every layer".
func grantKey(layers []string) string {
	if len(layers) == 0 {
		return "\x01none"
	}
	return layerKey(layers)
}

// setGrantLocked makes g the connection's grant, with its layer set.
func (c *conn) setGrantLocked(g auth.Grant, layers layerSet, key string) {
	c.grant = g
	c.restricted = g.Box != nil
	c.layers, c.layerKey = layers, key
	c.clusterGroup = key
	if c.restricted {
		c.clusterGroup = key + "\x02" + g.Box.String()
	}
}

// clip returns the parts of box (which may cross the antimeridian) that c
// may see, as boxes that do not cross it: none when box lies wholly
// outside c's grant.
func (c *conn) clip(box geo.Box) (parts [3]geo.Box, n int) {
	if !c.restricted {
		p, n := box.Split()
		copy(parts[:], p[:n])
		return parts, n
	}
	return geo.Intersect(box, *c.grant.Box)
}

// armExpiry (re)starts the timer that closes c with 4402 when its grant
// expires. One timer per connection with an expiring grant, made once and
// reset by refreshes; no goroutine waits on it.
func (c *conn) armExpiry() {
	c.expiryMu.Lock()
	defer c.expiryMu.Unlock()
	if c.grant.Expires.IsZero() {
		if c.expiry != nil {
			c.expiry.Stop()
		}
		return
	}
	at := c.grant.Expires
	d := time.Until(at)
	c.expiresAt.Store(at.UnixNano())
	if c.expiry == nil {
		c.expiry = time.AfterFunc(d, c.expired)
	} else {
		c.expiry.Reset(d)
	}
}

// expired closes c when the expiry it was armed for has passed; a refresh
// that moved the expiry later makes an early fire do nothing.
func (c *conn) expired() {
	at := time.Unix(0, c.expiresAt.Load())
	if d := time.Until(at); d > 0 {
		c.expiryMu.Lock()
		c.expiry.Reset(d)
		c.expiryMu.Unlock()
		return
	}
	c.close(wire.CloseTokenExpired, "token expired at "+at.UTC().Format(time.RFC3339))
}

// refresh applies a Refresh: the token is authorized again with the
// upgrade request. Accepted, the new grant replaces the old and the reply
// is a RefreshAck, or a Reset when the grant changes what c may see (its
// layers narrowed to those the new grant allows, its views clipped to the
// new box). Refused, the reply is an unauthorized error and the old grant
// stays until it expires.
func (c *conn) refresh(token string) error {
	authorize := c.s.opts.Authorize
	if authorize == nil {
		c.reply(encodeFixed(wire.RefreshAck{}))
		return nil
	}
	g, err := authorize(c.req, token)
	if err == nil && g.Expired(time.Now()) {
		err = fmt.Errorf("the token expired at %v", g.Expires.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return wire.Error{Code: wire.CodeUnauthorized, Message: "refresh refused; the old token holds until it expires: " + err.Error()}
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.settle() // the batches given to pull, with the grant they were given to
	layers, key := narrowedLayers(&g, c.asked)
	same := key == c.layerKey && sameBox(g.Box, c.grant.Box)
	c.setGrantLocked(g, layers, key)
	c.armExpiry()
	if same {
		var expires int64
		if !g.Expires.IsZero() {
			expires = g.Expires.UnixMilli()
		}
		c.reply(encodeFixed(wire.RefreshAck{Expires: expires}))
		return nil
	}
	for i := range c.views {
		s.indexView(c, &c.views[i], c.views[i])
	}
	c.reply(s.resetFramesLocked(c, 0)...)
	return nil
}

func sameBox(a, b *geo.Box) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// encodeFixed encodes a message made of integers, which cannot fail.
func encodeFixed(m wire.Message) []byte {
	b, _ := wire.Marshal(m)
	return b
}

// stopExpiry stops c's expiry timer, if any, when c leaves.
func (c *conn) stopExpiry() {
	c.expiryMu.Lock()
	defer c.expiryMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
}
