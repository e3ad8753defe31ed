package server

import (
	"math"
	"sync/atomic"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
)

// A batch's fan-out by cells (issue 13; docs/design.md, "A large batch
// fans out by cells").
//
// A feed's batch of thousands of updates over a city asked the viewport
// index the same question thousands of times (which views hold this
// point, for points a few metres apart), then put each op in its outbox
// on its own: one lock, and an outbox out of the cache, per delivery,
// about 80,000 of them for 3,000 moves over 2,000 clients. In a batch of
// at least gridFanOut updates the jobs wait until the store has the whole
// batch; they are then sorted by the cell of a grid each of their
// positions lies in, in the batch's order within a cell, and each cell is
// fanned out at once: one search of the index for the view boxes that meet
// the cell (its candidates), then for each candidate the cell's jobs
// tested against its box, and the ops it gets put in its outbox with one
// PutAll. Cells are shared out between the helpers, or all run inline.
// Such a batch has a helper per core, not one per core but the applying
// goroutine's: that one answers the feed once the store has the batch,
// and the helper that shares its core takes the cells it leaves.
//
// Order: a marker that appears once in the batch gives a connection at
// most one op (its upsert where a view holds the new position, else its
// removal where one held the old), or the same op twice (two of its boxes
// hold the point), so the order of cells does not matter to it. The jobs
// of a marker that appears more than once run apart, one after another in
// the batch's order on one worker, as run always did, so that its ops
// reach each outbox in the batch's order.
//
// A cell is half the mean box in the index on each side: a cell's
// candidates are then about 2.25 times the views that hold one of its
// points, and a batch over a city falls in a few hundred cells.

// gridFanOut is the smallest batch that fans out by cells: below it, few
// jobs share a cell.
const gridFanOut = 64

// cellDivisor is how many cells a side of the mean box spans.
const cellDivisor = 2.0

// minCell is the smallest side of a cell, in degrees: however small the
// views, a cell's column and row fit in 32 bits.
const minCell = 1e-4

// cellSlack widens a cell's search, in degrees, so that the rounding of a
// cell's edges never leaves out a view that holds one of its points (the
// points are quantised to 1e-7 degrees).
const cellSlack = 1e-9

// viewSizes sums the sides of the boxes of the marker-mode views, for the
// cell size of a batch.
type viewSizes struct {
	width, height float64
	n             int
}

// add counts box in (sign 1) or out (sign -1).
func (vs *viewSizes) add(box geo.Box, sign int) {
	vs.n += sign
	if vs.n == 0 {
		vs.width, vs.height = 0, 0 // no drift left behind
		return
	}
	vs.width += float64(sign) * (box.East - box.West)
	vs.height += float64(sign) * (box.North - box.South)
}

// cell returns the sides of a batch's cells.
func (vs *viewSizes) cell() (w, h float64) {
	if vs.n <= 0 {
		return 360, 180
	}
	d := cellDivisor * float64(vs.n)
	return min(max(vs.width/d, minCell), 360), min(max(vs.height/d, minCell), 180)
}

// A candidate is a view box that meets a cell, with its connection and
// the layers it sees: copies, so that the jobs of the cell test them
// without following a pointer to the view part and another to the
// connection. Nothing of them changes while the batch holds Server.mu.
type candidate struct {
	west, south, east, north float64
	c                        *conn
	layers                   layerSet
}

// holds reports whether the candidate's box holds p, edges included: the
// test the viewport index makes on a point's search.
func (c *candidate) holds(p geo.Point) bool {
	// Without a branch per side: about a third of the candidates hold a
	// point, in no order a branch predictor could learn.
	return bit(p.Lon >= c.west)&bit(p.Lon <= c.east)&bit(p.Lat >= c.south)&bit(p.Lat <= c.north) != 0
}

