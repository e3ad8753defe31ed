package baseline

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/wsframe"
	"github.com/pushmap/pushmap/wire"
)

// Floor is not shippable: it is the floor under pushmap's latency and CPU
// at the load benchmark's workload, the leanest server a competent
// engineer could write for the job that the benchmark's pushmap clients
// accept. It speaks the subset of pushmap's protocol those clients use:
// it takes a hello (and ignores it) and views (id 0, one per client), and
// sends view_ack frames, whose ops are the markers in the new view that
// were not in the old one, and batch frames. It keeps the views in a plain
// slice and fans each published batch out by brute force, helped by a grid
// of the batch's updates (built per batch: each client tests only the
// updates in the cells its view overlaps), on GOMAXPROCS goroutines each owning a slice of the
// clients, each client's share of the batch written as one WebSocket frame
// with one write(2), straight onto the TCP connection.
//
// What it leaves out, and pushmap cannot: no outbox (a write blocks the
// fan-out until the socket takes it, so one stuck client stalls every
// other), no write timeout or watchdog, no coalescing for a client that
// falls behind, no limits (connections, frame sizes, view rates), no
// clusters, layers, tiles, removals by the feed or TTLs, no auth, no
// pings, no close handshake. Its WebSocket is hand-written (the upgrade
// and the frame headers) rather than a library's.
//
// It is an http.Handler for its WebSocket endpoint; all its methods are
// safe for concurrent use.
type Floor struct {
	// mu guards everything below; Publish holds it through the fan-out and
	// a view's acknowledgement is written under it, so that each client's
	// frames are written one at a time and in order.
	mu      sync.Mutex
	clients []*floorClient
	markers []floorMarker
	index   map[string]int // marker id → its index in markers
	enc     *wire.Encoder
	changes []floorChange
	grid    floorBatchGrid
	closed  bool
	workers []floorWorker

	wg sync.WaitGroup // ServeHTTP calls
}

// A floorMarker is a marker's latest position and its ops.
type floorMarker struct {
	pos      geo.Point
	upsert   []byte
	remove   []byte
	hasState bool
}

// A floorChange is one update of a published batch.
type floorChange struct {
	old, pos geo.Point
	hadOld   bool
	upsert   []byte
	remove   []byte
}

// A floorClient is one WebSocket client: its connection and its view.
type floorClient struct {
	conn    net.Conn
	view    geo.Box
	hasView bool
}

// A floorWorker is a fan-out goroutine's scratch space, kept between
// batches.
type floorWorker struct {
	idx   []int32  // the changes a client gets
	stamp []uint32 // per change: the last client (a count) that looked at it
	ops   [][]byte
	frame []byte
}

// NewFloor returns a floor server.
func NewFloor() *Floor {
	return &Floor{index: map[string]int{}, enc: wire.NewEncoder(), workers: make([]floorWorker, runtime.GOMAXPROCS(0))}
}

// Publish sends each client the markers of ms that are in its view
// (upserts) or that just left it (removals), one frame per client, and
// returns once every frame is written.
func (f *Floor) Publish(ms []wire.Marker) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = f.changes[:0]
	for i := range ms {
		m, op, err := upsertOp(f.enc, ms[i])
		if err != nil {
			return err
		}
		k, ok := f.index[m.ID]
		if !ok {
			k = len(f.markers)
			f.index[m.ID] = k
			f.markers = append(f.markers, floorMarker{remove: bytes.Clone(f.enc.Remove(m.ID))})
		}
		fm := &f.markers[k]
		f.changes = append(f.changes, floorChange{old: fm.pos, pos: m.Pos, hadOld: fm.hasState, upsert: op, remove: fm.remove})
		fm.pos, fm.upsert, fm.hasState = m.Pos, op, true
	}
	f.grid.build(f.changes)
	n := len(f.workers)
	per := (len(f.clients) + n - 1) / n
	var wg sync.WaitGroup
	for w := range f.workers {
		lo, hi := min(w*per, len(f.clients)), min((w+1)*per, len(f.clients))
		if lo == hi {
			continue
		}
		wg.Go(func() { f.fanOut(&f.workers[w], f.clients[lo:hi]) })
	}
	wg.Wait()
	return nil
}

