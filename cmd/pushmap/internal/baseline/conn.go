package baseline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/wire"
)

// closeTooSlow is the close code of a client that fell OutboxBytes behind,
// pushmap's wire.CloseTooSlow.
const closeTooSlow = wire.CloseTooSlow

// maxBatchBytes caps a batch frame written from an outbox, as in pushmap.
const maxBatchBytes = 64 << 10

// An outbox holds what waits to be written to one client, as pushmap's
// does: whole frames in order, then marker ops coalesced by marker id.
// Ops put before a frame are written before it.
type outbox struct {
	limit int

	mu      sync.Mutex
	queue   [][]byte          // guarded by mu
	ops     map[string][]byte // guarded by mu: marker id → latest op
	spare   map[string][]byte // guarded by mu
	bytes   int               // guarded by mu
	over    bool              // guarded by mu: past the limit; the client must go
	writing bool              // guarded by mu: a writer goroutine runs
	closed  bool              // guarded by mu
}

// put records op as the latest state of marker id and reports whether a
// writer must start.
func (o *outbox) put(id string, op []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.over || o.closed {
		return false
	}
	if o.ops == nil {
		o.ops = make(map[string][]byte)
	}
	if old, ok := o.ops[id]; ok {
		o.bytes -= len(old)
	}
	o.ops[id] = op
	o.bytes += len(op)
	o.overflowLocked()
	return o.startLocked()
}

// frame queues a whole frame after everything put so far and reports
// whether a writer must start. The frame may be shared: it is not
// modified.
func (o *outbox) frame(f []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.over || o.closed {
		return false
	}
	if len(o.ops) > 0 {
		size := 5
		for _, op := range o.ops {
			size += len(op)
		}
		b := wire.AppendBatchHeader(make([]byte, 0, size), len(o.ops))
		for _, op := range o.ops {
			b = append(b, op...)
		}
		o.queue = append(o.queue, b)
		clear(o.ops)
	}
	o.queue = append(o.queue, f)
	o.bytes += len(f)
	o.overflowLocked()
	return o.startLocked()
}

func (o *outbox) overflowLocked() {
	if o.bytes > o.limit {
		clear(o.queue)
		o.queue = o.queue[:0]
		clear(o.ops)
		o.bytes = 0
		o.over = true
	}
}

func (o *outbox) startLocked() bool {
	if o.writing || o.closed {
		return false
	}
	o.writing = true
	return true
}

// take hands the writer what waits; done reports that the writer must
// stop (nothing waits, or the outbox is closed), over that the client
// fell behind.
func (o *outbox) take(frames [][]byte) (_ [][]byte, ops map[string][]byte, over, done bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		o.writing = false
		return frames, nil, false, true
	case o.over:
		return frames, nil, true, false
	case len(o.queue) == 0 && len(o.ops) == 0:
		o.writing = false
		return frames, nil, false, true
	}
	frames = append(frames, o.queue...)
	clear(o.queue)
	o.queue = o.queue[:0]
	if len(o.ops) > 0 {
		ops, o.ops, o.spare = o.ops, o.spare, nil
	}
	o.bytes = 0
	return frames, ops, false, false
}

func (o *outbox) giveBack(ops map[string][]byte) {
	clear(ops)
	o.mu.Lock()
	if o.spare == nil {
		o.spare = ops
	}
	o.mu.Unlock()
}

func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.queue, o.ops, o.spare, o.bytes = nil, nil, nil, 0
	o.mu.Unlock()
}

// A conn is one WebSocket client of a broker, with its outbox and the
// writer goroutine that drains it while it holds something.
type conn struct {
	ws      *websocket.Conn
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	wg      *sync.WaitGroup // the broker's: counts writer goroutines
	out     outbox
}

func newConn(ws *websocket.Conn, o *Options, wg *sync.WaitGroup) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	ws.SetReadLimit(o.MaxFrameBytes)
	return &conn{ws: ws, ctx: ctx, cancel: cancel, timeout: o.WriteTimeout, wg: wg, out: outbox{limit: o.OutboxBytes}}
}

// startWriter starts the writer; the outbox said none runs.
func (c *conn) startWriter() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.writeLoop()
	}()
}

func (c *conn) writeLoop() {
	var frames [][]byte
	var buf []byte
	for {
		var ops map[string][]byte
		var over, done bool
		frames, ops, over, done = c.out.take(frames[:0])
		if done {
			return
		}
		if over {
			c.out.close()
			c.ws.Close(closeTooSlow, "client too slow")
			c.cancel()
			return
		}
		for i, f := range frames {
			if err := c.write(f); err != nil {
				c.fail()
				return
			}
			frames[i] = nil
		}
		if len(ops) > 0 {
			var err error
			buf, err = wire.WriteBatches(buf, ops, maxBatchBytes, c.write)
			c.out.giveBack(ops)
			if err != nil {
				c.fail()
				return
			}
		}
	}
}

func (c *conn) write(frame []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

func (c *conn) fail() {
	c.out.close()
	c.ws.CloseNow()
	c.cancel()
}

// errBadMessage is returned for a client frame that is not a valid
// subscription.
var errBadMessage = errors.New("baseline: bad message")
