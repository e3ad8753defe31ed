package server

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/server/internal/store"
	"github.com/pushmap/pushmap/wire"
)

// Fan-out: every op the server pushes (marker upserts and removes, cluster
// and tile changes) reaches an outbox through fanWorker.deliver, within a
// batch (beginBatchLocked, then endBatchLocked or endBatchUnlock) whose end
// starts the writers of the connections it gave something to.
//
// Applying an update has two halves: changing the store (the marker map,
// the point index, the cluster counts), which only one goroutine may do,
// and finding the views the change concerns and putting its op in their
// outboxes, which only reads the view index and the connections' views
// (nothing changes them while Server.mu is held) and locks each outbox on
// its own. The second half is a fanJob.
//
// In a batch of at least parallelFanOut updates, the jobs go to helper
// goroutines (one per core but the one applying the batch), in chunks as
// the store's half produces them, so that the two halves run at once.
// Jobs are shared out by the hash of their marker's id, each helper running
// its share in order, so a marker's ops reach each outbox in the order of
// the batch. Once the store's half is done, the applying goroutine hands
// the batch's end to the helpers and returns, Server.mu still locked: the
// last helper to finish collects what they delivered, unlocks Server.mu and
// starts the writers (endBatchUnlock). The feed is answered once the store
// has the batch, while the fan-out runs; whatever takes the lock next (the
// next batch, a view change, a read) finds every op of the batch in its
// outbox, as before. Smaller batches, and a server on one core, run each
// job at once on the goroutine applying the batch, and end the batch
// before it returns.
//
// A batch of at least gridFanOut updates is sorted into cells once the
// store has the whole batch, and then pulled by the writers (fanpull.go):
// given to the connections whose views meet it, each writer testing the
// cells its views meet before it writes. It fans out by cells instead
// (fangrid.go: cell by cell, inline or on a helper per core, one search of
// the view index per cell) when many of its markers appear more than once,
// or when a test asks for the push.

// parallelFanOut is the smallest batch whose fan-out runs on helpers: below
// it, handing the jobs over costs more than it saves.
const parallelFanOut = 512

// fanChunk is how many jobs the applying goroutine hands over at a time.
const fanChunk = 256

// beginBatchLocked starts a batch of deliveries: those of n updates of a
// feed (0 for the other ops, cluster and tile changes), their fan-out
// prepared.
func (s *Server) beginBatchLocked(n int) { s.fan.beginLocked(s, n) }

// endBatchUnlock ends the batch and unlocks Server.mu: at once when the
// batch ran inline; when its fan-out runs on helpers, it hands them the
// end and returns at once, the last helper unlocking Server.mu once every
// op of the batch is in its outbox (issue 13; docs/design.md, "The feed
// answered before the fan-out ends").
func (s *Server) endBatchUnlock() {
	if s.fan.handOffLocked() {
		return
	}
	if s.fan.pull && runtime.GOMAXPROCS(0) > 1 {
		// A batch to pull is sorted into cells and given out on a
		// goroutine of its own, which unlocks Server.mu: the feed is
		// answered once the store has the batch, as with helpers.
		s.wg.Add(1) // done by finishBatch
		go s.finishBatch()
		return
	}
	s.endBatchLocked()
	s.fan.batchEnded()
	s.mu.Unlock()
}

// endBatchLocked ends a batch that ran inline: it has the writers of the
// connections it gave something to started.
//
// Every op is in its outbox when endBatchLocked returns, and each of those
// outboxes is marked as having a writer, so nothing is lost or reordered
// whoever starts the goroutines and when. A batch that wakes at least
// asyncWake writers hands their starting to a goroutine of its own: the
// lock is freed once the outboxes have the batch, instead of after
// thousands of goroutine starts (docs/design.md, "Feed answered before the
// writers start").
func (s *Server) endBatchLocked() {
	wake, delivered := s.fan.endLocked(s.fan.wake[:0])
	s.counters.delivered.Add(delivered)
	if len(wake) < asyncWake {
		for _, c := range wake {
			c.startWriter()
		}
		clear(wake)
		s.fan.wake = wake[:0]
		return
	}
	// The starter takes the slice; the next batch gets a spare one.
	s.fan.wake = s.fan.spareWake()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.startWriters(wake)
	}()
}

