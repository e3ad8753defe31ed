package wasmclient

import (
	"errors"
	"maps"
	"math/rand/v2"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// ErrClosed is returned by the methods of a Client that was closed.
var ErrClosed = errors.New("pushmap: client closed")

// A Client is a connection to a pushmap server that survives disconnects:
// it keeps its views, reconnects with backoff and reconciles its cache with
// the snapshot the server sends. All methods are safe for concurrent use.
type Client struct {
	urls []string // the URL given, then Options.URLs
	opts Options
	log  Logger

	ctx    signal
	cancel func()
	done   chan struct{} // closed when run returns

	// writeMu serialises sends so that the order of requests on the wire
	// is the order of c.pending. Lock order: writeMu, then mu.
	writeMu sync.Mutex

	mu      sync.Mutex
	at      int               // guarded by mu: index in urls of the current or next connection
	ws      conn              // guarded by mu: the open connection, or nil
	state   Status            // guarded by mu
	welcome wire.Welcome      // guarded by mu
	gen     uint64            // guarded by mu: last generation handed out
	wants   map[int]*want     // guarded by mu: views as the application wants them
	layers  []string          // guarded by mu: layers as the application wants them
	pending []request         // guarded by mu: requests sent, awaiting their reply
	waiters []*waiter         // guarded by mu
	views   map[int]wire.View // guarded by mu: views as the server applied them
	// clusters holds, per view in cluster mode, its clusters by id: the
	// one copy of the cluster state on the client side (the JavaScript
	// API and the adapters read it through Clusters).
	clusters map[int]map[uint64]wire.Cluster // guarded by mu
	cache    map[string]wire.Marker          // guarded by mu
	lastSend stamp                           // guarded by mu
	timer    timer                           // guarded by mu: a pending throttled flush

	curToken     string   // guarded by mu: the token of the current connection
	refusedToken string   // guarded by mu: the last token the server refused (4401), never sent again
	refreshTimer timer    // guarded by mu: refreshes the token before it expires
	cont         *request // guarded by mu: a reply whose more frames are still to come
}

// A want is a view change the application asked for.
type want struct {
	v      wire.View
	remove bool   // drop the view rather than set it
	gen    uint64 // generation of the latest change
	sent   uint64 // generation last sent on the current connection
}

type request struct {
	t   wire.Type // TypeView, TypeUnview, TypeLayers or TypeRefresh
	id  int
	gen uint64
}

type waiter struct {
	id  int // view id, or layersID
	gen uint64
	ch  chan error
}

// layersID is the waiter id of layer changes.
const layersID = -1

// Connect returns a Client that connects to url in the background and keeps
// reconnecting until Close; watch OnStatus for its state.
func Connect(url string, opts *Options) *Client {
	c := newClient(url, opts)
	go c.run(nil)
	return c
}

func newClient(url string, opts *Options) *Client {
	o := opts.withDefaults()
	ctx, cancel := lifetime()
	return &Client{
		urls: append([]string{url}, o.URLs...), opts: o, log: o.Logger, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		wants: make(map[int]*want), layers: o.Layers,
		views: make(map[int]wire.View), cache: make(map[string]wire.Marker),
		clusters: make(map[int]map[uint64]wire.Cluster),
	}
}

// setView is SetView with the core's signal.
func (c *Client) setView(ctx signal, id int, box geo.Box, zoom float64) error {
	v := wire.View{ID: id, Box: widen(box, c.opts.Margin), Zoom: zoom}
	if err := v.Validate(); err != nil {
		return err
	}
	return c.change(ctx, id, func(w *want) { w.v, w.remove = v, false })
}

// setLayers is SetLayers with the core's signal.
func (c *Client) setLayers(ctx signal, layers []string) error {
	if err := wire.ValidateLayers(layers); err != nil {
		return err
	}
	c.mu.Lock()
	if c.state.State == Closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.gen++
	c.layers = append([]string(nil), layers...)
	w := &waiter{id: layersID, gen: c.gen, ch: make(chan error, 1)}
	c.waiters = append(c.waiters, w)
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		c.send(ws, wire.Layers{Layers: layers}, request{t: wire.TypeLayers, id: layersID, gen: w.gen})
	}
	return c.wait(ctx, w)
}

