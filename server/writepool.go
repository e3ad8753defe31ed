package server

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The writers of a large batch: a few goroutines write every connection
// the batch woke, instead of a goroutine started per connection (issue 13;
// docs/design.md, "A few writers per batch, a blocked write handed off").
//
// A writeRun's workers take the batch's connections one at a time from a
// shared list (which may still grow: writeRun) and drain each one's
// outbox (conn.writeLoop) as its own writer goroutine would. A worker
// whose write would block (the client's socket is full: it reads slowly,
// or not at all) starts another worker before it waits, so the
// connections still waiting never queue behind a blocked write: the
// blocked worker goes on with that one connection, as its own writer
// would, bounded by the watchdog, and the new worker takes the rest. Only connections whose socket lets the server see that a
// write would block (sockWriter: TCP and Unix sockets) are written so;
// any other (a TLS connection, say) gets its own writer goroutine, as
// before.

// writeRunShare is the fewest connections per worker: a batch waking
// fewer than that per core is written by fewer workers.
const writeRunShare = 16

// A writeRun is the writing of one batch's connections. Its list may grow
// while it runs: a pulled batch is given to its connections one by one,
// Server.mu held, and the workers start writing the first ones while the
// rest are given (issue 13; docs/design.md, "Writing while the batch is
// given").
type writeRun struct {
	s *Server

	mu    sync.Mutex
	conns []*conn // guarded by mu
	next  int     // guarded by mu: index of the next connection to take
	// open: more connections may be added (guarded by mu); a worker that
	// finds none left waits on more, telling so with waiting.
	open    bool
	waiting int // guarded by mu
	more    chan struct{}
	started int // guarded by mu: workers started by add, the caller's not counted
	extra   int // the most workers add starts: one per other core

	// running counts the workers still taking connections; the last to
	// stop gives conns back for reuse. Zero only once it was given back.
	running atomic.Int32
}

// writeAll writes the outboxes of wake, whose writers the batch must
// start, on about one worker per core, the calling goroutine being one of
// them, and gives wake back for reuse once every worker is done with it.
// It returns once the caller's share is written; the other workers may
// still be running, counted in s.wg.
func (s *Server) writeAll(wake []*conn) {
	if len(wake) == 0 {
		s.fan.giveBackWake(wake)
		return
	}
	r := s.openWriteRun(wake[:0])
	r.addAll(wake)
	r.finish()
}

// openWriteRun returns a run with no connection yet, list's memory used
// for its list: connections are added (add, addAll), and then the caller
// becomes one of its workers (finish). Workers beside the caller start as
// connections are added, the k-th once there are (k+1)·writeRunShare, as
// many as there are other cores.
func (s *Server) openWriteRun(list []*conn) *writeRun {
	r := &writeRun{s: s, conns: list, open: true, more: make(chan struct{}, 1), extra: runtime.GOMAXPROCS(0) - 1}
	r.running.Store(1) // the caller, once it finishes adding
	return r
}

// add adds c to the connections to write.
func (r *writeRun) add(c *conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	start := len(r.conns) == (r.started+2)*writeRunShare && r.started < r.extra
	if start {
		r.started++
		r.running.Add(1)
	}
	wake := r.waiting > 0
	r.mu.Unlock()
	if start {
		r.startWorker()
	}
	if wake {
		r.signal()
	}
}

// addAll adds every connection of cs.
func (r *writeRun) addAll(cs []*conn) {
	for _, c := range cs {
		r.add(c)
	}
}

// finish closes the list and has the caller write connections until none
// is left.
func (r *writeRun) finish() {
	r.mu.Lock()
	r.open = false
	wake := r.waiting > 0
	r.mu.Unlock()
	if wake {
		r.signal()
	}
	r.work()
}

// signal wakes a waiting worker; one that finds nothing then passes the
// signal on before it stops, so every waiting worker sees the list closed.
func (r *writeRun) signal() {
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// take returns the next connection to write, waiting while the list is
// open; nil once none is left.
func (r *writeRun) take() *conn {
	r.mu.Lock()
	for {
		if r.next < len(r.conns) {
			c := r.conns[r.next]
			r.next++
			r.mu.Unlock()
			return c
		}
		if !r.open {
			wake := r.waiting > 0
			r.mu.Unlock()
			if wake {
				r.signal()
			}
			return nil
		}
		r.waiting++
		r.mu.Unlock()
		<-r.more
		r.mu.Lock()
		r.waiting--
	}
}

// startWorker starts one more worker, counted in running by the caller.
func (r *writeRun) startWorker() {
	r.s.wg.Add(1)
	go func() {
		defer r.s.wg.Done()
		r.work()
	}()
}

// work takes connections until none is left.
func (r *writeRun) work() {
	for i := 1; ; i++ {
		c := r.take()
		if c == nil {
			break
		}
		if c.sock == nil {
			c.startWriter()
			continue
		}
		c.sock.blocked.Store(r)
		c.writeLoop()
		c.sock.blocked.Store(nil)
		if i%writeRunShare == 0 {
			// Let the goroutines readied meanwhile (a feed's
			// handler, a client's view change) run now rather than at
			// the scheduler's next preemption, 10 ms on.
			runtime.Gosched()
		}
	}
	if r.running.Add(-1) == 0 {
		r.mu.Lock()
		conns := r.conns
		r.conns = nil
		r.mu.Unlock()
		r.s.fan.giveBackWake(conns)
	}
}

// handOff is called by a worker about to wait (its write would block, or
// its client fell behind and the reset waits for the server lock): it starts
// another worker for the connections not yet taken. A late call, once
// every worker stopped, does nothing.
func (r *writeRun) handOff() {
	for {
		n := r.running.Load()
		if n == 0 {
			return
		}
		if r.running.CompareAndSwap(n, n+1) {
			break
		}
	}
	r.startWorker()
}
