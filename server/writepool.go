package server

import (
	"runtime"
	"sync/atomic"
)

// The writers of a large batch: a few goroutines write every connection
// the batch woke, instead of a goroutine started per connection (issue 13;
// docs/design.md, "A few writers per batch, a blocked write handed off").
//
// A writeRun's workers take the batch's connections one at a time from a
// shared index and drain each one's outbox (conn.writeLoop) as its own
// writer goroutine would. A worker whose write would block (the client's
// socket is full: it reads slowly, or not at all) starts another worker
// before it waits, so the connections still waiting never queue behind a
// blocked write: the blocked worker goes on with that one connection, as
// its own writer would, bounded by the watchdog, and the new worker takes
// the rest. Only connections whose socket lets the server see that a
// write would block (sockWriter: TCP and Unix sockets) are written so;
// any other (a TLS connection, say) gets its own writer goroutine, as
// before.

// writeRunShare is the fewest connections per worker: a batch waking
// fewer than that per core is written by fewer workers.
const writeRunShare = 16

// A writeRun is the writing of one batch's connections.
type writeRun struct {
	s     *Server
	conns []*conn
	next  atomic.Int64 // index of the next connection to take
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
	workers := max(1, min(runtime.GOMAXPROCS(0), len(wake)/writeRunShare))
	r := &writeRun{s: s, conns: wake}
	r.running.Store(int32(workers))
	for range workers - 1 {
		r.startWorker()
	}
	r.work()
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
	for {
		i := int(r.next.Add(1)) - 1
		if i >= len(r.conns) {
			break
		}
		c := r.conns[i]
		if c.sock == nil {
			c.startWriter()
			continue
		}
		c.sock.blocked.Store(r)
		c.writeLoop()
		c.sock.blocked.Store(nil)
		if (i+1)%writeRunShare == 0 {
			// Let the goroutines readied meanwhile (a feed's
			// handler, a client's view change) run now rather than at
			// the scheduler's next preemption, 10 ms on.
			runtime.Gosched()
		}
	}
	if r.running.Add(-1) == 0 {
		r.s.fan.giveBackWake(r.conns)
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