// fanOut writes each of clients its share of the batch f.changes, found
// through the batch's grid.
func (f *Floor) fanOut(w *floorWorker, clients []*floorClient) {
	g := &f.grid
	if cap(w.stamp) < len(f.changes) {
		w.stamp = make([]uint32, len(f.changes))
	}
	w.stamp = w.stamp[:len(f.changes)]
	clear(w.stamp)
	var gen uint32
	for _, c := range clients {
		if !c.hasView {
			continue
		}
		gen++
		w.idx = w.idx[:0]
		x0, y0, x1, y1 := g.cells(c.view)
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				k := y*floorGrid + x
				for _, i := range g.items[g.start[k]:g.start[k+1]] {
					if w.stamp[i] == gen {
						continue
					}
					w.stamp[i] = gen
					ch := &f.changes[i]
					if c.view.Contains(ch.pos) || ch.hadOld && c.view.Contains(ch.old) {
						w.idx = append(w.idx, i)
					}
				}
			}
		}
		if len(w.idx) == 0 {
			continue
		}
		slices.Sort(w.idx) // in the batch's order
		w.ops = w.ops[:0]
		for _, i := range w.idx {
			ch := &f.changes[i]
			if c.view.Contains(ch.pos) {
				w.ops = append(w.ops, ch.upsert)
			} else {
				w.ops = append(w.ops, ch.remove)
			}
		}
		w.frame = appendFrame(w.frame[:0], wire.AppendBatchHeader, w.ops)
		c.conn.Write(w.frame) // an error is the reader's to see
	}
}

// floorGrid is the number of columns and rows of a batch's grid.
const floorGrid = 64

// A floorBatchGrid buckets a batch's changes by where they are, so that a
// client looks only at the changes near its view: each change is in the
// cell of its new position and in that of its old one. Cells cover the
// batch's bounding box; a point outside it (a view's edge) falls in the
// nearest cell.
type floorBatchGrid struct {
	west, south, cw, ch float64
	start               []int32 // cell k's changes are items[start[k]:start[k+1]]
	items               []int32
}

// build buckets changes.
func (g *floorBatchGrid) build(changes []floorChange) {
	box := geo.Box{West: math.Inf(1), South: math.Inf(1), East: math.Inf(-1), North: math.Inf(-1)}
	grow := func(p geo.Point) {
		box.West, box.East = min(box.West, p.Lon), max(box.East, p.Lon)
		box.South, box.North = min(box.South, p.Lat), max(box.North, p.Lat)
	}
	for i := range changes {
		grow(changes[i].pos)
		if changes[i].hadOld {
			grow(changes[i].old)
		}
	}
	g.west, g.south = box.West, box.South
	g.cw, g.ch = (box.East-box.West)/floorGrid, (box.North-box.South)/floorGrid
	if !(g.cw > 0) {
		g.cw = 1
	}
	if !(g.ch > 0) {
		g.ch = 1
	}
	g.start = slices.Grow(g.start[:0], floorGrid*floorGrid+1)[:floorGrid*floorGrid+1]
	clear(g.start)
	each := func(fn func(k, i int)) {
		for i := range changes {
			k := g.cell(changes[i].pos)
			fn(k, i)
			if changes[i].hadOld {
				if ko := g.cell(changes[i].old); ko != k {
					fn(ko, i)
				}
			}
		}
	}
	each(func(k, _ int) { g.start[k+1]++ })
	for k := 1; k < len(g.start); k++ {
		g.start[k] += g.start[k-1]
	}
	n := g.start[len(g.start)-1]
	g.items = slices.Grow(g.items[:0], int(n))[:n]
	fill := make([]int32, floorGrid*floorGrid)
	copy(fill, g.start)
	each(func(k, i int) { g.items[fill[k]] = int32(i); fill[k]++ })
}

func (g *floorBatchGrid) col(lon float64) int {
	return min(max(int((lon-g.west)/g.cw), 0), floorGrid-1)
}

func (g *floorBatchGrid) row(lat float64) int {
	return min(max(int((lat-g.south)/g.ch), 0), floorGrid-1)
}

func (g *floorBatchGrid) cell(p geo.Point) int { return g.row(p.Lat)*floorGrid + g.col(p.Lon) }

// cells returns the range of cells a view overlaps: every cell when it
// crosses the antimeridian.
func (g *floorBatchGrid) cells(b geo.Box) (x0, y0, x1, y1 int) {
	if b.CrossesAntimeridian() {
		return 0, g.row(b.South), floorGrid - 1, g.row(b.North)
	}
	return g.col(b.West), g.row(b.South), g.col(b.East), g.row(b.North)
}

// appendFrame appends to dst a binary WebSocket frame (a server's,
// unmasked) whose payload is head(n) and then ops.
func appendFrame(dst []byte, head func([]byte, int) []byte, ops [][]byte) []byte {
	var hb [16]byte
	h := head(hb[:0], len(ops))
	size := len(h)
	for _, op := range ops {
		size += len(op)
	}
	dst = wsframe.AppendHeader(dst, 0x82, size, false) // FIN, binary
	dst = append(dst, h...)
	for _, op := range ops {
		dst = append(dst, op...)
	}
	return dst
}