func (c *Client) change(ctx signal, id int, edit func(*want)) error {
	c.mu.Lock()
	if c.state.State == Closed {
		c.mu.Unlock()
		return ErrClosed
	}
	w := c.wants[id]
	if w == nil {
		w = &want{}
		c.wants[id] = w
	}
	edit(w)
	w.v.ID = id
	c.gen++
	w.gen = c.gen
	wt := &waiter{id: id, gen: w.gen, ch: make(chan error, 1)}
	c.waiters = append(c.waiters, wt)
	if w.remove && c.ws == nil {
		// Nothing to tell a server we are not connected to.
		delete(c.wants, id)
		c.resolveLocked(id, w.gen, nil)
	}
	c.mu.Unlock()
	c.flush()
	return c.wait(ctx, wt)
}

func (c *Client) wait(ctx signal, w *waiter) error {
	select {
	case err := <-w.ch:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		c.dropWaiterLocked(w)
		c.mu.Unlock()
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// flush sends the view changes not yet sent, unless that would break the
// throttle; then it schedules itself for later.
func (c *Client) flush() {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	ws := c.ws
	if ws == nil {
		c.mu.Unlock()
		return
	}
	interval := c.opts.Throttle
	if c.welcome.ViewRate > 0 {
		interval = max(interval, dur(float64(second)/c.welcome.ViewRate))
	}
	if wait := interval - since(c.lastSend); wait > 0 {
		if c.timer == nil {
			c.timer = afterFunc(wait, func() {
				c.mu.Lock()
				c.timer = nil
				c.mu.Unlock()
				c.flush()
			})
		}
		c.mu.Unlock()
		return
	}
	var msgs []wire.Message
	for id, w := range c.wants {
		if w.sent == w.gen {
			continue
		}
		w.sent = w.gen
		if w.remove {
			if _, held := c.views[id]; !held && !c.pendingFor(id) {
				delete(c.wants, id)
				c.resolveLocked(id, w.gen, nil)
				continue
			}
			msgs = append(msgs, wire.Unview{ID: id})
			c.pending = append(c.pending, request{t: wire.TypeUnview, id: id, gen: w.gen})
		} else {
			msgs = append(msgs, w.v)
			c.pending = append(c.pending, request{t: wire.TypeView, id: id, gen: w.gen})
		}
	}
	if len(msgs) > 0 {
		c.lastSend = now()
	}
	c.mu.Unlock()
	for _, m := range msgs {
		if err := c.write(ws, m); err != nil {
			return // the reader sees the broken connection and reconnects
		}
	}
}

func (c *Client) pendingFor(id int) bool {
	for _, r := range c.pending {
		if r.id == id {
			return true
		}
	}
	return false
}

// send writes one request outside the throttle (layer changes).
func (c *Client) send(ws conn, m wire.Message, r request) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if c.ws != ws {
		c.mu.Unlock()
		return // reconnected meanwhile: the Hello carried the layers
	}
	c.pending = append(c.pending, r)
	c.mu.Unlock()
	_ = c.write(ws, m)
}

func (c *Client) write(ws conn, m wire.Message) error {
	frame, err := wire.NewEncoder().Request(m)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(c.ctx, 10*second)
	defer cancel()
	return ws.Write(ctx, frame)
}

// resolveLocked answers the waiters of id up to generation gen.
func (c *Client) resolveLocked(id int, gen uint64, err error) {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.id == id && w.gen <= gen {
			w.ch <- err
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

func (c *Client) dropWaiterLocked(w *waiter) {
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return
		}
	}
}

// Markers returns a copy of the cache: every marker in the client's views.
func (c *Client) Markers() map[string]wire.Marker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.cache)
}

// Clusters returns a copy of the clusters the client holds for its views
// in cluster mode (views holding more markers than the server's budget,
// or every view below wire.DeclutterMaxZoom with Options.Declutter),
// sorted by view id, then cluster id. A cluster is named by its View and
// ID together.
func (c *Client) Clusters() []wire.Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.allClustersLocked()
}

