package wasmclient

import (
	"errors"

	"github.com/pushmap/pushmap/wire"
)

// maxFrame is the largest frame the client accepts from the server: a
// snapshot of a full budget of markers with properties fits easily.
const maxFrame = 64 << 20

// connect dials the server, sends the Hello and reads the Welcome. On
// success the connection becomes c.ws and every wanted view is marked to be
// sent again.
func (c *Client) connect(ctx signal) (conn, error) {
	ctx, cancel := withTimeout(ctx, 15*second)
	defer cancel()
	tok, err := c.token(ctx)
	if err != nil {
		return nil, err
	}
	url := c.URL()
	ws, err := dial(ctx, url, maxFrame)
	if err != nil {
		return nil, wrapf("dial "+url, err)
	}
	c.mu.Lock()
	hello := wire.Hello{Version: wire.Version, Token: tok, Layers: c.layers, MaxFrameBytes: maxFrame, Declutter: c.opts.Declutter}
	c.mu.Unlock()
	if err := c.write(ws, hello); err != nil {
		ws.CloseNow()
		return nil, wrapf("hello", err)
	}
	frame, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		if code, _ := describe(err); code == wire.CloseUnauthorized {
			c.mu.Lock()
			c.refusedToken = tok
			c.mu.Unlock()
		}
		return nil, wrapf("waiting for welcome", err)
	}
	msg, err := wire.NewClientDecoder().Decode(frame)
	welcome, ok := msg.(wire.Welcome)
	if err != nil || !ok {
		ws.Close(closeProtocolError, "expected a welcome")
		if err == nil {
			err = errors.New("a " + msg.Type().String() + " message")
		}
		return nil, wrapf("expected a welcome", err)
	}

	c.mu.Lock()
	c.ws, c.welcome, c.pending, c.cont = ws, welcome, nil, nil
	c.curToken, c.refusedToken = tok, ""
	c.lastSend = never
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
	c.scheduleRefresh(ws, tok)
	c.flush()
	return ws, nil
}

// run serves connections until Close: it reads from ws (when not nil), and
// reconnects with backoff whenever the connection ends.
func (c *Client) run(ws conn) {
	defer close(c.done)
	defer c.failWaiters()
	first := ws == nil
	if first {
		c.setStatus(Status{State: Connecting})
	}
	attempt := 0
	for {
		if ws != nil {
			opened := now()
			err := c.read(ws)
			if since(opened) >= c.opts.StableAfter {
				attempt = 0
			}
			code, reason := describe(err)
			c.mu.Lock()
			c.ws = nil
			if c.refreshTimer != nil {
				c.refreshTimer.Stop()
			}
			if code == wire.CloseUnauthorized {
				c.refusedToken = c.curToken
			}
			c.mu.Unlock()
			ws.CloseNow()
			if c.ctx.Err() != nil {
				c.setStatus(Status{State: Closed, Code: code, Reason: "client closed"})
				return
			}
			if c.fatal(code) {
				c.log.Warn("server refused the client", "code", code, "reason", reason)
				c.setStatus(Status{State: Closed, Code: code, Reason: reason})
				return
			}
			c.log.Debug("connection lost", "code", code, "reason", reason)
			c.moveOn()
			c.setStatus(Status{State: Reconnecting, Code: code, Reason: reason})
		}
		if first {
			first = false
		} else {
			select {
			case <-after(c.backoff(attempt)):
			case <-c.ctx.Done():
				c.setStatus(Status{State: Closed, Reason: "client closed"})
				return
			}
			attempt++
		}
		var err error
		if ws, err = c.connect(c.ctx); err != nil {
			ws = nil
			c.moveOn()
			if code, reason := describe(err); c.fatal(code) {
				c.log.Warn("server refused the client", "code", code, "reason", reason)
				c.setStatus(Status{State: Closed, Code: code, Reason: reason})
				return
			}
			// Every failed attempt is reported with its cause, the first
			// connection's too: a page whose origin the server refuses
			// must not sit in "connecting" with nothing said.
			code, reason := describe(err)
			state := Reconnecting
			if c.Status().State == Connecting {
				state = Connecting
				c.log.Warn("connecting failed", "attempt", attempt, "err", err)
			} else {
				c.log.Debug("reconnect failed", "attempt", attempt, "err", err)
			}
			c.setStatus(Status{State: state, Code: code, Reason: reason})
		}
	}
}

func (c *Client) failWaiters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.refreshTimer != nil {
		c.refreshTimer.Stop()
	}
	for _, w := range c.waiters {
		w.ch <- ErrClosed
	}
	c.waiters = nil
	c.state.State = Closed
}

