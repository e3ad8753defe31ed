package baseline

import (
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// Broadcast sends every update to every client: each published batch
// becomes one frame, written to every client (see the package doc). It is
// an http.Handler for its WebSocket endpoint; all its methods are safe for
// concurrent use.
type Broadcast struct {
	o Options

	// mu guards everything below. Lock order: mu, then an outbox's mu.
	mu      sync.Mutex
	conns   map[*conn]struct{}
	markers map[string][]byte // marker id → latest op, for new clients
	enc     *wire.Encoder
	closed  bool

	wg sync.WaitGroup

	writes *outbox.Watchdog // bounds every client's writes
}

// NewBroadcast returns a broadcast broker.
func NewBroadcast(opts *Options) *Broadcast {
	o := opts.withDefaults()
	return &Broadcast{o: o, conns: map[*conn]struct{}{}, markers: map[string][]byte{}, enc: wire.NewEncoder(),
		writes: outbox.NewWatchdog(o.WriteTimeout)}
}

// Publish sends ms to every client as one batch frame.
func (b *Broadcast) Publish(ms []wire.Marker) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ops := make([][]byte, len(ms))
	size := 5
	for i := range ms {
		m, op, err := upsertOp(b.enc, ms[i])
		if err != nil {
			return err
		}
		ops[i] = op
		b.markers[m.ID] = ops[i]
		size += len(ops[i])
	}
	if len(ops) == 0 {
		return nil
	}
	frame := wire.AppendBatchHeader(make([]byte, 0, size), len(ops))
	for _, op := range ops {
		frame = append(frame, op...)
	}
	for c := range b.conns {
		if c.out.Control(frame) {
			c.startWriter()
		}
	}
	return nil
}

// ServeHTTP upgrades the request to a WebSocket, sends the client every
// marker and then every update until it leaves.
func (b *Broadcast) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	c := newConn(ws, &b.o, b.writes, &b.wg)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "shutting down")
		c.end()
		return
	}
	b.conns[c] = struct{}{}
	b.wg.Add(1)
	size := 16
	for _, op := range b.markers {
		size += len(op)
	}
	snap := AppendSubAckHeader(make([]byte, 0, size), 0, len(b.markers))
	for _, op := range b.markers {
		snap = append(snap, op...)
	}
	if c.out.Control(snap) {
		c.startWriter()
	}
	b.mu.Unlock()
	defer b.wg.Done()
	for {
		if _, _, err := ws.Read(c.ctx); err != nil {
			break
		}
	}
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	c.end()
}

// Close closes every client at once and waits for their goroutines.
func (b *Broadcast) Close() {
	closeAll(&b.mu, &b.closed, b.conns)
	b.wg.Wait()
}