func (c *Client) allClustersLocked() []wire.Cluster {
	var all []wire.Cluster
	for _, cs := range c.clusters {
		for _, cl := range cs {
			all = append(all, cl)
		}
	}
	sortClusters(all)
	return all
}

// sortClusters sorts cs by view, then id, with a heapsort written out:
// slices.SortFunc's pdqsort, instantiated for wire.Cluster, was 3 KB of
// the browser's .wasm brotli (docs/design.md).
func sortClusters(cs []wire.Cluster) {
	less := func(a, b *wire.Cluster) bool {
		return a.View < b.View || a.View == b.View && a.ID < b.ID
	}
	// siftDown restores the heap property below i in cs[:n].
	siftDown := func(i, n int) {
		for {
			child := 2*i + 1
			if child >= n {
				return
			}
			if child+1 < n && less(&cs[child], &cs[child+1]) {
				child++
			}
			if !less(&cs[i], &cs[child]) {
				return
			}
			cs[i], cs[child] = cs[child], cs[i]
			i = child
		}
	}
	for i := len(cs)/2 - 1; i >= 0; i-- {
		siftDown(i, len(cs))
	}
	for n := len(cs) - 1; n > 0; n-- {
		cs[0], cs[n] = cs[n], cs[0]
		siftDown(0, n)
	}
}

// Views returns the views the server has applied, by id.
func (c *Client) Views() map[int]wire.View {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.views)
}

// URL returns the URL of the current connection, or of the next attempt
// while there is none.
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.at]
}

// moveOn makes the next attempt go to the next URL.
func (c *Client) moveOn() {
	c.mu.Lock()
	c.at = (c.at + 1) % len(c.urls)
	c.mu.Unlock()
}

// Status returns the connection's current state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Welcome returns the limits the server announced on the current (or last)
// connection.
func (c *Client) Welcome() wire.Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Close closes the connection with 1000 and stops reconnecting. Pending
// SetView calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	ws := c.ws
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.refreshTimer != nil {
		c.refreshTimer.Stop()
	}
	c.mu.Unlock()
	if ws != nil {
		ws.Close(closeNormal, "client closed")
	}
	c.cancel()
	<-c.done
	return nil
}

// widen adds margin × the box's size on each side of b.
func widen(b geo.Box, margin float64) geo.Box {
	if margin <= 0 {
		return b
	}
	w := b.East - b.West
	if b.CrossesAntimeridian() {
		w += 360
	}
	h := b.North - b.South
	dx, dy := w*margin, h*margin
	out := geo.Box{South: max(-90, b.South-dy), North: min(90, b.North+dy)}
	if w+2*dx >= 360 {
		out.West, out.East = -180, 180
		return out
	}
	out.West, out.East = geo.WrapLon(b.West-dx), geo.WrapLon(b.East+dx)
	return out
}

// backoff returns the wait before reconnection attempt n (0-based):
// exponential from MinBackoff to MaxBackoff, randomised by ±50%.
func (c *Client) backoff(n int) dur {
	d := c.opts.MinBackoff << min(n, 20)
	if d <= 0 || d > c.opts.MaxBackoff {
		d = c.opts.MaxBackoff
	}
	return d/2 + dur(rand.Int64N(int64(d)+1))
}

func (c *Client) setStatus(s Status) {
	c.mu.Lock()
	same := c.state == s
	c.state = s
	c.mu.Unlock()
	if !same && c.opts.OnStatus != nil {
		c.opts.OnStatus(s)
	}
}

func describe(err error) (code int, reason string) {
	if err == nil {
		return 0, ""
	}
	return closeStatus(err)
}

// fatal reports close codes after which reconnecting cannot help: a
// refused or expired token can be replaced only by a TokenFunc.
func (c *Client) fatal(code int) bool {
	switch code {
	case wire.CloseUnsupportedVersion, wire.CloseHelloRequired, wire.CloseForbidden:
		return true
	case wire.CloseUnauthorized, wire.CloseTokenExpired:
		return c.opts.TokenFunc == nil
	}
	return false
}