// read applies frames from ws until it fails.
func (c *Client) read(ws conn) error {
	dec := wire.NewClientDecoder()
	for {
		frame, err := ws.Read(c.ctx)
		if err != nil {
			return err
		}
		msg, err := dec.Decode(frame)
		if err != nil {
			ws.Close(closeProtocolError, "undecodable frame")
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
		id := m.View.ID
		if m.Flags&wire.FlagContinued != 0 {
			r.id = id
			c.cont = &r // resolved by the last more frame
		} else {
			defer c.resolveLocked(id, r.gen, nil)
		}
		clustered := m.Flags&wire.FlagClusters != 0
		if m.Flags&wire.FlagSnapshot != 0 {
			ch := &Change{}
			c.views = map[int]wire.View{id: m.View}
			hadClusters := len(c.clusters) > 0
			c.clusters = make(map[int]map[uint64]wire.Cluster)
			if clustered {
				c.replaceLocked(ch, nil)
				c.setClustersLocked(ch, id, m.Ops)
			} else {
				c.replaceLocked(ch, m.Ops)
				if hadClusters {
					ch.ClustersReset = true
				}
			}
			return ch, nil
		}
		c.views[id] = m.View
		_, wasClustered := c.clusters[id]
		delete(c.clusters, id)
		if clustered { // holds no markers from now on
			c.clusters[id] = nil
		}
		ch := c.dropOutsideLocked()
		if clustered {
			c.setClustersLocked(ch, id, m.Ops)
			return ch, nil
		}
		if wasClustered {
			ch.ClustersReset = true
			ch.Clusters = c.allClustersLocked()
		}
		c.opsLocked(ch, m.Ops)
		return ch.orNil(), nil
	case wire.UnviewAck:
		r := c.popLocked()
		delete(c.views, m.ID)
		if _, ok := c.clusters[m.ID]; ok {
			delete(c.clusters, m.ID)
			ch := c.dropOutsideLocked()
			ch.ClustersReset = true
			ch.Clusters = c.allClustersLocked()
			c.resolveLocked(m.ID, r.gen, nil)
			return ch, nil
		}
		if w := c.wants[m.ID]; w != nil && w.remove && w.gen == r.gen {
			delete(c.wants, m.ID)
		}
		c.resolveLocked(m.ID, r.gen, nil)
		return c.dropOutsideLocked().orNil(), nil
	case wire.Reset:
		// A behind reset answers no request: the replies to every
		// request the server applied came before it, and those of
		// later ones come after it (docs/protocol.md, Falling behind).
		if m.Flags&wire.FlagBehind == 0 {
			r := c.popLocked()
			if m.Flags&wire.FlagContinued != 0 {
				c.cont = &r
			} else {
				c.resolveLocked(r.id, r.gen, nil)
			}
		}
		c.views = make(map[int]wire.View, len(m.Views))
		c.clusters = make(map[int]map[uint64]wire.Cluster)
		for i, v := range m.Views {
			c.views[v.ID] = v
			if i < len(m.Clustered) && m.Clustered[i] {
				c.clusters[v.ID] = make(map[uint64]wire.Cluster)
			}
		}
		ch := &Change{ClustersReset: true}
		c.replaceLocked(ch, m.Ops)
		for _, op := range m.Ops {
			if op.Cluster != nil {
				c.clusterLocked(nil, *op.Cluster)
			}
		}
		ch.Clusters = c.allClustersLocked()
		return ch, nil
	case wire.Batch:
		ch := &Change{}
		c.opsLocked(ch, m.Ops)
		return ch.orNil(), nil
	case wire.More:
		// The next ops of the reply before: applied as a batch's, which
		// adds markers and applies clusters to the views showing them.
		ch := &Change{}
		c.opsLocked(ch, m.Ops)
		if m.Remaining == 0 && c.cont != nil {
			c.resolveLocked(c.cont.id, c.cont.gen, nil)
			c.cont = nil
		}
		return ch.orNil(), nil
	case wire.RefreshAck:
		c.popLocked()
		return nil, nil
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
			c.timer = afterFunc(second/4, func() {
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

// dropOutsideLocked drops cached markers that none of the views in marker
// mode holds.
func (c *Client) dropOutsideLocked() *Change {
	ch := &Change{}
	for id, m := range c.cache {
		inside := false
		for vid, v := range c.views {
			if _, clustered := c.clusters[vid]; !clustered && v.Box.Contains(m.Pos) {
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

// setClustersLocked puts view id in cluster mode with the clusters of ops,
// the ops of its view_ack: its whole set.
func (c *Client) setClustersLocked(ch *Change, id int, ops []wire.Op) {
	cs := make(map[uint64]wire.Cluster, len(ops))
	for _, op := range ops {
		if op.Cluster != nil && op.Cluster.Count > 0 {
			cs[op.Cluster.ID] = *op.Cluster
		}
	}
	c.clusters[id] = cs
	ch.ClustersReset = true
	ch.Clusters = c.allClustersLocked()
}

// clusterLocked applies a cluster change to the view it names, when that
// view is in cluster mode. ch may be nil.
func (c *Client) clusterLocked(ch *Change, cl wire.Cluster) {
	cs, ok := c.clusters[cl.View]
	if !ok || cs == nil {
		return
	}
	if cl.Count == 0 {
		delete(cs, cl.ID)
	} else {
		cs[cl.ID] = cl
	}
	if ch != nil {
		ch.Clusters = append(ch.Clusters, cl)
	}
}
