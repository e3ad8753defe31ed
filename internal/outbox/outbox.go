// Package outbox holds what waits to be written to one WebSocket client and
// writes it out: the per-connection half of a fan-out. The pushmap server
// and the tile-channel and broadcast baselines of the load benchmark
// (bench/) share it, so that the benchmark compares what they send, not how
// they write it.
package outbox

import (
	"errors"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/pushmap/pushmap/wire"
)

// An Outbox holds what waits to be written to one connection: control
// frames (acks, resets, errors) in order, then marker ops, coalesced by
// marker id so that only the latest state of each marker is written. Ops
// are shared, immutable byte slices: the sender encodes an update once and
// puts the same slice in every outbox that needs it.
//
// Cost: Put only appends, because it runs once per delivery, under the
// sender's lock, where anything more (a map keyed by marker id, say) holds
// up every feed and view change; the writer coalesces what it takes, on its
// own goroutine. docs/design.md has the measures.
//
// Ordering: ops put before a control frame are written before it. When a
// control frame arrives, the pending ops become a batch frame of their own
// in the queue first.
//
// Memory: a client that does not read makes the outbox grow until it holds
// Limit bytes; then the outbox coalesces its ops, and if they still fill
// more than half of Limit (so that coalescing runs at most once per
// Limit/2 bytes put) it drops its ops and batch frames and is marked
// behind, and whoever drains it decides what comes next (pushmap queues a
// fresh snapshot, a Reset, with Replace; a baseline closes the client).
// Reply frames (replies to the client's requests, one each) are never
// dropped, so that every request keeps its one reply; they are written
// before the Replace frame (whose state includes what they did). One reply
// may be larger than Limit (the snapshot of a large view); when the other
// replies waiting fill more than Limit, Drain fails with
// ErrRepliesOverLimit: the client asks and does not read, and must be
// closed. Control frames
// are dropped with the ops. So a slow client costs at most Limit bytes
// plus one Replace frame, whatever the update rate.
//
// Writers: Put, Control, Reply, Replace and Wake report when a writer must
// be started; the caller starts one goroutine running Drain, which returns
// once the outbox is empty. No goroutine waits on an idle connection.
type Outbox struct {
	// Limit is the most bytes that may wait (a Replace frame aside): at
	// Limit the outbox coalesces its ops, and drops everything and falls
	// behind if they still fill more than half of it. Set it before first
	// use.
	Limit int
	// Fill, when set before first use, is called by Drain each time it has
	// taken what waits, to append to dst the ops a sender left to the
	// writer to compute (see Wake): ops that come after everything taken,
	// which Drain writes after it, as if they had been put, without their
	// passing through the outbox. unique reports that no two of them share
	// a key, so that they need no coalescing. A sender that puts ops
	// while some are left to Fill must have them put first (PutAll).
	Fill func(dst []Entry) (es []Entry, unique bool)

	mu      sync.Mutex
	queue   []queued // guarded by mu: whole frames, in order
	ops     pending  // guarded by mu: ops in the order put, a marker possibly more than once
	spare   pending  // guarded by mu: the writer's drained slices, kept for reuse
	bytes   int      // guarded by mu: bytes in queue and ops
	reset   int      // guarded by mu: size of a queued Replace frame, not counted against Limit
	behind  bool     // guarded by mu: dropped; Replace must come next
	over    bool     // guarded by mu: the replies alone passed Limit
	writing bool     // guarded by mu: a writer is running
	woken   bool     // guarded by mu: Wake left ops to Fill; the writer must call it once more
	closed  bool     // guarded by mu: the connection is gone; take nothing more
}

// A queued is a frame waiting in the queue. A reply (a Reply frame) is kept
// when the outbox falls behind; the others are not.
type queued struct {
	frame []byte
	reply bool
	group int // on the first frame of a reply: how many frames it has
}

// ErrRepliesOverLimit ends a Drain whose outbox holds more than Limit bytes
// of replies (Reply frames), which it never drops: the client keeps asking
// and does not read.
var ErrRepliesOverLimit = errors.New("outbox: the replies waiting fill more than the limit")