func bit(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// The roles of a job in a cell: its new position lies there (or, for a
// removal, where the marker was), its old position does, or both.
const (
	roleAt   uint8 = 1
	roleFrom uint8 = 2
)

// A cellJob is a job of a cell: its index in the batch and its role.
type cellJob struct {
	job  int32
	role uint8
}

// batchCells is a batch's jobs sorted by cell, built by the applying
// goroutine once the store has the batch, and only read after.
type batchCells struct {
	w, h  float64
	index map[uint64]int32 // a cell's key: its number
	// grid is index as a table, when the batch's cells are dense enough
	// in their bounds (see buildGrid): the cell in column gx0+i, row
	// gy0+j is grid[i*grows+j], -1 for none. A pull looks up the cells
	// of every box of every connection: a table of int32 stays in the
	// cache where the map's groups did not (cellAt).
	grid         []int32
	gx0, gy0     int64
	gcols, grows int64
	xy           [][2]float64 // per cell: its column and row
	start        []int32      // per cell: where its jobs begin in jobs; one more for the end
	jobs         []cellJob
	// dups are the jobs of markers that appear more than once in the
	// batch, in the batch's order.
	dups  []int32
	count map[string]int32 // per marker id: its jobs in the batch
	tmp   []cellJob        // scratch: jobs in the batch's order, job's cell in role
	tmpAt []int32          // scratch: the cell of each entry of tmp
	place []int32          // scratch: per cell, where its next job goes
	next  atomic.Int32     // the first cell no worker took yet
}

// cellGrab is how many cells a worker takes at a time.
const cellGrab = 4

// build sorts jobs by cell.
func (b *batchCells) build(jobs []fanJob) {
	if b.index == nil {
		b.index = make(map[uint64]int32)
		b.count = make(map[string]int32)
	}
	for i := range jobs {
		b.count[jobs[i].key.ID()]++
	}
	cellOf := func(p geo.Point) int32 {
		cx, cy := math.Floor(p.Lon/b.w), math.Floor(p.Lat/b.h)
		key := cellKey(int64(cx), int64(cy))
		n, ok := b.index[key]
		if !ok {
			n = int32(len(b.xy))
			b.index[key] = n
			b.xy = append(b.xy, [2]float64{cx, cy})
		}
		return n
	}
	for i := range jobs {
		j := &jobs[i]
		if b.count[j.key.ID()] > 1 {
			b.dups = append(b.dups, int32(i))
			continue
		}
		at := cellOf(j.at)
		if !j.moved {
			b.tmp, b.tmpAt = append(b.tmp, cellJob{int32(i), roleAt}), append(b.tmpAt, at)
			continue
		}
		if from := cellOf(j.from); from != at {
			b.tmp, b.tmpAt = append(b.tmp, cellJob{int32(i), roleFrom}), append(b.tmpAt, from)
			b.tmp, b.tmpAt = append(b.tmp, cellJob{int32(i), roleAt}), append(b.tmpAt, at)
			continue
		}
		b.tmp, b.tmpAt = append(b.tmp, cellJob{int32(i), roleAt | roleFrom}), append(b.tmpAt, at)
	}
	// A counting sort by cell, stable: the batch's order within a cell.
	cells := len(b.xy)
	b.start = append(b.start[:0], make([]int32, cells+1)...)
	for _, c := range b.tmpAt {
		b.start[c+1]++
	}
	for c := range cells {
		b.start[c+1] += b.start[c]
	}
	b.jobs = append(b.jobs[:0], make([]cellJob, len(b.tmp))...)
	b.place = append(b.place[:0], b.start[:cells]...)
	place := b.place
	for k, cj := range b.tmp {
		c := b.tmpAt[k]
		b.jobs[place[c]] = cj
		place[c]++
	}
	b.buildGrid()
}

// maxGridCells bounds a batch's table of cells (grid): at most this many
// entries, and at most gridSlack times its cells.
const (
	maxGridCells = 1 << 18
	gridSlack    = 8
)

// buildGrid makes b.grid, the table of b's cells in their bounds, or
// makes none (gcols 0: cellAt then reads the map) when the bounds hold
// too many cells that are not in the batch (markers far apart, or on both
// sides of the antimeridian).
func (b *batchCells) buildGrid() {
	b.grid, b.gcols = b.grid[:0], 0
	if len(b.xy) == 0 {
		return
	}
	x0, y0, x1, y1 := b.bounds()
	cols, rows := int64(x1-x0)+1, int64(y1-y0)+1
	if cols > maxGridCells || rows > maxGridCells || cols*rows > min(maxGridCells, gridSlack*int64(len(b.xy))) {
		return
	}
	b.gx0, b.gy0, b.gcols, b.grows = int64(x0), int64(y0), cols, rows
	n := int(cols * rows)
	if cap(b.grid) < n {
		b.grid = make([]int32, n)
	}
	b.grid = b.grid[:n]
	for i := range b.grid {
		b.grid[i] = -1
	}
	for c, xy := range b.xy {
		b.grid[(int64(xy[0])-b.gx0)*rows+int64(xy[1])-b.gy0] = int32(c)
	}
}

// bounds returns the lowest and highest column and row of b's cells; b
// has one at least.
func (b *batchCells) bounds() (x0, y0, x1, y1 float64) {
	x0, y0, x1, y1 = b.xy[0][0], b.xy[0][1], b.xy[0][0], b.xy[0][1]
	for _, xy := range b.xy[1:] {
		x0, x1 = min(x0, xy[0]), max(x1, xy[0])
		y0, y1 = min(y0, xy[1]), max(y1, xy[1])
	}
	return x0, y0, x1, y1
}

// cellAt returns the number of the batch's cell in column x, row y, if it
// has one.
func (b *batchCells) cellAt(x, y int64) (int32, bool) {
	if b.gcols == 0 {
		n, ok := b.index[cellKey(x, y)]
		return n, ok
	}
	x, y = x-b.gx0, y-b.gy0
	if uint64(x) >= uint64(b.gcols) || uint64(y) >= uint64(b.grows) {
		return 0, false
	}
	n := b.grid[x*b.grows+y]
	return n, n >= 0
}

// cellKey is the key in batchCells.index of the cell in column x, row y.
func cellKey(x, y int64) uint64 { return uint64(uint32(int32(x)))<<32 | uint64(uint32(int32(y))) }

// reset readies b for the next batch, keeping its memory.
func (b *batchCells) reset() {
	clear(b.index)
	clear(b.count)
	b.xy, b.start, b.jobs, b.dups = b.xy[:0], b.start[:0], b.jobs[:0], b.dups[:0]
	b.tmp, b.tmpAt = b.tmp[:0], b.tmpAt[:0]
	b.grid, b.gcols = b.grid[:0], 0
	b.next.Store(0)
}

// runCells runs worker k's share of a batch that fans out by cells: the
// jobs of the markers that appear more than once, for k = 0, then cells,
// cellGrab at a time, until none is left: a helper that starts late, or
// shares its core, takes fewer.
func (w *fanWorker) runCells(b *batchCells, jobs []fanJob, k int) {
	if k == 0 {
		for _, i := range b.dups {
			w.run(&jobs[i])
		}
	}
	for {
		first := int(b.next.Add(cellGrab)) - cellGrab
		if first >= len(b.xy) {
			break
		}
		for c := first; c < min(first+cellGrab, len(b.xy)); c++ {
			w.runCell(b, jobs, c)
		}
	}
	clear(w.cands) // the connections may go
	w.cands = w.cands[:0]
}

// What a job gives a candidate view: nothing, its upsert, or its removal.
const (
	opNone = iota
	opUpsert
	opRemove
)

// opOf returns what job j, in the role role in the cell being fanned out,
// gives the candidate: the upsert where the candidate's box holds the new
// position (from the cell of the new position), the removal where it held
// the old one and the connection sees the new one in none of its views,
// or where it holds a removed marker. c.sees reads the connection's views,
// which nothing changes meanwhile (Server.mu is held, or the connection's
// pulls are locked: fanpull.go).
func (cand *candidate) opOf(j *fanJob, role uint8) int {
	switch {
	case j.op == nil:
		if cand.holds(j.at) && cand.layers.Has(j.layer) {
			return opRemove
		}
	case cand.holds(j.at) && cand.layers.Has(j.layer):
		if role&roleAt != 0 {
			return opUpsert
		}
	case j.moved && role&roleFrom != 0:
		if cand.holds(j.from) && cand.layers.Has(j.fromLayer) && !(cand.layers.Has(j.layer) && cand.c.sees(j.at)) {
			return opRemove
		}
	}
	return opNone
}

// runCell delivers the jobs of cell c to the views that hold them.
func (w *fanWorker) runCell(b *batchCells, jobs []fanJob, c int) {
	cx, cy := b.xy[c][0], b.xy[c][1]
	lo := [2]float64{cx*b.w - cellSlack, cy*b.h - cellSlack}
	hi := [2]float64{(cx+1)*b.w + cellSlack, (cy+1)*b.h + cellSlack}
	cands := w.cands[:0]
	w.s.views.Search(lo, hi, func(bmin, bmax [2]float64, vp *viewPart) bool {
		cands = append(cands, candidate{west: bmin[0], south: bmin[1], east: bmax[0], north: bmax[1], c: vp.c, layers: vp.c.layers})
		return true
	})
	w.cands = cands
	cellJobs := b.jobs[b.start[c]:b.start[c+1]]
	// A removal's op is encoded once per cell, when a view first needs it.
	removals := w.removals[:0]
	removals = append(removals, make([][]byte, len(cellJobs))...)
	w.removals = removals
	for ci := range cands {
		cand := &cands[ci]
		es := w.entries[:0]
		for k, cj := range cellJobs {
			j := &jobs[cj.job]
			switch cand.opOf(j, cj.role) {
			case opUpsert:
				es = append(es, outbox.Entry{Key: j.key, Op: j.op})
			case opRemove:
				if removals[k] == nil {
					removals[k] = w.removal(j.key.ID())
				}
				es = append(es, outbox.Entry{Key: j.key, Op: removals[k]})
			}
		}
		if len(es) > 0 {
			cand.c.settle() // an earlier batch's ops first
			w.delivered += int64(len(es))
			if cand.c.out.PutAll(es) {
				w.wake = append(w.wake, cand.c)
			}
			clear(es)
		}
		w.entries = es[:0]
	}
	clear(removals)
}
