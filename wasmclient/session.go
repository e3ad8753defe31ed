package wasmclient

import (
	"context"

	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/wire"
)

// maxFrame is the largest frame the client accepts from the server: a
// snapshot of a full budget of markers with properties fits easily.
const maxFrame = 64 << 20

// connect dials the server, sends the Hello and reads the Welcome. On
// success the connection becomes c.ws and every wanted view is marked to be
// sent again.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, c.url, nil)
	if err != nil {
		return nil, errorf("dial %s: %w", c.url, err)
	}
	ws.SetReadLimit(maxFrame)
	c.mu.Lock()
	hello := wire.Hello{Version: wire.Version, Token: c.opts.Token, Layers: c.layers}
	c.mu.Unlock()
	if err := c.write(ws, hello); err != nil {
		ws.CloseNow()
		return nil, errorf("hello: %w", err)
	}
	_, frame, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, errorf("waiting for welcome: %w", err)
	}
	msg, err := wire.Unmarshal(frame)
	welcome, ok := msg.(wire.Welcome)
	if err != nil || !ok {
		ws.Close(websocket.StatusProtocolError, "expected a welcome")
		return nil, errorf("expected a welcome, got %v (%v)", msg, err)
	}

	c.mu.Lock()
	c.ws, c.welcome, c.pending = ws, welcome, nil
	c.lastSend = time.Time{}
	for id, w := range c.wants {
		if w.remove { // the new connection holds no views to drop
			delete(c.wants, id)
			c.resolveLocked(id, w.gen, nil)
			continue
		}
		w.sent = 0
	}
	// The Hello carried the current layers.
	c.resolveLocked(layersID, c.gen, nil)
	c.mu.Unlock()
	c.setStatus(Status{State: Open})
	c.flush()
	return ws, nil
}

// run serves connections until Close: it reads from ws (when not nil), and
// reconnects with backoff whenever the connection ends.
func (c *Client) run(ws *websocket.Conn) {
	defer close(c.done)
	defer c.failWaiters()
	first := ws == nil
	if first {
		c.setStatus(Status{State: Connecting})
	}
	attempt := 0
	for {
		if ws != nil {
			err := c.read(ws)
			attempt = 0
			c.mu.Lock()
			c.ws = nil
			c.mu.Unlock()
			ws.CloseNow()
			code, reason := describe(err)
			if c.ctx.Err() != nil {
				c.setStatus(Status{State: Closed, Code: code, Reason: "client closed"})
				return
			}
			if fatal(code) {
				c.log.Warn("server refused the client", "code", code, "reason", reason)
				c.setStatus(Status{State: Closed, Code: code, Reason: reason})
				return
			}
			c.log.Debug("connection lost", "code", code, "reason", reason)
			c.setStatus(Status{State: Reconnecting, Code: code, Reason: reason})
		}
		if first {
			first = false
		} else {
			select {
			case <-time.After(c.backoff(attempt)):
			case <-c.ctx.Done():
				c.setStatus(Status{State: Closed, Reason: "client closed"})
				return
			}
			attempt++
		}
		var err error
		if ws, err = c.connect(c.ctx); err != nil {
			ws = nil
			c.log.Debug("reconnect failed", "attempt", attempt, "err", err)
			if c.Status().State == Connecting {
				continue
			}
			c.setStatus(Status{State: Reconnecting, Reason: err.Error()})
		}
	}
}

func (c *Client) failWaiters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	for _, w := range c.waiters {
		w.ch <- ErrClosed
	}
	c.waiters = nil
	c.state.State = Closed
}

// read applies frames from ws until it fails.
func (c *Client) read(ws *websocket.Conn) error {
	dec := wire.NewDecoder()
	for {
		_, frame, err := ws.Read(c.ctx)
		if err != nil {
			return err
		}
		msg, err := dec.Decode(frame)
		if err != nil {
			ws.Close(websocket.StatusProtocolError, "undecodable frame")
			return err
		}
		ch, report := c.apply(msg)
		if report != nil && c.opts.OnError != nil {
			c.opts.OnError(*report)
		}
		if ch != nil && c.opts.OnChange != nil {
			ch.Bytes = len(frame)
			c.opts.OnChange(*ch)
		}
	}
}

