package server

import (
	"bytes"
	"math"
	"sync"
	"sync/atomic"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// A large batch's fan-out done by its writers (issue 13; docs/design.md,
// "A large batch pulled by its writers").
//
// Fanned out by cells (fangrid.go), a feed's batch of thousands of moves
// reached the first client only once every op of it was in its outbox: any
// cell may give any connection an op, so no writer could start before the
// last cell was done. With 2,000 clients that was 3–6 ms added to every
// delivery of the batch. A batch that is pulled is sorted into cells the
// same way, once the store has it; then, still under Server.mu, every
// connection with a view in the batch's bounds is given the batch
// (pulls.batch) and woken, and the lock is let go. Each connection's
// writer, once it has taken what waits in the outbox (outbox.Outbox.Fill),
// looks up the cells its views meet and tests their jobs against its
// boxes, exactly as the cell's fan-out tests its candidates, and writes
// the ops it finds after what it took, in the same frame, without putting
// them in the outbox. The first clients are written to as soon as the
// store has the batch, and the fan-out's work is spread over the writers,
// each on a connection of its own, hot in its cache.
//
// Order. Whatever else may reach a connection's outbox, or change what
// the pull reads (its views, its layers, its grant), first settles the
// batch it was given (settle: the batch's ops put in the outbox): the
// next batch's fan-out (fanWorker.deliver and the cells' PutAll), a view
// change, an unview, a change of layers or grant, the next batch given; a
// reset drops it instead (its state, read from the store, holds it), and
// so does leaving. All of these hold Server.mu, under which no batch is
// given out, so a connection's ops still reach its outbox in the order of
// the batches. The writer pulls after it took what waits: whatever the
// outbox held then came before the batch (anything later settled it
// first), and whatever is put after the pull waits for the writer's next
// round. The pull reads the connection's views under pulls.mu only:
// whatever changes them settles first, taking that lock, and no batch is
// given while another holds Server.mu.
//
// The jobs of markers that appear more than once in the batch are tested
// by every connection against all its boxes, in the batch's order
// (batchCells.dups); a batch with many of them is not pulled.

// pullDupShare: a batch in which more than one update in pullDupShare is
// of a marker that appears more than once fans out by cells instead.
const pullDupShare = 8

// pullSeq numbers the pulled batches, for giving each connection a batch
// once however many of its boxes meet the batch's bounds.
var pullSeq atomic.Uint64

// A pullBatch is a batch whose writers fan it out. Read only once given
// out, but for removals. Its memory (the jobs, the cells) is used again
// for a later batch once no connection holds it (refs), so that a batch
// allocates nothing in the steady state: at 30,000 updates a second, a
// batch's jobs and cells made afresh were about 40% of what the server
// allocated, and its collections every two seconds slowed the batches
// they overlapped.
type pullBatch struct {
	seq   uint64
	jobs  []fanJob
	cells *batchCells
	// removals holds each job's removal op, encoded by the first
	// connection that needs it.
	removals []atomic.Pointer[[]byte]
	// refs counts the connections given the batch that have not pulled or
	// dropped it yet, and the giving itself while it runs.
	refs atomic.Int32
	pool *pullPool
}

// A pullPool keeps pulled batches that no connection holds any more.
type pullPool struct {
	mu    sync.Mutex
	spare []*pullBatch // guarded by mu
}

// maxSparePulls is how many spare batches a pool keeps.
const maxSparePulls = 4

// take returns a spare batch, or a new one.
func (pp *pullPool) take() *pullBatch {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if n := len(pp.spare); n > 0 {
		b := pp.spare[n-1]
		pp.spare[n-1] = nil
		pp.spare = pp.spare[:n-1]
		return b
	}
	return &pullBatch{pool: pp, cells: new(batchCells)}
}

// release drops one hold on b; the last one gives b back to its pool,
// emptied.
func (b *pullBatch) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	clear(b.jobs) // the ops and names may go
	b.jobs = b.jobs[:0]
	b.cells.reset()
	clear(b.removals)
	pp := b.pool
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if len(pp.spare) < maxSparePulls {
		pp.spare = append(pp.spare, b)
	}
}

// pulls is what a connection's writer has to pull: one batch at most, as
// the next batch given settles the last one first.
type pulls struct {
	mu    sync.Mutex // held while the batch is pulled
	batch atomic.Pointer[pullBatch]
	given uint64 // guarded by Server.mu: seq of the last batch given
}

