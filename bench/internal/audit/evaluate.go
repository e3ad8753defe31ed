package audit

import (
	"runtime"
	"sort"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A Window is what Evaluate judges.
type Window struct {
	// From and To bound the ticks whose updates count: [From, To).
	From, To int64
	// Cut: records received after it are left for the next Evaluate
	// (deliveries of the window's updates should have arrived by then).
	Cut int64
	// Samples are the instants at which staleness is sampled, ascending;
	// only the first StaleClients clients are sampled.
	Samples      []int64
	StaleClients int
	// Region holds every marker and view; Cell is the size in degrees
	// (longitude, latitude) of the cells of the spatial indexes Evaluate
	// builds: about a view's size.
	Region geo.Box
	Cell   [2]float64
	// Misses is how many missed updates to list in the Result.
	Misses int
}

// A Result sums what Evaluate found over clients.
type Result struct {
	Deliveries int64 // marker ops pushed (or markers polled) about the window's updates
	Useful     int64 // of those, news about a marker in a possible view

	InView          int64 // updates surely in a client's view
	InViewDelivered int64 // of those, received
	Leaves          int64 // updates surely taking a marker out of a client's view
	LeavesDelivered int64 // of those, received as that version or a removal
	Ambiguous       int64 // updates that a racing view change makes neither
	// Superseded counts, of InViewDelivered and LeavesDelivered, the
	// updates received only as a newer version of the marker (or its
	// removal): coalesced away in an outbox, or skipped between two polls.
	Superseded int64

	StaleSum, StaleMax int64 // nanoseconds, over StaleN samples
	StaleN             int64

	WrongPositions int64 // updates and poll items received at another position than published

	Missed []Miss // the first Window.Misses missed updates
}

// A Miss is an update a client should have received and did not.
type Miss struct {
	Client int // index in the clients given to Evaluate
	M, V   uint32
	Leave  bool
}

// Precision is Useful / Deliveries (1 when nothing was delivered).
func (r *Result) Precision() float64 { return ratio(r.Useful, r.Deliveries) }

// Recall is the share of in-view updates and leaves received (1 when there
// were none).
func (r *Result) Recall() float64 {
	return ratio(r.InViewDelivered+r.LeavesDelivered, r.InView+r.Leaves)
}

// Staleness is the mean staleness in nanoseconds.
func (r *Result) Staleness() float64 {
	if r.StaleN == 0 {
		return 0
	}
	return float64(r.StaleSum) / float64(r.StaleN)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func (r *Result) add(o *Result, misses int) {
	r.Deliveries += o.Deliveries
	r.Useful += o.Useful
	r.InView += o.InView
	r.InViewDelivered += o.InViewDelivered
	r.Leaves += o.Leaves
	r.LeavesDelivered += o.LeavesDelivered
	r.Ambiguous += o.Ambiguous
	r.Superseded += o.Superseded
	r.StaleSum += o.StaleSum
	r.StaleMax = max(r.StaleMax, o.StaleMax)
	r.StaleN += o.StaleN
	r.WrongPositions += o.WrongPositions
	for _, m := range o.Missed {
		if len(r.Missed) < misses {
			r.Missed = append(r.Missed, m)
		}
	}
}

// Evaluate judges the records of clients received up to w.Cut against
// log and j, and drops them: a later Evaluate (of a later window) goes on
// from the state they left. It must not run concurrently with itself on
// the same clients; clients may go on receiving meanwhile.
func Evaluate(log Log, j *Journal, w Window, clients []*Client) Result {
	e := &evaluation{log: log, j: j, w: w}
	e.updates = newGrid(w.Region, w.Cell)
	var pairs []cellItem
	for t := w.From; t < w.To; t++ {
		log.Due(t, func(m, v uint32) {
			p1 := e.updates.cell(log.Pos(m, v))
			pairs = append(pairs, cellItem{p1, key(m, v)})
			if v > 1 {
				if p0 := e.updates.cell(log.Pos(m, v-1)); p0 != p1 {
					pairs = append(pairs, cellItem{p0, key(m, v)})
				}
			}
		})
	}
	e.updates.fill(pairs)
	if w.StaleClients > 0 {
		for _, s := range w.Samples {
			tau := j.SentBy(s)
			if tau < 0 {
				continue
			}
			g := newGrid(w.Region, w.Cell)
			pairs = pairs[:0]
			for m := range uint32(log.Bound(tau)) {
				if v := log.Version(m, tau); v > 0 {
					pairs = append(pairs, cellItem{g.cell(log.Pos(m, v)), uint64(m)})
				}
			}
			g.fill(pairs)
			e.samples = append(e.samples, sample{at: s, tick: tau, markers: g})
		}
	}

	workers := min(runtime.GOMAXPROCS(0), max(len(clients), 1))
	results := make([]Result, workers)
	var wg sync.WaitGroup
	next := make(chan int)
	for i := range workers {
		wg.Go(func() {
			for c := range next {
				e.client(c, clients[c], &results[i])
			}
		})
	}
	for c := range clients {
		next <- c
	}
	close(next)
	wg.Wait()
	var r Result
	for i := range results {
		r.add(&results[i], w.Misses)
	}
	return r
}

type evaluation struct {
	log     Log
	j       *Journal
	w       Window
	updates *grid // the window's updates by the cells of their new and old positions
	samples []sample
}

// A sample is a staleness sample instant with the markers as of the last
// tick published (sent) by then.
type sample struct {
	at      int64
	tick    int64
	markers *grid
}

func key(m, v uint32) uint64       { return uint64(m)<<32 | uint64(v) }
func unkey(k uint64) (m, v uint32) { return uint32(k >> 32), uint32(k) }

// Flags of what a client got of one update.
const (
	gotVersion = 1 << iota // that version, pushed, polled or in a snapshot
	gotRemoval             // a removal attributed to that version
)

func (e *evaluation) inWindow(t int64) bool { return t >= e.w.From && t < e.w.To }

// span returns the interval in which tick t was applied.
func (e *evaluation) span(t int64) (int64, int64) { return e.j.SentAt(t), e.j.AckedAt(t) }

func (e *evaluation) client(idx int, c *Client, r *Result) {
	c.mu.Lock()
	views := append([]View(nil), c.views...)
	var all []Record
	for _, b := range c.recs {
		all = append(all, b...)
	}
	n := sort.Search(len(all), func(i int) bool { return all[i].T > e.w.Cut })
	recs := all[:n]
	c.recs = nil
	for rest := all[n:]; len(rest) > 0; {
		k := min(len(rest), recordBlock)
		c.recs = append(c.recs, append(make([]Record, 0, recordBlock), rest[:k]...))
		rest = rest[k:]
	}
	c.mu.Unlock()

	log := e.log
	got := make(map[uint64]uint8)
	samples := e.samples
	if idx >= e.w.StaleClients {
		samples = nil
	}
	// newest is the latest version of each marker the client learnt of:
	// received, or whose removal it received.
	newest := make(map[uint32]uint32)
	learnt := func(m, v uint32) { newest[m] = max(newest[m], v) }
	var pollOld map[uint32]uint32 // the picture before the current poll answer
	var pollAt int64
	endPoll := func() {
		if pollOld == nil {
			return
		}
		// Markers the answer left out were removed by the client.
		t := e.j.SentBy(pollAt)
		for m := range pollOld {
			if _, ok := c.held[m]; ok {
				continue
			}
			if v := log.Version(m, t); v > 0 {
				learnt(m, v)
				if e.inWindow(log.Tick(m, v)) {
					got[key(m, v)] |= gotRemoval
				}
			}
		}
		pollOld = nil
	}
	for i := 0; i <= len(recs); i++ {
		at := int64(Never)
		if i < len(recs) {
			at = recs[i].T
		}
		for len(samples) > 0 && samples[0].at < at {
			if samples[0].at <= e.w.Cut {
				e.stale(views, c.held, &samples[0], r)
			}
			samples = samples[1:]
		}
		if i == len(recs) {
			endPoll()
			break
		}
		rec := &recs[i]
		if rec.Kind != PollItem {
			endPoll()
		}
		switch rec.Kind {
		case Update, PollItem, Snapshot:
			if rec.Kind != Snapshot && !samePos(log, rec) {
				r.WrongPositions++
			}
			t := log.Tick(rec.M, rec.V)
			if e.inWindow(t) {
				got[key(rec.M, rec.V)] |= gotVersion
				if rec.Kind != Snapshot {
					r.Deliveries++
					if rec.V > c.seen[rec.M] && e.useful(views, rec.M, rec.V, t) {
						r.Useful++
					}
				}
			}
			learnt(rec.M, rec.V)
			c.seen[rec.M] = max(c.seen[rec.M], rec.V)
			c.held[rec.M] = max(c.held[rec.M], rec.V)
		case Remove:
			v := log.Version(rec.M, e.j.SentBy(rec.T))
			_, held := c.held[rec.M]
			delete(c.held, rec.M)
			if v == 0 {
				break
			}
			learnt(rec.M, v)
			if t := log.Tick(rec.M, v); e.inWindow(t) {
				got[key(rec.M, v)] |= gotRemoval
				r.Deliveries++
				if held && v > 1 {
					a0, a1 := e.span(t)
					lo, hi := possible(views, a0, a1)
					if inAny(views, lo, hi, log.Pos(rec.M, v-1)) {
						r.Useful++
					}
				}
			}
		case PollBegin:
			pollOld, pollAt = c.held, rec.T
			c.held = make(map[uint32]uint32, len(pollOld))
		}
	}

	e.recall(idx, views, got, newest, r)
}

// useful reports whether version v of m, published in tick t, was about a
// marker in a view that may have been in force: at its new position, or,
// for a leave, its old one.
func (e *evaluation) useful(views []View, m, v uint32, t int64) bool {
	a0, a1 := e.span(t)
	lo, hi := possible(views, a0, a1)
	if inAny(views, lo, hi, e.log.Pos(m, v)) {
		return true
	}
	return v > 1 && inAny(views, lo, hi, e.log.Pos(m, v-1))
}

// recall classifies every update of the window near the client's views
// and counts those it received, itself or superseded: a version older
// than the newest the client learnt of (newest) counts as delivered by
// that newer version, since the server sends the latest state of a marker,
// not every state (docs/protocol.md).
func (e *evaluation) recall(idx int, views []View, got map[uint64]uint8, newest map[uint32]uint32, r *Result) {
	if len(views) == 0 {
		return
	}
	first, last := e.j.SentAt(e.w.From), e.j.AckedAt(e.w.To-1)
	cand := make(map[uint64]struct{})
	for k := range views {
		if views[k].Sent > last || k+1 < len(views) && views[k+1].Acked < first {
			continue // not in force during the window
		}
		e.updates.query(views[k].Box, func(item uint64) { cand[item] = struct{}{} })
	}
	log := e.log
	for kv := range cand {
		m, v := unkey(kv)
		a0, a1 := e.span(log.Tick(m, v))
		lo, hi := possible(views, a0, a1)
		p1 := log.Pos(m, v)
		var p0 geo.Point
		if v > 1 {
			p0 = log.Pos(m, v-1)
		}
		switch {
		case inAll(views, lo, hi, p1):
			r.InView++
			if got[kv]&gotVersion != 0 {
				r.InViewDelivered++
			} else if newest[m] > v {
				r.InViewDelivered++
				r.Superseded++
			} else if len(r.Missed) < e.w.Misses {
				r.Missed = append(r.Missed, Miss{Client: idx, M: m, V: v})
			}
		case v > 1 && inAll(views, lo, hi, p0) && !inAny(views, lo, hi, p1):
			r.Leaves++
			if got[kv] != 0 {
				r.LeavesDelivered++
			} else if newest[m] > v {
				r.LeavesDelivered++
				r.Superseded++
			} else if len(r.Missed) < e.w.Misses {
				r.Missed = append(r.Missed, Miss{Client: idx, M: m, V: v, Leave: true})
			}
		case inAny(views, lo, hi, p1) || v > 1 && inAny(views, lo, hi, p0):
			r.Ambiguous++
		}
	}
}

// stale adds the staleness sample s of a client whose picture is held and
// whose views are views.
func (e *evaluation) stale(views []View, held map[uint32]uint32, s *sample, r *Result) {
	// The view in force at s, if settled: acknowledged, and the next one
	// not yet sent.
	k := sort.Search(len(views), func(k int) bool { return views[k].Sent > s.at }) - 1
	if k < 0 || views[k].Acked > s.at {
		return
	}
	box, since0 := views[k].Box, views[k].Acked
	log := e.log
	s.markers.query(box, func(item uint64) {
		m := uint32(item)
		vt := log.Version(m, s.tick)
		if !box.Contains(log.Pos(m, vt)) {
			return
		}
		h := held[m]
		var age int64
		if h < vt {
			// The first version of the marker's stay in the view that
			// the client lacks.
			first := vt
			for first-1 > h && first-1 >= 1 && box.Contains(log.Pos(m, first-1)) &&
				e.j.SentAt(log.Tick(m, first-1)) >= since0 {
				first--
			}
			age = s.at - max(e.j.SentAt(log.Tick(m, first)), since0)
		}
		r.StaleSum += age
		r.StaleMax = max(r.StaleMax, age)
		r.StaleN++
	})
}

// A grid is a spatial index of items by the cell of a point: a uniform
// grid over a region, items in one array by cell.
type grid struct {
	region geo.Box
	cw, ch float64
	nx, ny int
	start  []int32 // items of cell i are items[start[i]:start[i+1]]
	items  []uint64
}

type cellItem struct {
	cell int
	item uint64
}

func newGrid(region geo.Box, cell [2]float64) *grid {
	g := &grid{region: region, cw: cell[0], ch: cell[1]}
	g.nx = max(1, min(4096, int((region.East-region.West)/g.cw)+1))
	g.ny = max(1, min(4096, int((region.North-region.South)/g.ch)+1))
	return g
}

func (g *grid) col(lon float64) int {
	return min(max(int((lon-g.region.West)/g.cw), 0), g.nx-1)
}

func (g *grid) row(lat float64) int {
	return min(max(int((lat-g.region.South)/g.ch), 0), g.ny-1)
}

func (g *grid) cell(p geo.Point) int { return g.row(p.Lat)*g.nx + g.col(p.Lon) }

// fill sets the grid's items: a counting sort of pairs by cell.
func (g *grid) fill(pairs []cellItem) {
	g.start = make([]int32, g.nx*g.ny+1)
	for _, p := range pairs {
		g.start[p.cell+1]++
	}
	for i := 1; i < len(g.start); i++ {
		g.start[i] += g.start[i-1]
	}
	g.items = make([]uint64, len(pairs))
	next := append([]int32(nil), g.start[:len(g.start)-1]...)
	for _, p := range pairs {
		g.items[next[p.cell]] = p.item
		next[p.cell]++
	}
}

// query calls fn with the items of every cell that box overlaps (and
// perhaps a few more): callers test containment themselves.
func (g *grid) query(box geo.Box, fn func(item uint64)) {
	parts, n := box.Split()
	for _, b := range parts[:n] {
		x0, x1 := g.col(b.West), g.col(b.East)
		for y := g.row(b.South); y <= g.row(b.North); y++ {
			for x := x0; x <= x1; x++ {
				c := y*g.nx + x
				for _, it := range g.items[g.start[c]:g.start[c+1]] {
					fn(it)
				}
			}
		}
	}
}

// samePos reports whether rec holds the position log published for its
// version.
func samePos(log Log, rec *Record) bool {
	if rec.V == 0 {
		return false
	}
	p := log.Pos(rec.M, rec.V)
	return int64(rec.Lon) == wire.ToE7(p.Lon) && int64(rec.Lat) == wire.ToE7(p.Lat)
}