// finishBatch ends a batch whose fan-out ran on helpers, on the last helper
// to finish, or a batch to pull, on a goroutine of its own: Server.mu is
// locked (by the goroutine that applied the batch), and unlocked here,
// before the writers start.
//
// The connections a pulled batch is given to are written as they are
// given: their writers pull on other cores while the rest of the batch is
// given out (s.fan.giving), instead of after the last one.
func (s *Server) finishBatch() {
	defer s.wg.Done() // added by beginLocked or endBatchUnlock
	if !s.fan.writeInline {
		s.fan.giving = s.openWriteRun(s.fan.spareWake())
	}
	r := s.fan.giving
	wake, delivered := s.fan.endLocked(s.fan.spareWake())
	s.fan.giving = nil
	s.counters.delivered.Add(delivered)
	s.fan.batchEnded()
	s.mu.Unlock()
	if r == nil {
		s.startWriters(wake)
		return
	}
	r.addAll(wake) // woken by the batch but not given it: cluster-mode views
	s.fan.giveBackWake(wake)
	r.finish()
}

// startWriters writes the outboxes of wake (writeAll), then keeps the
// slice for reuse.
func (s *Server) startWriters(wake []*conn) {
	if s.fan.writeInline {
		for _, c := range wake {
			c.writeLoop()
		}
		s.fan.giveBackWake(wake)
		return
	}
	s.writeAll(wake)
}

// asyncWake is the fewest writers whose starting goes to a goroutine of its
// own: below it, starting them costs about what that goroutine would.
const asyncWake = 32

// spareWake returns an empty slice for a batch's wake list, one a starter
// gave back when there is one.
func (f *fanOut) spareWake() []*conn {
	f.wakeMu.Lock()
	defer f.wakeMu.Unlock()
	if n := len(f.wakeSpare); n > 0 {
		w := f.wakeSpare[n-1]
		f.wakeSpare = f.wakeSpare[:n-1]
		return w
	}
	return nil
}

// giveBackWake keeps a starter's wake list for reuse.
func (f *fanOut) giveBackWake(w []*conn) {
	clear(w)
	f.wakeMu.Lock()
	defer f.wakeMu.Unlock()
	if len(f.wakeSpare) < 4 {
		f.wakeSpare = append(f.wakeSpare, w[:0])
	}
}

// A fanJob is the fan-out of one change of the marker key names.
type fanJob struct {
	key outbox.Key
	// op is the upsert to deliver; nil for a removal, which tells the
	// views holding at (of layer) that the marker is gone.
	op    []byte
	layer string
	at    geo.Point
	// moved: the marker was at from, in fromLayer, before this upsert.
	// The views that saw it there and see it nowhere now get a removal.
	moved     bool
	fromLayer string
	from      geo.Point
}

// fanJobOf returns the fan-out of a change of the store.
func fanJobOf(ch *store.Change) fanJob {
	key := outbox.KeyOf(ch.ID)
	if !ch.Has() {
		return fanJob{key: key, layer: ch.Old.Layer, at: ch.Old.Pos}
	}
	return fanJob{key: key, op: ch.Op, layer: ch.New.Layer, at: ch.New.Pos,
		moved: ch.Moved(), fromLayer: ch.Old.Layer, from: ch.Old.Pos}
}

// A fanWorker runs fan jobs on one goroutine and keeps what they produce
// until the batch ends: the connections whose writers must start, and how
// many ops it delivered.
type fanWorker struct {
	s         *Server
	enc       *wire.Encoder // for removals; the applying goroutine's is s.enc
	wake      []*conn
	delivered int64
	// Scratch of runCell: a cell's candidates, a candidate's ops, the
	// removals of the cell's jobs.
	cands    []candidate
	entries  []outbox.Entry
	removals [][]byte
}

// deliver puts op in c's outbox under key; the writer starts at the end
// of the batch. A connection whose view is split by the antimeridian, or
// who has several views, may be found more than once for one point: the
// same op put twice under one key is written once (the writer coalesces
// by key).
func (w *fanWorker) deliver(c *conn, key outbox.Key, op []byte) {
	c.settle() // an earlier batch's ops first
	w.delivered++
	if c.out.Put(key, op) {
		w.wake = append(w.wake, c)
	}
}

// collect hands over what w produced in the batch, appended to wake, and
// readies w for the next.
func (w *fanWorker) collect(wake []*conn) (_ []*conn, delivered int64) {
	wake = append(wake, w.wake...)
	clear(w.wake)
	w.wake = w.wake[:0]
	delivered = w.delivered
	w.delivered = 0
	return wake, delivered
}

func (w *fanWorker) removal(id string) []byte { return bytes.Clone(w.enc.Remove(id)) }