// A Key names what an op is about (a marker, or a cluster or a tile): of
// the ops put under one key, only the last is written. It carries the
// hash of its name, computed once by KeyOf, so that the sender hashes an
// update once however many outboxes it goes to, and the writer coalesces
// without hashing strings.
type Key struct {
	id   string
	hash uint64
}

var keySeed = maphash.MakeSeed()

// KeyOf returns the key named id.
func KeyOf(id string) Key { return Key{id: id, hash: maphash.String(keySeed, id)} }

// ID returns the name of k.
func (k Key) ID() string { return k.id }

// Hash returns the hash of k's name, the same for equal names within the
// process: for spreading keys over workers.
func (k Key) Hash() uint64 { return k.hash }

// Put records op as the latest state of what key names. It reports
// whether a writer must be started.
func (o *Outbox) Put(key Key, op []byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.behind || o.closed {
		return false
	}
	o.putLocked(key, op)
	return o.startLocked()
}

// putLocked appends op under key, coalescing once the ops pass the limit
// and falling behind when coalescing is not enough.
func (o *Outbox) putLocked(key Key, op []byte) {
	o.ops = append(o.ops, entry{key, op})
	o.bytes += len(op)
	if o.bytes > o.Limit+o.reset {
		o.bytes -= o.ops.coalesce(nil)
		if o.bytes > o.Limit/2+o.reset {
			o.fallBehindLocked()
		}
	}
}

// An Entry is an op and the key it is put under, for PutAll.
type Entry struct {
	Key Key
	Op  []byte
}

// PutAll puts the ops of es, in order, as that many calls of Put would,
// under one lock: for a sender that gathered a batch's ops for one outbox.
// It reports whether a writer must be started.
func (o *Outbox) PutAll(es []Entry) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	put := false
	if !o.behind && !o.closed {
		o.ops = slices.Grow(o.ops, len(es))
	}
	for _, e := range es {
		if o.behind || o.closed {
			break
		}
		put = true
		o.putLocked(e.Key, e.Op)
	}
	return put && o.startLocked()
}

// Control appends a whole frame after everything put so far; an outbox
// that falls behind drops it (the Replace that comes next describes the
// state after it). It reports whether a writer must be started. The frame
// may be shared: it is not modified.
func (o *Outbox) Control(frame []byte) (start bool) {
	return o.enqueue(false, frame)
}

// Reply appends a reply to one of the client's requests, in one frame or
// split in several, after everything put so far, as Control does, but it
// is never dropped: an outbox that falls behind keeps it and writes it
// before the Replace that follows (see Memory above).
func (o *Outbox) Reply(frames ...[]byte) (start bool) {
	return o.enqueue(true, frames...)
}

func (o *Outbox) enqueue(reply bool, frames ...[]byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.behind && !reply {
		return false
	}
	o.flushOpsLocked()
	size := 0
	for i, f := range frames {
		q := queued{frame: f, reply: reply}
		if i == 0 {
			q.group = len(frames)
		}
		o.queue = append(o.queue, q)
		size += len(f)
	}
	o.bytes += size
	if o.bytes > o.Limit+o.reset {
		o.fallBehindLocked()
	}
	return o.startLocked()
}

// Replace drops everything waiting but the replies and queues frames after
// them: for frames that describe the client's whole state (one, or one
// split in several). It clears behind.
func (o *Outbox) Replace(frames ...[]byte) (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.dropLocked()
	o.behind = false
	n := 0
	for _, f := range frames {
		o.queue = append(o.queue, queued{frame: f})
		n += len(f)
	}
	o.bytes += n
	o.reset = n
	return o.startLocked()
}

// Wake asks for a writer to compute ops itself: the sender left them to
// Fill, which the writer calls once it has taken what waits. It reports
// whether a writer must be started; whether it starts one or one runs
// already, the writer calls Fill at least once more before it stops, so
// that ops left to Fill after its last call are not left behind.
func (o *Outbox) Wake() (start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.woken = true
	if o.writing {
		return false
	}
	o.writing = true
	return true
}

// Bytes returns how many bytes wait.
func (o *Outbox) Bytes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

// Behind reports whether the outbox fell behind and waits for a Replace.
func (o *Outbox) Behind() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.behind
}