// pullable reports whether a batch, sorted into cells, is pulled rather
// than fanned out by cells.
func pullable(b *batchCells, jobs int) bool { return len(b.dups)*pullDupShare <= jobs }

// givePullLocked gives the batch in f.jobs, sorted into f.cells, to every
// connection with a marker-mode view in its bounds, and returns the
// connections whose writers must start, appended to wake, or added to
// f.giving when a run is open to write them at once. The batch takes
// f.jobs and f.cells, and leaves there, in their place, those of a batch no
// connection holds any more.
func (f *fanOut) givePullLocked(s *Server, wake []*conn) []*conn {
	b := f.pulls.take()
	jobs := f.jobs
	b.seq, b.jobs, f.jobs = pullSeq.Add(1), jobs, b.jobs[:0]
	b.cells, f.cells = f.cells, b.cells
	if cap(b.removals) < len(jobs) {
		b.removals = make([]atomic.Pointer[[]byte], len(jobs))
	}
	b.removals = b.removals[:len(jobs)]
	b.refs.Store(1) // the giving's own hold
	defer b.release()
	lo := [2]float64{math.Inf(1), math.Inf(1)}
	hi := [2]float64{math.Inf(-1), math.Inf(-1)}
	widen := func(p geo.Point) {
		lo[0], lo[1] = min(lo[0], p.Lon), min(lo[1], p.Lat)
		hi[0], hi[1] = max(hi[0], p.Lon), max(hi[1], p.Lat)
	}
	for i := range jobs {
		widen(jobs[i].at)
		if jobs[i].moved {
			widen(jobs[i].from)
		}
	}
	s.views.Search(lo, hi, func(_, _ [2]float64, vp *viewPart) bool {
		c := vp.c
		if c.pull.given == b.seq {
			return true
		}
		c.pull.given = b.seq
		// A writer that has not pulled the last batch yet (its client
		// reads slowly, or not at all) has it pulled here: what waits
		// for a connection stays in its outbox, under the outbox's
		// limit, not in batches kept for it.
		c.settle()
		b.refs.Add(1)
		c.pull.batch.Store(b)
		switch {
		case !c.out.Wake():
		case f.giving != nil:
			f.giving.add(c)
		default:
			wake = append(wake, c)
		}
		return true
	})
	return wake
}

// settle puts in c's outbox the ops of the batch it was given and has not
// pulled yet: called, Server.mu held, before anything else reaches the
// outbox or changes what the pull reads (see Order above), and before the
// next batch is given to c, so that a connection waits for one batch at
// most. Its writer pulls them itself (pullInto).
func (c *conn) settle() {
	if c.pull.batch.Load() != nil {
		c.settleWaiting()
	}
}

func (c *conn) settleWaiting() {
	p := pullScratchPool.Get().(*pullScratch)
	es, _ := c.pullInto(p.entries[:0], p)
	if len(es) > 0 && c.out.PutAll(es) {
		// Not expected: the batch woke the writer, which pulls before
		// it stops. Whoever is told starts one.
		c.startWriter()
	}
	clear(es)
	p.entries = es[:0]
	pullScratchPool.Put(p)
}

// fill is c's writer's outbox.Outbox.Fill: the ops of the batch c was
// given and has not pulled yet, appended to dst, written by the writer
// after what it took from the outbox without passing through it.
func (c *conn) fill(dst []outbox.Entry) ([]outbox.Entry, bool) {
	if c.pull.batch.Load() == nil {
		return dst, true
	}
	p := pullScratchPool.Get().(*pullScratch)
	dst, unique := c.pullInto(dst, p)
	pullScratchPool.Put(p)
	return dst, unique
}

// pullInto appends to dst the ops of the batch c was given and has not
// pulled yet, if any, and forgets the batch; unique reports that no two of
// them share a key (see opsFor).
func (c *conn) pullInto(dst []outbox.Entry, p *pullScratch) (_ []outbox.Entry, unique bool) {
	c.pull.mu.Lock()
	defer c.pull.mu.Unlock()
	b := c.pull.batch.Load()
	if b == nil {
		return dst, true // pulled meanwhile
	}
	n := len(dst)
	dst, unique = b.opsFor(c, dst, p)
	c.pull.batch.Store(nil)
	b.release()
	c.s.counters.delivered.Add(int64(len(dst) - n))
	return dst, unique
}