// run delivers j to the views it concerns.
func (w *fanWorker) run(j *fanJob) {
	s := w.s
	if j.op == nil {
		var removeOp []byte
		p := pointRect(j.at)
		s.views.Search(p, p, func(_, _ [2]float64, vp *viewPart) bool {
			if vp.c.layers.Has(j.layer) {
				if removeOp == nil {
					removeOp = w.removal(j.key.ID())
				}
				w.deliver(vp.c, j.key, removeOp)
			}
			return true
		})
		return
	}
	if !j.moved {
		// Whoever sees the position gets the upsert.
		p := pointRect(j.at)
		s.views.Search(p, p, func(_, _ [2]float64, vp *viewPart) bool {
			if vp.c.layers.Has(j.layer) {
				w.deliver(vp.c, j.key, j.op)
			}
			return true
		})
		return
	}
	// A move: one search over both positions finds who sees the new one
	// (the upsert) and who saw the old one and sees the new one in none of
	// its views (a removal).
	var removeOp []byte
	lo := [2]float64{min(j.from.Lon, j.at.Lon), min(j.from.Lat, j.at.Lat)}
	hi := [2]float64{max(j.from.Lon, j.at.Lon), max(j.from.Lat, j.at.Lat)}
	s.views.Search(lo, hi, func(_, _ [2]float64, vp *viewPart) bool {
		c := vp.c
		if vp.box.Contains(j.at) && c.layers.Has(j.layer) {
			w.deliver(c, j.key, j.op)
			return true
		}
		if !vp.box.Contains(j.from) || !c.layers.Has(j.fromLayer) || (c.layers.Has(j.layer) && c.sees(j.at)) {
			return true
		}
		if removeOp == nil {
			removeOp = w.removal(j.key.ID())
		}
		w.deliver(c, j.key, removeOp)
		return true
	})
}

// fanOut is where a batch's fan jobs go: run at once by the applying
// goroutine (inline), or handed in chunks to helpers.
type fanOut struct {
	inline fanWorker // the applying goroutine's, made by New
	wake   []*conn   // scratch for endBatchLocked
	// wakeSpare holds wake lists that starters gave back (see
	// endBatchLocked); the starters run without Server.mu, hence wakeMu.
	wakeMu    sync.Mutex
	wakeSpare [][]*conn
	helpers   []*fanWorker // the helpers of this batch; none when inline
	feeds     []chan []fanJob
	running   atomic.Int32 // helpers of this batch still running
	chunk     []fanJob     // jobs not yet handed over
	chunks    [][]fanJob   // every chunk handed over in this batch, for reuse
	spare     [][]fanJob   // chunks free for reuse
	idle      []*fanWorker

	// hold, when set by a test, is received from by every helper before it
	// runs its first job.
	hold chan struct{}

	// byCells: the batch fans out by cells (fangrid.go), its jobs kept in
	// jobs until the store has the whole batch, then sorted into cells.
	// pull: it is given to the writers to pull instead (fanpull.go), unless
	// too many of its markers appear more than once.
	byCells bool
	pull    bool
	jobs    []fanJob
	cells   *batchCells
	// pushOnly, set by tests and benchmarks, fans every batch out by push
	// (no pull): for the tests of the helpers and for comparing the two.
	pushOnly bool
	pulled   int      // batches given to pull, for tests
	pulls    pullPool // the memory of pulled batches, for the next
	// ended, when set by a benchmark, is called at the end of each feed's
	// batch, every op in its outbox, before Server.mu is unlocked.
	ended func()
	// writeInline, set by BenchmarkFrameCost only, makes the starter of a
	// large batch's writers run them one after another itself instead of
	// starting a goroutine each: the bound on what fewer goroutine starts
	// could save. Not for use: a client that does not read would hold up
	// every writer behind it.
	writeInline bool
	// giving, while a batch ended by finishBatch is given out (Server.mu
	// held), is the run that writes the connections given it as they
	// come.
	giving *writeRun
}

// batchEnded calls the benchmark's hook, if any, at the end of a batch,
// Server.mu still locked.
func (f *fanOut) batchEnded() {
	if f.ended != nil {
		f.ended()
	}
}

// beginLocked prepares the fan-out of a batch of n updates.
func (f *fanOut) beginLocked(s *Server, n int) {
	f.byCells = n >= gridFanOut && s.views.Len() > 0
	f.pull = f.byCells && !f.pushOnly
	if f.cells == nil {
		f.cells = new(batchCells)
	}
	f.cells.w, f.cells.h = s.viewSizes.cell()
	helpers := runtime.GOMAXPROCS(0) - 1
	if n < parallelFanOut || helpers < 1 || f.pull {
		return
	}
	if f.byCells {
		helpers++ // see fangrid.go
	}
	f.running.Store(int32(helpers))
	s.wg.Add(1) // the batch's end: finishBatch, on the last helper
	for k := range helpers {
		w := f.worker(s)
		feed := make(chan []fanJob, n/fanChunk+1)
		f.helpers = append(f.helpers, w)
		f.feeds = append(f.feeds, feed)
		go f.help(w, feed, uint64(k), uint64(helpers))
	}
}