// Close makes the outbox refuse everything from now on and frees what
// waits. A running Drain returns after its current write.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.dropAllLocked()
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
	o.bytes -= o.ops.coalesce(nil)
	size := 5
	for _, e := range o.ops {
		size += len(e.op)
	}
	frame := wire.AppendBatchHeader(make([]byte, 0, size), len(o.ops))
	for _, e := range o.ops {
		frame = append(frame, e.op...)
	}
	o.queue = append(o.queue, queued{frame: frame})
	o.ops.reset()
}

func (o *Outbox) fallBehindLocked() {
	o.dropLocked()
	o.behind = true
	// One reply may be larger than Limit (the snapshot of a large view);
	// more than that waiting means the client asks and does not read.
	if o.bytes-o.largestReplyLocked() > o.Limit {
		o.over = true
	}
}

// largestReplyLocked returns the bytes of the largest reply waiting, its
// frames together.
func (o *Outbox) largestReplyLocked() int {
	largest, cur, left := 0, 0, 0
	for _, q := range o.queue {
		if !q.reply {
			continue
		}
		if left == 0 {
			cur, left = 0, max(q.group, 1)
		}
		cur += len(q.frame)
		if left--; left == 0 {
			largest = max(largest, cur)
		}
	}
	return max(largest, cur)
}

// dropLocked drops the ops and every queued frame but the replies.
func (o *Outbox) dropLocked() {
	kept := o.queue[:0]
	o.bytes = 0
	for _, q := range o.queue {
		if q.reply {
			kept = append(kept, q)
			o.bytes += len(q.frame)
		}
	}
	clear(o.queue[len(kept):])
	o.queue = kept
	o.ops.reset()
	o.reset = 0
}

// dropAllLocked drops everything waiting.
func (o *Outbox) dropAllLocked() {
	clear(o.queue)
	o.queue = o.queue[:0]
	o.ops.reset()
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

// take hands the writer everything waiting: the queued frames and the
// pending ops, which the writer must give back through giveBack. behind
// reports that a Replace must come first, over that the replies passed
// Limit. When nothing waits, take marks the writer as stopped and returns
// done.
func (o *Outbox) take(frames [][]byte) (_ [][]byte, ops pending, behind, over, done bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		o.writing = false
		return frames, ops, false, false, true
	}
	if o.over {
		return frames, ops, false, true, false
	}
	if o.behind {
		return frames, ops, true, false, false
	}
	woken := o.woken
	o.woken = false
	if len(o.queue) == 0 && len(o.ops) == 0 {
		if woken { // Fill has ops to compute: one more round
			return frames, ops, false, false, false
		}
		o.writing = false
		return frames, ops, false, false, true
	}
	for _, q := range o.queue {
		frames = append(frames, q.frame)
	}
	clear(o.queue)
	o.queue = o.queue[:0]
	if len(o.ops) > 0 {
		ops = o.ops
		o.ops = o.spare
		o.spare = nil
	}
	o.bytes, o.reset = 0, 0
	return frames, ops, false, false, false
}

// giveBack returns drained ops for reuse.
func (o *Outbox) giveBack(ops pending) {
	ops.reset()
	o.mu.Lock()
	if o.spare == nil && !o.closed {
		o.spare = ops
	}
	o.mu.Unlock()
}

// An entry is an op waiting, with the key it was put under.
type entry struct {
	key Key
	op  []byte
}

// pending is a list of entries in the order put: one slice, so that a put
// writes one place in memory.
type pending []entry

// reset empties p, keeping its memory; it drops the references to the ops
// so that they can be freed.
func (p *pending) reset() {
	clear(*p)
	*p = (*p)[:0]
}

