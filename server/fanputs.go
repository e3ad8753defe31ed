package server

import "github.com/pushmap/pushmap/internal/outbox"

// A batch's puts by connection (issue 13; docs/design.md, "A batch's views
// found once per cell").
//
// A batch of 3,000 moves over 2,000 clients puts about 80,000 ops in
// outboxes, each in the one outbox after another in no order: one lock,
// and the outbox and the tail of its ops out of the cache, per op, most
// of the fan-out's time once the views were found by cells. A worker of a
// batch that fans out by cells queues its deliveries instead, in the order
// of its jobs, and at the end of its share puts them connection by
// connection: a counting sort by the connection's slot, stable, so each
// connection's ops keep the order of the batch, then one PutAll per
// connection. The ops of one marker all come from one worker (fanout.go),
// so they reach each outbox in the batch's order as before; ops of
// different markers from different workers were never ordered.

// connSlots numbers the registered connections from 1, reusing the
// numbers of those gone, so that a worker counts its puts per connection
// in a slice.
type connSlots struct {
	free []int32
	n    int32 // the highest number handed out
}

// registerLocked adds c to the server's connections.
func (s *Server) registerLocked(c *conn) {
	s.conns[c] = struct{}{}
	if n := len(s.slots.free); n > 0 {
		c.slot = s.slots.free[n-1]
		s.slots.free = s.slots.free[:n-1]
		return
	}
	s.slots.n++
	c.slot = s.slots.n
}

// unregisterLocked removes c from the server's connections.
func (s *Server) unregisterLocked(c *conn) {
	delete(s.conns, c)
	if c.slot != 0 {
		s.slots.free = append(s.slots.free, c.slot)
		c.slot = 0
	}
}

// putQueue is a worker's deliveries of a batch that fans out by cells,
// waiting to be put connection by connection.
type putQueue struct {
	slots []int32
	conns []*conn
	es    []outbox.Entry
	// scratch of flush: the count of puts per slot, then the puts sorted.
	counts []int32
	sorted []*conn
	ses    []outbox.Entry
}

// maxQueue is the most puts a queue keeps the memory of between batches.
const maxQueue = 1 << 17

// queue is deliver for a batch that fans out by cells: op waits for
// flushPuts.
func (w *fanWorker) queue(c *conn, key outbox.Key, op []byte) {
	q := &w.puts
	q.slots = append(q.slots, c.slot)
	q.conns = append(q.conns, c)
	q.es = append(q.es, outbox.Entry{Key: key, Op: op})
}

// flushPuts puts what w queued in the outboxes, connection by connection,
// each connection's in the order queued.
func (w *fanWorker) flushPuts() {
	q := &w.puts
	n := len(q.es)
	if n == 0 {
		return
	}
	slots := int(w.s.slots.n) + 1
	if cap(q.counts) < slots {
		q.counts = make([]int32, slots)
	}
	counts := q.counts[:slots]
	clear(counts)
	for _, sl := range q.slots {
		counts[sl]++
	}
	next := int32(0)
	for i, k := range counts {
		counts[i] = next
		next += k
	}
	if cap(q.ses) < n {
		q.sorted = make([]*conn, n)
		q.ses = make([]outbox.Entry, n)
	}
	sorted, ses := q.sorted[:n], q.ses[:n]
	for i, sl := range q.slots {
		at := counts[sl]
		counts[sl]++
		sorted[at], ses[at] = q.conns[i], q.es[i]
	}
	// Slot 0 holds the connections not registered (tests' own), possibly
	// several interleaved: a run of one connection is put at a time.
	for i := 0; i < n; {
		c := sorted[i]
		j := i + 1
		for j < n && sorted[j] == c {
			j++
		}
		w.delivered += int64(j - i)
		if c.out.PutAll(ses[i:j]) {
			w.wake = append(w.wake, c)
		}
		i = j
	}
	// Drop the references, so that the ops and connections can go.
	clear(sorted)
	clear(ses)
	clear(q.conns)
	clear(q.es)
	q.slots, q.conns, q.es = q.slots[:0], q.conns[:0], q.es[:0]
	if cap(q.es) > maxQueue {
		*q = putQueue{counts: q.counts}
	}
}