// dropPulls forgets the batch c was given: for a reset, whose state read
// from the store holds it, and for a connection that leaves.
func (c *conn) dropPulls() {
	if c.pull.batch.Load() == nil {
		return
	}
	c.pull.mu.Lock()
	if b := c.pull.batch.Swap(nil); b != nil {
		b.release()
	}
	c.pull.mu.Unlock()
}

// pullScratch is a pull's working memory, pooled: pulls run on whichever
// goroutine writes or settles the connection.
type pullScratch struct {
	entries []outbox.Entry
	boxes   []candidate
	enc     *wire.Encoder
}

var pullScratchPool = sync.Pool{New: func() any { return &pullScratch{enc: wire.NewEncoder()} }}

// opsFor appends to es the ops of b for c: for each box of its marker-mode
// views, the jobs of the cells the box meets tested as the cell's fan-out
// tests a candidate (candidate.opOf), then the jobs of the markers that
// appear more than once, in the batch's order, against every box. unique
// reports that no two of the ops appended share a key: a job gives one
// box one op at most, so only several boxes, or the markers that appear
// more than once, may give a marker two.
func (b *pullBatch) opsFor(c *conn, es []outbox.Entry, p *pullScratch) (_ []outbox.Entry, unique bool) {
	first := len(es)
	cells := b.cells
	p.boxes = c.boxes(p.boxes[:0])
	for k := range p.boxes {
		cand := &p.boxes[k]
		// The cells of the points the box may hold: the division and
		// floor that give a point its cell are monotonic, so a point in
		// the box has its cell in this range.
		x0, x1 := int64(math.Floor(cand.west/cells.w)), int64(math.Floor(cand.east/cells.w))
		y0, y1 := int64(math.Floor(cand.south/cells.h)), int64(math.Floor(cand.north/cells.h))
		if (x1-x0+1)*(y1-y0+1) > int64(len(cells.xy)) {
			// A box larger than the batch: its cells, not the box's.
			for n, xy := range cells.xy {
				if x, y := int64(xy[0]), int64(xy[1]); x >= x0 && x <= x1 && y >= y0 && y <= y1 {
					es = b.cellOps(cand, n, es, p)
				}
			}
			continue
		}
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				if n, ok := cells.cellAt(x, y); ok {
					es = b.cellOps(cand, int(n), es, p)
				}
			}
		}
	}
	unique = len(p.boxes) <= 1
	cellOps := len(es)
	for _, i := range cells.dups {
		op := opNone
		for k := range p.boxes {
			// A connection gets one kind of op from a job (see
			// candidate.opOf), from one box or several.
			op = max(op, p.boxes[k].opOf(&b.jobs[i], roleAt|roleFrom))
		}
		es = b.appendOp(es, op, int(i), p)
	}
	if len(es) > cellOps && len(es)-first > 1 {
		unique = false // the dups may repeat each other or a cell's op
	}
	clear(p.boxes) // the connection may go
	return es, unique
}

// boxes appends to dst the boxes of c's marker-mode views in the view
// index (c.pullBoxes), as candidates.
func (c *conn) boxes(dst []candidate) []candidate {
	for _, b := range c.pullBoxes {
		dst = append(dst, candidate{west: b.West, south: b.South, east: b.East, north: b.North, c: c, layers: c.layers})
	}
	return dst
}

// cellOps appends the ops cell n's jobs give cand.
func (b *pullBatch) cellOps(cand *candidate, n int, es []outbox.Entry, p *pullScratch) []outbox.Entry {
	cells := b.cells
	for _, cj := range cells.jobs[cells.start[n]:cells.start[n+1]] {
		es = b.appendOp(es, cand.opOf(&b.jobs[cj.job], cj.role), int(cj.job), p)
	}
	return es
}

// appendOp appends job i's op of kind op to es.
func (b *pullBatch) appendOp(es []outbox.Entry, op, i int, p *pullScratch) []outbox.Entry {
	j := &b.jobs[i]
	switch op {
	case opUpsert:
		return append(es, outbox.Entry{Key: j.key, Op: j.op})
	case opRemove:
		return append(es, outbox.Entry{Key: j.key, Op: b.removal(i, p.enc)})
	}
	return es
}

// removal returns job i's removal op, encoding it the first time.
func (b *pullBatch) removal(i int, enc *wire.Encoder) []byte {
	if op := b.removals[i].Load(); op != nil {
		return *op
	}
	op := bytes.Clone(enc.Remove(b.jobs[i].key.ID()))
	if !b.removals[i].CompareAndSwap(nil, &op) {
		return *b.removals[i].Load()
	}
	return op
}
