// Package outbox holds what waits to be written to one WebSocket client and
// writes it out: the per-connection half of a fan-out. The pushmap server
// and the tile-channel and broadcast baselines of `pushmap bench` share it,
// so that the benchmark compares what they send, not how they write it.
package outbox

import (
	"errors"
	"sync"

	"github.com/pushmap/pushmap/wire"
)

// An Outbox holds what waits to be written to one connection: control
// frames (acks, resets, errors) in order, then marker ops coalesced by
// marker id so that only the latest state of each marker waits. Ops are
// shared, immutable byte slices: the sender encodes an update once and puts
// the same slice in every outbox that needs it.
//
// Ordering: ops put before a control frame are written before it. When a
// control frame arrives, the pending ops become a batch frame of their own
// in the queue first.
//
// Memory: a client that does not read makes the outbox grow until it holds
// Limit bytes; then the outbox drops everything and is marked behind, and
// whoever drains it decides what comes next (pushmap replaces it with a
// fresh snapshot, a Reset; a baseline closes the client). So a slow client
// costs at most Limit bytes plus one Replace frame, whatever the update
// rate.
//
// Writers: Put, Control and Replace report when a writer must be started;
// the caller starts one goroutine running Drain, which returns once the
// outbox is empty. No goroutine waits on an idle connection.
type Outbox struct {
	// Limit is the most bytes that may wait (a Replace frame aside) before
	// the outbox drops them and falls behind. Set it before first use.
	Limit int

	mu      sync.Mutex
	queue   [][]byte          // guarded by mu: whole frames, in order
	ops     map[string][]byte // guarded by mu: marker id → latest op
	spare   map[string][]byte // guarded by mu: the writer's drained map, kept for reuse
	bytes   int               // guarded by mu: bytes in queue and ops
	reset   int               // guarded by mu: size of a queued Replace frame, not counted against Limit
	behind  bool              // guarded by mu: dropped; Replace must come next
	writing bool              // guarded by mu: a writer is running
	closed  bool              // guarded by mu: the connection is gone; take nothing more
}

// Put records op as the latest state of marker id. It reports whether a
// writer must be started.
func (o *Outbox) Put(id string, op []byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.behind || o.closed {
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

// Control appends a whole frame after everything put so far. It reports
// whether a writer must be started. The frame may be shared: it is not
// modified.
func (o *Outbox) Control(frame []byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.behind || o.closed {
		// The Replace that comes next describes the state after this
		// frame too, except for errors and acks, which the client can
		// do without: they are advisory once its cache is replaced.
		return false
	}
	o.flushOpsLocked()
	o.queue = append(o.queue, frame)
	o.bytes += len(frame)
	o.overflowLocked()
	return o.startLocked()
}

// Replace drops everything waiting and queues frame in its place: for
// frames that describe the client's whole state. It clears behind.
func (o *Outbox) Replace(frame []byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.dropLocked()
	o.behind = false
	o.queue = append(o.queue, frame)
	o.bytes = len(frame)
	o.reset = len(frame)
	return o.startLocked()
}

// Bytes returns how many bytes wait.
func (o *Outbox) Bytes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

// Close makes the outbox refuse everything from now on and frees what
// waits. A running Drain returns after its current write.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.dropLocked()
	o.ops, o.spare = nil, nil
	o.mu.Unlock()
}

// Hold marks the outbox as having a writer without starting one, so that
// nothing reports one must be started: for benchmarks that look at what
// waits and never write it.
func (o *Outbox) Hold() {
	o.mu.Lock()
	o.writing = true
	o.mu.Unlock()
}

// flushOpsLocked turns the pending ops into a batch frame at the end of the
// queue.
func (o *Outbox) flushOpsLocked() {
	if len(o.ops) == 0 {
		return
	}
	size := 5
	for _, op := range o.ops {
		size += len(op)
	}
	frame := wire.AppendBatchHeader(make([]byte, 0, size), len(o.ops))
	for _, op := range o.ops {
		frame = append(frame, op...)
	}
	o.queue = append(o.queue, frame)
	clear(o.ops)
}

func (o *Outbox) overflowLocked() {
	if o.bytes > o.Limit+o.reset {
		o.dropLocked()
		o.behind = true
	}
}

func (o *Outbox) dropLocked() {
	clear(o.queue)
	o.queue = o.queue[:0]
	clear(o.ops)
	o.bytes = 0
	o.reset = 0
}

func (o *Outbox) startLocked() bool {
	if o.writing || o.closed {
		return false
	}
	o.writing = true
	return true
}

// take hands the writer everything waiting: the queued frames and the map of
// pending ops, which the writer must give back through giveBack. behind
// reports that a Replace must come first. When nothing waits, take marks
// the writer as stopped and returns done.
func (o *Outbox) take(frames [][]byte) (_ [][]byte, ops map[string][]byte, behind, done bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		o.writing = false
		return frames, nil, false, true
	}
	if o.behind {
		return frames, nil, true, false
	}
	if len(o.queue) == 0 && len(o.ops) == 0 {
		o.writing = false
		return frames, nil, false, true
	}
	frames = append(frames, o.queue...)
	clear(o.queue)
	o.queue = o.queue[:0]
	if len(o.ops) > 0 {
		ops = o.ops
		o.ops = o.spare
		o.spare = nil
	}
	o.bytes, o.reset = 0, 0
	return frames, ops, false, false
}

// giveBack returns a drained ops map for reuse.
func (o *Outbox) giveBack(ops map[string][]byte) {
	clear(ops)
	o.mu.Lock()
	if o.spare == nil && !o.closed {
		o.spare = ops
	}
	o.mu.Unlock()
}

// errNoBehind ends a Drain given no behind callback when the outbox fell
// behind.
var errNoBehind = errors.New("outbox: fell behind, and Drain has no behind callback")

// scratch is a writer's working memory, pooled so that a writer started for
// one frame allocates nothing.
type scratch struct {
	frames [][]byte
	buf    []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Drain writes what the outbox holds, in order — queued frames, then the
// pending ops as batch frames of about maxBatch bytes at most — until the
// outbox is empty or closed, and returns nil. When the outbox fell behind,
// Drain calls behind, which must Replace what it holds or return an error
// (a nil behind ends Drain with an error then).
// A write error or behind's error ends Drain, which returns it; the outbox
// then still counts as having a writer, so the caller should Close it.
// Call Drain from the goroutine started when Put, Control or Replace said
// so, and from nowhere else.
func (o *Outbox) Drain(write func(frame []byte) error, maxBatch int, behind func() error) error {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for {
		frames, ops, late, done := o.take(sc.frames[:0])
		sc.frames = frames
		if done {
			return nil
		}
		if late {
			if behind == nil {
				return errNoBehind
			}
			if err := behind(); err != nil {
				return err
			}
			continue
		}
		for i, f := range frames {
			err := write(f)
			frames[i] = nil
			if err != nil {
				clear(frames)
				return err
			}
		}
		if len(ops) > 0 {
			var err error
			sc.buf, err = wire.WriteBatches(sc.buf, ops, maxBatch, write)
			o.giveBack(ops)
			if err != nil {
				return err
			}
		}
	}
}
