// Package audit judges what the clients of a load run received against
// what was published: precision, recall and staleness, by one rule for
// every approach (pushmap, tile channels, broadcast, polling).
//
// # The rule
//
// Times are nanoseconds on the load generator's clock, which both publishes
// the updates and runs the clients, so no clocks need agreeing. The
// generator knows two intervals for everything the server applies:
//
//   - an update (a tick, one feed batch) was applied at some instant of
//     [sent, acked]: between the start of its POST and its answer;
//   - a view was applied at some instant of [Sent, Acked]: between the
//     client sending it and the client receiving its acknowledgement (for
//     polling: the request that first asked for the box and its answer;
//     for broadcast, which filters in the client: the pan itself).
//
// The views that may have been in force when an update was applied are
// those that may have been applied by the end of the update's interval and
// not yet replaced at its start ("no view yet" before the first). An update
// of marker m from p0 to p1 is
//
//   - in view for a client when every such view holds p1;
//   - a leave when every such view holds p0 and none holds p1;
//   - ambiguous when the views disagree (a pan raced the update): it counts
//     neither for nor against anyone.
//
// Recall is the share of in-view updates and leaves the client learnt:
// it received that exact version of the marker (pushed, in a snapshot, or
// in a poll answer) or, for a leave, that version or a removal of the
// marker (pushed, or its absence from a poll answer), or it received a
// newer version of the marker or a removal attributed to one (Remove
// records): the update was superseded. The servers send each client the
// latest state of a marker, not every state (docs/protocol.md, "Consecutive
// changes of one marker that a client has not yet been sent are
// coalesced"), so a writer that falls a marker's period behind skips
// versions by design; what it costs the client is in the latency and
// staleness figures, and Result.Superseded counts them. The newest version
// of each marker published in the window has nothing newer to supersede
// it: a client that does not end with it has missed it.
//
// Precision is the share of deliveries (marker ops pushed to the client, or
// markers in a poll answer; snapshots of a new view are not deliveries) that
// told the client something new (a version it had not received) about a
// marker inside a view that may have been in force: its new position, or,
// for a leave, its old one.
//
// Staleness is sampled: at regular instants, for each audited client whose
// view is settled, for each marker inside that view as of the last update
// published (sent to the server), how long the client's copy has been out
// of date: zero if it holds that version, otherwise the time since the
// first version it lacks was published, or since its view was
// acknowledged if later. Like latency, it counts from publication, so it
// includes the server's time to apply an update.
//
// Only updates published in the evaluated window count; records of others
// only advance the client's state.
package audit

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pushmap/pushmap/geo"
)

// Log is what was published, as a pure function of marker and version:
// *fleet.Fleet implements it. Versions start at 1; ticks at 0.
type Log interface {
	// Pos returns where marker m is at version v.
	Pos(m, v uint32) geo.Point
	// Tick returns the tick that published version v of m.
	Tick(m, v uint32) int64
	// Version returns the version of m once tick t was applied, 0 when m
	// did not exist yet.
	Version(m uint32, t int64) uint32
	// Due calls fn for every version that tick t published.
	Due(t int64, fn func(m, v uint32))
	// Bound returns n such that only markers below n exist at tick t.
	Bound(t int64) int
}

// Never is the time of an acknowledgement that never came.
const Never = math.MaxInt64

// A Journal records when each tick was sent to the server and when the
// server acknowledged it. One goroutine (the publisher) records, in tick
// order; any goroutine may read concurrently.
type Journal struct {
	sent, acked []atomic.Int64
	last        atomic.Int64 // last tick sent; -1 before the first
}

// NewJournal returns a Journal for ticks 0 to ticks-1.
func NewJournal(ticks int64) *Journal {
	j := &Journal{sent: make([]atomic.Int64, ticks), acked: make([]atomic.Int64, ticks)}
	j.last.Store(-1)
	return j
}

// Sent records that tick t was sent at time at. Ticks must be sent in
// order, each after the previous one was acknowledged.
func (j *Journal) Sent(t, at int64) {
	j.sent[t].Store(at)
	j.acked[t].Store(Never)
	j.last.Store(t)
}

// Acked records that the server acknowledged tick t at time at.
func (j *Journal) Acked(t, at int64) { j.acked[t].Store(at) }

// Last returns the last tick sent, -1 if none.
func (j *Journal) Last() int64 { return j.last.Load() }

// SentAt returns when tick t was sent; 0 if it was not.
func (j *Journal) SentAt(t int64) int64 {
	if t < 0 || t >= int64(len(j.sent)) {
		return 0
	}
	return j.sent[t].Load()
}

// AckedAt returns when tick t was acknowledged, Never if it was not.
func (j *Journal) AckedAt(t int64) int64 {
	if t < 0 || t > j.Last() {
		return Never
	}
	return j.acked[t].Load()
}

// SentBy returns the last tick sent at or before time at, -1 if none.
func (j *Journal) SentBy(at int64) int64 {
	n := int(j.Last() + 1)
	i := sort.Search(n, func(i int) bool { return j.sent[i].Load() > at })
	return int64(i - 1)
}