// floorMaxFrame caps a client's frame, as pushmap's default
// maxFrameBytes.
const floorMaxFrame = 64 << 10

// ServeHTTP upgrades the request to a WebSocket and serves the client's
// views until it leaves.
func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" || !headerHas(r.Header, "Upgrade", "websocket") {
		http.Error(w, "want a WebSocket upgrade (Upgrade: websocket and a Sec-WebSocket-Key)", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot take the connection over: %v", err), http.StatusInternalServerError)
		return
	}
	if _, err := fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsframe.AcceptKey(key)); err != nil {
		conn.Close()
		return
	}
	c := &floorClient{conn: conn}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		conn.Close()
		return
	}
	f.clients = append(f.clients, c)
	f.wg.Add(1)
	f.mu.Unlock()
	defer f.wg.Done()
	f.serve(c, rw.Reader)
	f.mu.Lock()
	if i := indexOf(f.clients, c); i >= 0 {
		last := len(f.clients) - 1
		f.clients[i], f.clients[last] = f.clients[last], nil
		f.clients = f.clients[:last]
	}
	f.mu.Unlock()
	conn.Close()
}

func indexOf(cs []*floorClient, c *floorClient) int {
	for i, x := range cs {
		if x == c {
			return i
		}
	}
	return -1
}

// headerHas reports whether the comma-separated header name holds token,
// case-insensitively.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range bytes.Split([]byte(v), []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
				return true
			}
		}
	}
	return false
}

// serve reads c's frames until its connection ends: views are applied,
// everything else is ignored.
func (f *Floor) serve(c *floorClient, rd *bufio.Reader) {
	dec := wire.NewServerDecoder()
	var buf []byte
	for {
		var (
			opcode byte
			err    error
		)
		opcode, buf, err = readClientFrame(rd, buf)
		if err != nil {
			return
		}
		switch opcode {
		case 0x8: // close
			return
		case 0x2:
		default:
			continue
		}
		msg, err := dec.Decode(buf)
		if err != nil {
			continue
		}
		if v, ok := msg.(wire.View); ok {
			f.view(c, v)
		}
	}
}

// errFrameTooLarge ends a client that sends a frame over floorMaxFrame.
var errFrameTooLarge = errors.New("baseline: client frame too large")

// readClientFrame reads one client frame (masked, RFC 6455 section 5.2)
// into buf and returns its opcode and payload, unmasked. Fragments come
// back one by one, each with its own opcode (0 for a continuation).
func readClientFrame(rd *bufio.Reader, buf []byte) (byte, []byte, error) {
	h, err := wsframe.ReadHeader(rd)
	if err != nil {
		return 0, buf, err
	}
	if h.Size > floorMaxFrame {
		return 0, buf, fmt.Errorf("%w: %d bytes, at most %d", errFrameTooLarge, h.Size, floorMaxFrame)
	}
	buf = append(buf[:0], make([]byte, h.Size)...)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return 0, buf, err
	}
	if h.Masked {
		for i := range buf {
			buf[i] ^= h.Mask[i&3]
		}
	}
	return h.Opcode(), buf, nil
}

// view makes v c's view and writes its acknowledgement: the markers in v
// that were in none of c's old view (all of them, and the snapshot flag,
// for its first).
func (f *Floor) view(c *floorClient, v wire.View) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, hadOld := c.view, c.hasView
	c.view, c.hasView = v.Box, true
	w := &f.workers[0] // Publish, which uses it too, waits for mu
	w.ops = w.ops[:0]
	for i := range f.markers {
		m := &f.markers[i]
		if m.hasState && v.Box.Contains(m.pos) && !(hadOld && old.Contains(m.pos)) {
			w.ops = append(w.ops, m.upsert)
		}
	}
	var flags wire.Flags
	if !hadOld {
		flags = wire.FlagSnapshot
	}
	ack := wire.View{ID: v.ID, Box: v.Box, Zoom: v.Zoom}
	w.frame = appendFrame(w.frame[:0], func(dst []byte, n int) []byte { return wire.AppendViewAckHeader(dst, ack, flags, n) }, w.ops)
	c.conn.Write(w.frame)
}

// Close closes every client at once and waits for their goroutines.
func (f *Floor) Close() {
	f.mu.Lock()
	f.closed = true
	cs := append([]*floorClient(nil), f.clients...)
	f.mu.Unlock()
	for _, c := range cs {
		c.conn.Close()
	}
	f.wg.Wait()
}