// coalesce keeps the last op put under each key and returns the bytes of
// the ops it dropped. The order of the ops of different keys may change (a
// batch's ops are independent). table is scratch space for an open-
// addressing set of the keys kept; nil allocates one.
func (p *pending) coalesce(table *[]int32) (dropped int) {
	es := *p
	n := len(es)
	if n < 2 {
		return 0
	}
	size := 16
	for size < 2*n {
		size *= 2
	}
	if table == nil {
		table = new([]int32)
	}
	if cap(*table) < size {
		*table = make([]int32, size)
	}
	t := (*table)[:size]
	clear(t)
	mask := uint64(size - 1)
	// Walk from the end: the first time a key is met is its last op. The
	// kept ops move to the end of the slices (to positions already
	// walked), then down to the start; t holds 1 + the position of each.
	kept := n
next:
	for i := n - 1; i >= 0; i-- {
		k := es[i].key
		for s := k.hash & mask; ; s = (s + 1) & mask {
			j := t[s]
			if j == 0 {
				kept--
				es[kept] = es[i]
				t[s] = int32(kept) + 1
				continue next
			}
			if o := es[j-1].key; o.hash == k.hash && o.id == k.id {
				dropped += len(es[i].op)
				continue next
			}
		}
	}
	if kept == 0 {
		return 0
	}
	m := copy(es, es[kept:])
	clear(es[m:])
	*p = es[:m]
	return dropped
}

// gather puts in sc.ops the ops to write after the frames taken: those
// taken (ops, given back to the outbox once read) and then those Fill
// computed, coalesced by key unless only Fill's, all of different keys.
func (o *Outbox) gather(sc *scratch, ops pending, filled []Entry, unique bool) {
	sc.ops = sc.ops[:0]
	if len(ops) == 0 && unique {
		// The common case of a writer that computes its ops: they go into
		// the frame as they are.
		for _, e := range filled {
			sc.ops = append(sc.ops, e.Op)
		}
		return
	}
	taken := len(ops) > 0
	if !taken {
		ops = sc.merged[:0]
	}
	for _, e := range filled {
		ops = append(ops, entry{e.Key, e.Op})
	}
	ops.coalesce(&sc.table)
	if cap(sc.table) > maxTable {
		sc.table = nil
	}
	for _, e := range ops {
		sc.ops = append(sc.ops, e.op)
	}
	if taken {
		o.giveBack(ops)
		return
	}
	ops.reset()
	sc.merged = ops
}

// errNoBehind ends a Drain given no behind callback when the outbox fell
// behind.
var errNoBehind = errors.New("outbox: fell behind, and Drain has no behind callback")

// scratch is a writer's working memory, pooled so that a writer started for
// one frame allocates nothing.
type scratch struct {
	frames [][]byte
	ops    [][]byte // the ops of the entries taken
	filled []Entry  // what Fill computed
	merged pending  // filled ops to coalesce when none were taken
	buf    []byte
	table  []int32 // for coalescing; dropped when it grew large
}

// maxTable is the largest coalescing table a pooled scratch keeps: a
// writer that coalesced a large backlog does not leave every later writer
// clearing a large table.
const maxTable = 1 << 13

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Drain writes what the outbox holds, in order — queued frames, then the
// pending ops and those Fill computes as batch frames of about maxBatch
// bytes at most — until the outbox is empty or closed, and returns nil. When the outbox fell behind,
// Drain calls behind, which must Replace what it holds or return an error
// (a nil behind ends Drain with an error then). When the replies waiting
// passed Limit, Drain returns ErrRepliesOverLimit.
// A write error or behind's error ends Drain, which returns it; the outbox
// then still counts as having a writer, so the caller should Close it.
// Call Drain from the goroutine started when Put, Control, Reply, Replace
// or Wake said so, and from nowhere else.
func (o *Outbox) Drain(write func(frame []byte) error, maxBatch int, behind func() error) error {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for {
		frames, ops, late, over, done := o.take(sc.frames[:0])
		sc.frames = frames
		if done {
			return nil
		}
		if over {
			return ErrRepliesOverLimit
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
		filled, unique := sc.filled[:0], true
		if o.Fill != nil {
			filled, unique = o.Fill(filled)
		}
		for i, f := range frames {
			err := write(f)
			frames[i] = nil
			if err != nil {
				clear(frames)
				clear(filled)
				return err
			}
		}
		o.gather(sc, ops, filled, unique)
		clear(filled)
		sc.filled = filled[:0]
		if len(sc.ops) > 0 {
			var err error
			sc.buf, err = wire.WriteBatches(sc.buf, sc.ops, maxBatch, write)
			clear(sc.ops)
			if err != nil {
				return err
			}
		}
	}
}
