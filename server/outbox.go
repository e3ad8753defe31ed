package server

import (
	"sync"

	"github.com/pushmap/pushmap/wire"
)

// An outbox holds what waits to be written to one connection: control
// frames (acks, resets, errors) in order, then marker ops coalesced by
// marker id so that only the latest state of each marker waits. Ops are
// shared, immutable byte slices: the server encodes an update once and puts
// the same slice in every outbox that needs it.
//
// Ordering: ops put before a control frame are written before it. When a
// control frame arrives, the pending ops become a batch frame of their own
// in the queue first.
//
// Memory: a client that does not read makes the outbox grow until it holds
// limit bytes; then the outbox drops everything and is marked behind, and
// the connection's writer replaces it with a fresh snapshot (a Reset). So a
// slow client costs at most limit bytes plus one copy of its view, whatever
// the update rate.
type outbox struct {
	limit int

	mu      sync.Mutex
	queue   [][]byte          // guarded by mu: whole frames, in order
	ops     map[string][]byte // guarded by mu: marker id → latest op
	spare   map[string][]byte // guarded by mu: the writer's drained map, kept for reuse
	bytes   int               // guarded by mu: bytes in queue and ops
	reset   int               // guarded by mu: size of a queued reset frame, not counted against limit
	behind  bool              // guarded by mu: dropped; a reset must come next
	writing bool              // guarded by mu: a writer goroutine is running
	closed  bool              // guarded by mu: the connection is gone; take nothing more
}

// put records op as the latest state of marker id. It reports whether a
// writer must be started.
func (o *outbox) put(id string, op []byte) (start bool) {
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

// control appends a whole frame after everything put so far. It reports
// whether a writer must be started.
func (o *outbox) control(frame []byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.behind || o.closed {
		// The reset that comes next describes the state after this
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

// replace drops everything waiting and queues frame in its place: used for
// resets, which describe the client's whole state.
func (o *outbox) replace(frame []byte) (start bool) {
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

// flushOpsLocked turns the pending ops into a batch frame at the end of the
// queue.
func (o *outbox) flushOpsLocked() {
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

func (o *outbox) overflowLocked() {
	if o.bytes > o.limit+o.reset {
		o.dropLocked()
		o.behind = true
	}
}

func (o *outbox) dropLocked() {
	clear(o.queue)
	o.queue = o.queue[:0]
	clear(o.ops)
	o.bytes = 0
	o.reset = 0
}

func (o *outbox) startLocked() bool {
	if o.writing || o.closed {
		return false
	}
	o.writing = true
	return true
}

// take hands the writer everything waiting: the queued frames and the map of
// pending ops, which the writer must give back through giveBack. behind
// reports that a reset must be made first. When nothing waits, take marks
// the writer as stopped and returns done.
func (o *outbox) take(frames [][]byte) (_ [][]byte, ops map[string][]byte, behind, done bool) {
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
func (o *outbox) giveBack(ops map[string][]byte) {
	clear(ops)
	o.mu.Lock()
	if o.spare == nil {
		o.spare = ops
	}
	o.mu.Unlock()
}

// close makes the outbox refuse everything from now on and frees what waits.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.dropLocked()
	o.ops, o.spare = nil, nil
	o.mu.Unlock()
}