// apply applies one server message to the client's state. It returns the
// change to the cache, if any, and a server error to report, if any.
func (c *Client) apply(msg wire.Message) (*Change, *wire.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := msg.(type) {
	case wire.ViewAck:
		r := c.popLocked()
		if m.Flags&wire.FlagSnapshot != 0 {
			ch := &Change{}
			c.views = map[int]wire.View{m.View.ID: m.View}
			c.replaceLocked(ch, m.Ops)
			c.resolveLocked(m.View.ID, r.gen, nil)
			return ch, nil
		}
		c.views[m.View.ID] = m.View
		ch := c.dropOutsideLocked()
		c.opsLocked(ch, m.Ops)
		c.resolveLocked(m.View.ID, r.gen, nil)
		return ch.orNil(), nil
	case wire.UnviewAck:
		r := c.popLocked()
		delete(c.views, m.ID)
		if w := c.wants[m.ID]; w != nil && w.remove && w.gen == r.gen {
			delete(c.wants, m.ID)
		}
		c.resolveLocked(m.ID, r.gen, nil)
		return c.dropOutsideLocked().orNil(), nil
	case wire.Reset:
		if m.Flags&wire.FlagBehind != 0 {
			// Everything asked so far is reflected in this state.
			for _, r := range c.pending {
				c.resolveLocked(r.id, r.gen, nil)
			}
			c.pending = nil
		} else {
			r := c.popLocked()
			c.resolveLocked(r.id, r.gen, nil)
		}
		c.views = make(map[int]wire.View, len(m.Views))
		for _, v := range m.Views {
			c.views[v.ID] = v
		}
		ch := &Change{}
		c.replaceLocked(ch, m.Ops)
		return ch, nil
	case wire.Batch:
		ch := &Change{}
		c.opsLocked(ch, m.Ops)
		return ch.orNil(), nil
	case wire.Error:
		return nil, c.refusedLocked(m)
	}
	c.log.Debug("ignoring unexpected message", "type", msg.Type())
	return nil, nil
}

// refusedLocked handles the server's refusal of the oldest pending request.
func (c *Client) refusedLocked(e wire.Error) *wire.Error {
	r := c.popLocked()
	if r.t != wire.TypeView && r.t != wire.TypeUnview {
		return &e
	}
	w := c.wants[r.id]
	if e.Code == wire.CodeRateLimited && w != nil && w.gen == r.gen {
		w.sent = 0 // try again after the throttle interval
		if c.timer == nil {
			c.timer = time.AfterFunc(time.Second/4, func() {
				c.mu.Lock()
				c.timer = nil
				c.mu.Unlock()
				c.flush()
			})
		}
		return nil
	}
	if w != nil && w.gen == r.gen {
		delete(c.wants, r.id) // a refused view is not re-sent on reconnection
	}
	c.resolveLocked(r.id, r.gen, e)
	return nil
}

func (c *Client) popLocked() request {
	if len(c.pending) == 0 {
		return request{}
	}
	r := c.pending[0]
	c.pending = c.pending[1:]
	return r
}

// replaceLocked makes the cache exactly the upserts of ops.
func (c *Client) replaceLocked(ch *Change, ops []wire.Op) {
	ch.Reset = true
	old := c.cache
	c.cache = make(map[string]wire.Marker, len(ops))
	for _, op := range ops {
		if op.Tile == nil && op.Cluster == nil && !op.Remove {
			c.cache[op.Marker.ID] = op.Marker
			ch.Added = append(ch.Added, op.Marker)
		}
	}
	for id := range old {
		if _, ok := c.cache[id]; !ok {
			ch.Removed = append(ch.Removed, id)
		}
	}
}

func (c *Client) opsLocked(ch *Change, ops []wire.Op) {
	for _, op := range ops {
		if op.Tile != nil {
			ch.Tiles = append(ch.Tiles, *op.Tile)
			continue
		}
		if op.Cluster != nil {
			c.clusterLocked(ch, *op.Cluster)
			continue
		}
		id := op.Marker.ID
		_, held := c.cache[id]
		switch {
		case op.Remove && held:
			delete(c.cache, id)
			ch.Removed = append(ch.Removed, id)
		case op.Remove:
		case held:
			c.cache[id] = op.Marker
			ch.Updated = append(ch.Updated, op.Marker)
		default:
			c.cache[id] = op.Marker
			ch.Added = append(ch.Added, op.Marker)
		}
	}
}

// dropOutsideLocked drops cached markers that none of the views holds.
func (c *Client) dropOutsideLocked() *Change {
	ch := &Change{}
	for id, m := range c.cache {
		inside := false
		for _, v := range c.views {
			if v.Box.Contains(m.Pos) {
				inside = true
				break
			}
		}
		if !inside {
			delete(c.cache, id)
			ch.Removed = append(ch.Removed, id)
		}
	}
	return ch
}

func (ch *Change) orNil() *Change {
	if ch.Reset || ch.ClustersReset || len(ch.Added)+len(ch.Updated)+len(ch.Removed)+len(ch.Tiles)+len(ch.Clusters) > 0 {
		return ch
	}
	return nil
}

// clusterLocked applies a cluster change (clusters come in a later step).
func (c *Client) clusterLocked(ch *Change, cl wire.Cluster) {
	ch.Clusters = append(ch.Clusters, cl)
}