// AckedBy returns the last tick acknowledged at or before time at, -1 if
// none.
func (j *Journal) AckedBy(at int64) int64 {
	n := int(j.Last() + 1)
	i := sort.Search(n, func(i int) bool { return j.acked[i].Load() > at })
	return int64(i - 1)
}

// Kind says what a Record is.
type Kind uint8

// The kinds of Record.
const (
	// Update: a marker op pushed to the client that sets marker M to
	// version V.
	Update Kind = iota
	// Remove: a marker op pushed to the client that removes marker M. Its
	// version is the marker's latest one published by time T.
	Remove
	// Snapshot: marker M at version V came with a view's acknowledgement
	// or a reset (not a delivery).
	Snapshot
	// PollBegin: a poll answer received at time T; the PollItem records
	// that follow replace the client's whole picture.
	PollBegin
	// PollItem: marker M at version V in the poll answer just begun.
	PollItem
)

// A Record is one thing a client received.
type Record struct {
	T    int64 // when it was received
	M, V uint32
	Kind Kind
	// Lon and Lat are the position received with an Update or a PollItem,
	// in units of 1e-7 degrees, checked against Log.Pos by Evaluate (off
	// the clients' hot path).
	Lon, Lat int32
}

// A View is one view change of a client: the box it asked for, when the
// request was sent and when its acknowledgement arrived (Never if it did
// not).
type View struct {
	Box          geo.Box
	Sent, Acked  int64
	acknowledged bool
}

// A Client is the audit trail of one client: its views and what it
// received. Its methods are safe for concurrent use.
type Client struct {
	mu    sync.Mutex
	views []View     // guarded by mu; Sent and Acked nondecreasing
	recs  [][]Record // guarded by mu: blocks of recordBlock records; T nondecreasing

	// The client's state as of the records evaluated so far; owned by
	// Evaluate.
	seen map[uint32]uint32 // marker → highest version ever received
	held map[uint32]uint32 // marker → version the client shows now
}

// NewClient returns an empty audit trail.
func NewClient() *Client {
	return &Client{seen: map[uint32]uint32{}, held: map[uint32]uint32{}}
}

// ViewSent records that the client asked for box at time at.
func (c *Client) ViewSent(box geo.Box, at int64) {
	c.mu.Lock()
	c.views = append(c.views, View{Box: box, Sent: at, Acked: Never})
	c.mu.Unlock()
}

// ViewAcked records that the view box was acknowledged at time at: the
// earliest view not yet acknowledged, which must have that box. Views
// skipped over (never acknowledged) are taken as acknowledged then too. It
// reports false when no view waits with that box.
func (c *Client) ViewAcked(box geo.Box, at int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.views {
		v := &c.views[i]
		if v.acknowledged || v.Box != box {
			continue
		}
		for k := range c.views[:i+1] {
			if !c.views[k].acknowledged {
				c.views[k].acknowledged, c.views[k].Acked = true, at
			}
		}
		return true
	}
	return false
}

// recordBlock is how many records a block holds. Records go in blocks so
// that a client receiving for long never copies what it holds to grow it,
// as a slice growing by doubling would, on the cores the generator shares
// with the server under test.
const recordBlock = 1024

// Add records what the client received, in the order received.
func (c *Client) Add(rs ...Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(rs) > 0 {
		n := len(c.recs)
		if n == 0 || len(c.recs[n-1]) == recordBlock {
			c.recs = append(c.recs, make([]Record, 0, recordBlock))
			n++
		}
		last := &c.recs[n-1]
		k := min(len(rs), recordBlock-len(*last))
		*last = append(*last, rs[:k]...)
		rs = rs[k:]
	}
}

// Views returns a copy of the client's view history.
func (c *Client) Views() []View {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]View(nil), c.views...)
}

// possible returns the range [lo, hi] of views that may have been in force
// at some instant of [a0, a1]; -1 stands for "no view yet".
func possible(views []View, a0, a1 int64) (lo, hi int) {
	// hi: the last view that may have been applied by a1.
	hi = sort.Search(len(views), func(k int) bool { return views[k].Sent > a1 }) - 1
	// lo: the first view k whose successor may not yet be applied at a0.
	lo = sort.Search(len(views), func(k int) bool { return views[k].Acked >= a0 }) - 1
	return min(lo, hi), hi
}

// inAll reports whether p is inside every view of [lo, hi].
func inAll(views []View, lo, hi int, p geo.Point) bool {
	if lo < 0 {
		return false
	}
	for k := lo; k <= hi; k++ {
		if !views[k].Box.Contains(p) {
			return false
		}
	}
	return true
}

// inAny reports whether p is inside some view of [lo, hi].
func inAny(views []View, lo, hi int, p geo.Point) bool {
	for k := max(lo, 0); k <= hi; k++ {
		if views[k].Box.Contains(p) {
			return true
		}
	}
	return false
}