func (f *fanOut) worker(s *Server) *fanWorker {
	if n := len(f.idle); n > 0 {
		w := f.idle[n-1]
		f.idle = f.idle[:n-1]
		return w
	}
	return &fanWorker{s: s, enc: wire.NewEncoder()}
}

// help runs the jobs of every chunk whose marker's hash falls to helper k
// of n; the last helper to finish ends the batch.
func (f *fanOut) help(w *fanWorker, feed <-chan []fanJob, k, n uint64) {
	if f.hold != nil {
		<-f.hold
	}
	for chunk := range feed {
		for i := range chunk {
			if j := &chunk[i]; j.key.Hash()%n == k {
				w.run(j)
			}
		}
	}
	if f.byCells {
		// The feeds carried nothing: the batch's jobs are sorted by cell.
		w.runCells(f.cells, f.jobs, int(k))
	}
	if f.running.Add(-1) == 0 {
		w.s.finishBatch()
	}
}

// add runs j, or queues it for the helpers.
func (f *fanOut) add(j fanJob) {
	if f.byCells {
		f.jobs = append(f.jobs, j) // run once the store has the batch
		return
	}
	if len(f.helpers) == 0 {
		f.inline.run(&j)
		return
	}
	if f.chunk == nil {
		if n := len(f.spare); n > 0 {
			f.chunk = f.spare[n-1][:0]
			f.spare = f.spare[:n-1]
		} else {
			f.chunk = make([]fanJob, 0, fanChunk)
		}
	}
	f.chunk = append(f.chunk, j)
	if len(f.chunk) == fanChunk {
		f.handOver()
	}
}

func (f *fanOut) handOver() {
	if len(f.chunk) == 0 {
		return
	}
	for _, feed := range f.feeds {
		feed <- f.chunk
	}
	f.chunks = append(f.chunks, f.chunk)
	f.chunk = nil
}

// handOffLocked hands the end of a batch whose fan-out runs on helpers to
// them, and reports whether it did: the caller must then leave Server.mu
// locked and touch nothing it guards, as the last helper unlocks it.
func (f *fanOut) handOffLocked() bool {
	if len(f.helpers) == 0 {
		return false
	}
	if f.byCells {
		f.cells.build(f.jobs)
	} else {
		f.handOver()
	}
	// Nothing of f is read after the last close: the helpers may end the
	// batch from then on.
	feeds := f.feeds
	for _, feed := range feeds {
		close(feed)
	}
	return true
}

// endLocked returns the connections whose writers must start, appended to
// wake, and how many ops were delivered; with helpers, it runs on the last
// of them to finish, once the others are done. A batch to pull is given to
// the connections here (their ops are counted as delivered when pulled).
func (f *fanOut) endLocked(wake []*conn) (_ []*conn, delivered int64) {
	if f.byCells {
		f.byCells = false
		if len(f.helpers) == 0 {
			f.cells.build(f.jobs)
			if f.pull && pullable(f.cells, len(f.jobs)) {
				wake = f.givePullLocked(f.inline.s, wake)
				f.pulled++
				return f.collect(wake)
			}
			f.inline.runCells(f.cells, f.jobs, 0)
		}
		clear(f.jobs)
		f.jobs = f.jobs[:0]
		f.cells.reset()
	}
	if len(f.helpers) > 0 {
		for _, c := range f.chunks {
			clear(c)
			f.spare = append(f.spare, c[:0])
		}
		clear(f.chunks)
		f.chunks = f.chunks[:0]
		clear(f.feeds)
		f.feeds = f.feeds[:0]
	}
	return f.collect(wake)
}

// collect gathers what the batch's workers delivered and readies them for
// the next batch.
func (f *fanOut) collect(wake []*conn) (_ []*conn, delivered int64) {
	wake, delivered = f.inline.collect(wake)
	for _, w := range f.helpers {
		var n int64
		wake, n = w.collect(wake)
		delivered += n
	}
	f.idle = append(f.idle, f.helpers...)
	clear(f.helpers)
	f.helpers = f.helpers[:0]
	return wake, delivered
}

func pointRect(p geo.Point) [2]float64 { return [2]float64{p.Lon, p.Lat} }
func minRect(b geo.Box) [2]float64     { return [2]float64{b.West, b.South} }
func maxRect(b geo.Box) [2]float64     { return [2]float64{b.East, b.North} }
