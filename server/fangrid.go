package server

import (
	"math"

	"github.com/pushmap/pushmap/geo"
)

// A batch's fan-out by cells (issue 13; docs/design.md, "A batch's views
// found once per cell").
//
// A feed's batch of thousands of updates over a city asks the viewport
// index the same question thousands of times: which views hold this point,
// for points a few metres apart. In a batch of at least gridFanOut updates,
// each fan-out worker asks it once per cell of a grid instead: the views
// whose boxes meet the cell (its candidates), searched the first time one
// of its jobs falls in the cell and kept until the batch ends; each job of
// the cell then tests its point against the candidates' boxes, the test the
// index makes at its leaves. A job still runs whole, in the batch's order,
// on the worker its marker's hash gives (fanout.go): only where its views
// come from changes, so what each outbox gets, and in which order, does
// not.
//
// A cell is as large as the mean box in the index: the candidates of a cell
// are then about four times the views that hold one of its points (a box
// meets a cell of its own size in up to four cells), while the cells a
// batch touches are as few as its points leave them.

// gridFanOut is the smallest batch whose fan-out finds its views by cells:
// below it, few jobs share a cell, and a cell's search, which finds about
// four times the views of a point's, costs more than the searches it
// saves.
const gridFanOut = 64

// cellDivisor is how many cells a side of the mean box spans.
var cellDivisor = 2.0

// minCell is the smallest side of a cell, in degrees: however small the
// views, a cell's key stays well within 32 bits.
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

// cell returns the sides of a batch's cells: those of the mean box, at
// least minCell.
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
// connection (two cache misses a delivery, most of the fan-out's time
// once the searches were gone). Nothing of them changes while the batch
// holds Server.mu.
type candidate struct {
	west, south, east, north float64
	c                        *conn
	layers                   layerSet
}

// holds reports whether the candidate's box holds p, edges included: the
// test the viewport index makes on a point's search.
func (c *candidate) holds(p geo.Point) bool {
	// Without a branch per side: about a quarter of the candidates hold
	// a point, in no order a branch predictor could learn.
	return bit(p.Lon >= c.west)&bit(p.Lon <= c.east)&bit(p.Lat >= c.south)&bit(p.Lat <= c.north) != 0
}

func bit(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// A span is where a cell's candidates lie in a worker's list.
type span struct{ start, end int32 }

// fanGrid is one worker's cells of a batch: the candidates of each cell
// its jobs fell in so far.
type fanGrid struct {
	on    bool    // the batch fans out by cells
	w, h  float64 // the sides of a cell
	cells map[uint64]span
	cands []candidate
	// last is the cell of the last lookup, the next job's often.
	lastKey uint64
	last    span
	hasLast bool
}

// start readies g for a batch whose cells are w by h degrees.
func (g *fanGrid) start(w, h float64) {
	g.on, g.w, g.h = true, w, h
	if g.cells == nil {
		g.cells = make(map[uint64]span)
	}
}

// stop ends g's batch, keeping its memory for the next.
func (g *fanGrid) stop() {
	if !g.on {
		return
	}
	g.on, g.hasLast = false, false
	clear(g.cells)
	clear(g.cands) // the view parts may go
	g.cands = g.cands[:0]
}

// cellOf returns the key of p's cell, and its column and row.
func (g *fanGrid) cellOf(p geo.Point) (key uint64, cx, cy float64) {
	cx, cy = math.Floor(p.Lon/g.w), math.Floor(p.Lat/g.h)
	return uint64(uint32(int32(cx)))<<32 | uint64(uint32(int32(cy))), cx, cy
}

// candidates returns the views of the index whose boxes meet p's cell;
// the slice stays valid until the batch ends.
func (w *fanWorker) candidates(p geo.Point) []candidate {
	g := &w.grid
	key, cx, cy := g.cellOf(p)
	if g.hasLast && key == g.lastKey {
		return g.cands[g.last.start:g.last.end]
	}
	sp, ok := g.cells[key]
	if !ok {
		sp.start = int32(len(g.cands))
		lo := [2]float64{cx*g.w - cellSlack, cy*g.h - cellSlack}
		hi := [2]float64{(cx+1)*g.w + cellSlack, (cy+1)*g.h + cellSlack}
		w.s.views.Search(lo, hi, func(bmin, bmax [2]float64, vp *viewPart) bool {
			g.cands = append(g.cands, candidate{west: bmin[0], south: bmin[1], east: bmax[0], north: bmax[1], c: vp.c, layers: vp.c.layers})
			return true
		})
		sp.end = int32(len(g.cands))
		g.cells[key] = sp
	}
	g.lastKey, g.last, g.hasLast = key, sp, true
	return g.cands[sp.start:sp.end]
}

// runByCells is run for a batch that fans out by cells: the same
// deliveries, the views found among the candidates of the job's cells.
func (w *fanWorker) runByCells(j *fanJob) {
	at := w.candidates(j.at)
	if j.op == nil {
		var removeOp []byte
		for i := range at {
			if c := &at[i]; c.holds(j.at) && c.layers.Has(j.layer) {
				if removeOp == nil {
					removeOp = w.removal(j.key.ID())
				}
				w.queue(c.c, j.key, removeOp)
			}
		}
		return
	}
	if !j.moved {
		// Whoever sees the position gets the upsert.
		for i := range at {
			if c := &at[i]; c.holds(j.at) && c.layers.Has(j.layer) {
				w.queue(c.c, j.key, j.op)
			}
		}
		return
	}
	// A move: whoever sees the new position gets the upsert; a view that
	// saw the old position, and none of whose connection's views sees the
	// new one, a removal. A move within a cell (most are) takes one pass
	// over its candidates, as run's one search over both positions does;
	// a move across cells, the upserts among the new cell's, then the
	// removals among the old cell's, skipping the boxes that got the
	// upsert.
	var removeOp []byte
	gone := func(c *candidate) {
		if !c.holds(j.from) || !c.layers.Has(j.fromLayer) || (c.layers.Has(j.layer) && c.c.sees(j.at)) {
			return
		}
		if removeOp == nil {
			removeOp = w.removal(j.key.ID())
		}
		w.queue(c.c, j.key, removeOp)
	}
	fromKey, _, _ := w.grid.cellOf(j.from)
	atKey, _, _ := w.grid.cellOf(j.at)
	sameCell := fromKey == atKey
	for i := range at {
		c := &at[i]
		if c.holds(j.at) && c.layers.Has(j.layer) {
			w.queue(c.c, j.key, j.op)
		} else if sameCell {
			gone(c)
		}
	}
	if sameCell {
		return
	}
	from := w.candidates(j.from)
	for i := range from {
		if c := &from[i]; !(c.holds(j.at) && c.layers.Has(j.layer)) {
			gone(c)
		}
	}
}
