package loadgen

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pushmap/pushmap/bench/internal/audit"
	"github.com/pushmap/pushmap/bench/internal/baseline"
	"github.com/pushmap/pushmap/bench/internal/fleet"
	"github.com/pushmap/pushmap/bench/internal/target"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A client is one simulated map. Its reader goroutine (WebSocket) or poll
// goroutine receives; the run's pan goroutine moves its view.
type client struct {
	r     *run
	idx   int
	rng   *rand.Rand    // pan goroutine
	au    *audit.Client // nil when not audited
	box   geo.Box       // pan goroutine: the view
	ws    *wsConn
	ready chan struct{}
	once  sync.Once

	// Tiles, pan goroutine.
	tiles map[geo.Tile]struct{}
	seq   uint64
	mu    sync.Mutex
	subs  map[uint64]geo.Box // guarded by mu: subscriptions awaiting their ack

	// Pushmap with a margin: the views sent and not yet acknowledged, each
	// the widened box sent and the view it widens. Guarded by mu.
	widened [][2]geo.Box

	// Poll.
	pollMu  sync.Mutex
	pollBox geo.Box // guarded by pollMu
	pollNew bool    // guarded by pollMu: pollBox not yet asked for
	hc      *http.Client
	seen    map[uint32]uint32 // poll goroutine: latest version seen per marker

	// PollSince, poll goroutine: the cursor of the last answer and the box
	// it was for.
	cursor    string
	cursorBox geo.Box
}

// dialTimeout bounds connecting one client until its first view is
// acknowledged.
const dialTimeout = 60 * time.Second

// connect brings the run to n clients, connecting the new ones a few at a
// time.
func (r *run) connect(ctx context.Context, n int) error {
	first := len(r.clients)
	if n <= first {
		return nil
	}
	start := time.Now()
	for i := first; i < n; i++ {
		c := &client{r: r, idx: i, ready: make(chan struct{}),
			rng: rand.New(rand.NewPCG(r.sc.Seed, uint64(i)))}
		if r.sc.Audit == 0 || i < r.sc.Audit {
			c.au = audit.NewClient()
			r.audited = append(r.audited, c.au)
		}
		r.clients = append(r.clients, c)
	}
	_, errs := inParallel(n-first, 32, 5, func(i int) error {
		c := r.clients[first+i]
		if err := c.connect(ctx); err != nil {
			return fmt.Errorf("client %d: %w", c.idx, err)
		}
		return nil
	})
	if len(errs) > 0 {
		return fmt.Errorf("loadgen: connecting clients: %w", errors.Join(errs...))
	}
	r.env.logf("  %d clients connected in %v", n-first, time.Since(start).Round(time.Millisecond))
	return nil
}

// inParallel calls fn(i) for every i in [0, n) on at most workers
// goroutines, and returns how many calls failed and the errors of the
// first keep of them.
func inParallel(n, workers, keep int, fn func(i int) error) (failed int, errs []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if failed++; len(errs) < keep {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return failed, errs
}

func (c *client) markReady() { c.once.Do(func() { close(c.ready) }) }

func (c *client) connect(ctx context.Context) error {
	r := c.r
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	src := r.env.Sources
	var ip net.IP
	k := 0
	if len(src) > 0 {
		k = int(r.nextSrc.Add(1)) % len(src)
		ip = src[k]
	}
	c.box = c.firstBox()
	if r.sc.Approach.polls() {
		c.hc = &http.Client{Transport: r.transport(ip, 1, r.sc.Approach == PollSince)}
		c.seen = map[uint32]uint32{}
		c.pollBox, c.pollNew = c.box, true
		phase := time.Duration(c.rng.Int64N(int64(r.sc.PollEvery)))
		r.wg.Add(1)
		go c.pollLoop(phase)
	} else {
		ws, err := dialWS(ctx, r.wsDials[k], "ws"+r.nodeBase(c.idx)[len("http"):]+target.PathWS)
		if err != nil {
			return err
		}
		c.ws = ws
		switch r.sc.Approach {
		case Pushmap, Floor:
			hello, _ := wire.Marshal(wire.Hello{Version: wire.Version})
			if err := ws.write(ctx, hello); err != nil {
				return err
			}
		case Tiles:
			c.tiles, c.subs = map[geo.Tile]struct{}{}, map[uint64]geo.Box{}
		}
		r.wg.Add(1)
		go c.readLoop()
		if err := c.setView(ctx, c.box); err != nil {
			return err
		}
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return fmt.Errorf("no first view acknowledgement: %w", ctx.Err())
	}
	r.schedulePan(c)
	return nil
}

// firstBox returns a random view box inside the region.
func (c *client) firstBox() geo.Box {
	reg, w, h := c.r.sc.Fleet.Region, c.r.sc.View[0], c.r.sc.View[1]
	x := reg.West + c.rng.Float64()*(reg.East-reg.West-w)
	y := reg.South + c.rng.Float64()*(reg.North-reg.South-h)
	return roundBox(geo.BBox(x, y, x+w, y+h))
}

// nextBox returns the view after a pan: moved by up to a view's size in
// each direction, kept inside the region.
func (c *client) nextBox() geo.Box {
	reg, w, h := c.r.sc.Fleet.Region, c.r.sc.View[0], c.r.sc.View[1]
	x := c.box.West + (2*c.rng.Float64()-1)*w
	y := c.box.South + (2*c.rng.Float64()-1)*h
	x = min(max(x, reg.West), reg.East-w)
	y = min(max(y, reg.South), reg.North-h)
	return roundBox(geo.BBox(x, y, x+w, y+h))
}

// roundBox rounds b's edges to 1e-7 degrees, as a map would show them.
func roundBox(b geo.Box) geo.Box {
	r := func(f float64) float64 { return math.Round(f*1e7) / 1e7 }
	return geo.BBox(r(b.West), r(b.South), r(b.East), r(b.North))
}

// setView makes box the client's view. Called at connection, then by the
// pan goroutine.
func (c *client) setView(ctx context.Context, box geo.Box) error {
	r := c.r
	c.box = box
	switch r.sc.Approach {
	case Pushmap, Floor:
		sent := box
		if r.sc.Margin > 0 {
			sent = roundBox(widen(box, r.sc.Margin))
			c.mu.Lock()
			c.widened = append(c.widened, [2]geo.Box{sent, box})
			c.mu.Unlock()
		}
		frame, err := wire.Marshal(wire.View{ID: 0, Box: sent, Zoom: r.sc.Zoom})
		if err != nil {
			return err
		}
		if c.au != nil {
			c.au.ViewSent(box, r.now())
		}
		return c.ws.write(ctx, frame)
	case Tiles:
		z := r.sc.TileZoom
		want := map[geo.Tile]struct{}{}
		var sub, unsub []uint32
		for _, t := range geo.TilesTouching(box, z) {
			want[t] = struct{}{}
			if _, ok := c.tiles[t]; !ok {
				sub = append(sub, t.X, t.Y)
			}
		}
		for t := range c.tiles {
			if _, ok := want[t]; !ok {
				unsub = append(unsub, t.X, t.Y)
			}
		}
		c.tiles = want
		c.seq++
		c.mu.Lock()
		c.subs[c.seq] = box
		c.mu.Unlock()
		if c.au != nil {
			c.au.ViewSent(box, r.now())
		}
		return c.ws.write(ctx, baseline.AppendSubscribe(nil, c.seq, z, sub, unsub))
	case Broadcast:
		// The client filters by itself: a pan takes effect at once.
		if c.au != nil {
			at := r.now()
			c.au.ViewSent(box, at)
			c.au.ViewAcked(box, at)
		}
	case Poll, PollSince:
		c.pollMu.Lock()
		c.pollBox, c.pollNew = box, true
		c.pollMu.Unlock()
	}
	return nil
}

func (c *client) stop() {
	if c.ws != nil {
		c.ws.close()
	}
}

// widen adds margin × the box's size on each side of b, as the browser
// client (wasmclient) widens the views it sends; the bench's regions do
// not cross the antimeridian.
func widen(b geo.Box, margin float64) geo.Box {
	dx, dy := (b.East-b.West)*margin, (b.North-b.South)*margin
	return geo.Box{West: max(-180, b.West-dx), South: max(-90, b.South-dy), East: min(180, b.East+dx), North: min(90, b.North+dy)}
}

// viewOf returns the view whose widened box sent is acknowledged: sent
// itself without a margin.
func (c *client) viewOf(sent geo.Box) geo.Box {
	if c.r.sc.Margin <= 0 {
		return sent
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.widened {
		if w[0] == sent {
			c.widened = c.widened[i+1:]
			return w[1]
		}
	}
	return sent
}

// readLoop reads the frames of a WebSocket client until its connection
// closes.
func (c *client) readLoop() {
	r := c.r
	defer r.wg.Done()
	var buf []byte
	var recs []audit.Record
	for {
		var err error
		buf, err = c.ws.read(buf)
		if err != nil {
			if r.ctx.Err() == nil {
				r.disconnects.Add(1)
				r.env.logf("  client %d disconnected: %v", c.idx, err)
			}
			return
		}
		recs = c.handle(buf, r.now(), recs[:0])
	}
}

// readAll appends what rd holds to buf.
func readAll(buf []byte, rd io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// handle takes in a frame received at time at.
func (c *client) handle(b []byte, at int64, recs []audit.Record) []audit.Record {
	r := c.r
	f, err := parseFrame(b)
	if err != nil {
		r.errs.Add(1)
		return recs
	}
	kind := audit.Update
	switch f.typ {
	case int(wire.TypeBatch):
	case int(wire.TypeViewAck):
		kind = audit.Snapshot
		if c.au != nil && !c.au.ViewAcked(c.viewOf(f.view), at) {
			r.errs.Add(1)
		}
		c.markReady()
	case baseline.TypeSubAck:
		kind = audit.Snapshot
		if f.seq != 0 { // tile channels; broadcast's first frame has 0
			c.mu.Lock()
			box, ok := c.subs[f.seq]
			delete(c.subs, f.seq)
			c.mu.Unlock()
			if c.au != nil && (!ok || !c.au.ViewAcked(box, at)) {
				r.errs.Add(1)
			}
		}
		c.markReady()
	case int(wire.TypeReset):
		kind = audit.Snapshot
		r.resets.Add(1)
	case int(wire.TypeError):
		r.errs.Add(1)
		return recs
	default:
		return recs
	}
	var (
		n       int
		curTick int64 = -1
		curN    int
	)
	from, to := r.winFrom.Load(), r.winTo.Load()
	flush := func() {
		if curN > 0 && curTick >= from && curTick < to {
			r.record(c.idx, time.Duration(at-r.j.SentAt(curTick)), curN)
		}
		curN = 0
	}
	for {
		o, ok, err := f.next()
		if err != nil {
			r.errs.Add(1)
			break
		}
		if !ok {
			break
		}
		if o.other || !o.fleet || !r.fl.Exists(o.m) {
			continue
		}
		if kind == audit.Snapshot {
			if c.au != nil && !o.remove {
				recs = append(recs, audit.Record{T: at, M: o.m, V: o.v, Kind: audit.Snapshot})
			}
			continue
		}
		n++
		var tick int64
		if o.remove {
			v := r.fl.Version(o.m, r.j.SentBy(at))
			tick = r.fl.Tick(o.m, v)
			if c.au != nil {
				recs = append(recs, audit.Record{T: at, M: o.m, Kind: audit.Remove})
			}
		} else {
			tick = r.fl.Tick(o.m, o.v)
			if c.au != nil {
				recs = append(recs, audit.Record{T: at, M: o.m, V: o.v, Kind: audit.Update, Lon: int32(o.lon), Lat: int32(o.lat)})
			}
		}
		if tick != curTick {
			flush()
			curTick = tick
		}
		curN++
	}
	flush()
	if n > 0 && r.inWindow.Load() {
		r.delivered.Add(int64(n))
		r.frames.Add(1)
	}
	if c.au != nil && len(recs) > 0 {
		c.au.Add(recs...)
	}
	return recs
}

// pollLoop polls the client's box every PollEvery, from a random phase,
// until the run ends.
func (c *client) pollLoop(phase time.Duration) {
	r := c.r
	defer r.wg.Done()
	defer c.hc.CloseIdleConnections()
	every := r.sc.PollEvery
	next := time.Now().Add(phase)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	var buf []byte
	var recs []audit.Record
	path := target.PathFeed
	if r.sc.Approach == PollSince {
		path = target.PathPoll
	}
	url := []byte(r.base + path + "?bbox=")
	base := len(url)
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-timer.C:
		}
		c.pollMu.Lock()
		box, isNew := c.pollBox, c.pollNew
		c.pollNew = false
		c.pollMu.Unlock()
		url = appendBBox(url[:base], box)
		// PollSince asks for the changes since its last answer for this
		// box, and for the whole box after a pan.
		since := ""
		if r.sc.Approach == PollSince && !isNew && c.cursorBox == box {
			since = c.cursor
			url = append(append(url, "&since="...), since...)
		}
		sent := r.now()
		if isNew && c.au != nil {
			c.au.ViewSent(box, sent)
		}
		var (
			a   pollAnswer
			err error
		)
		buf, a, err = c.get(string(url), since, buf[:0])
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.errs.Add(1)
			r.env.logf("  client %d: poll: %v", c.idx, err)
		} else {
			at := r.now()
			if isNew && c.au != nil {
				c.au.ViewAcked(box, at)
			}
			if a.cursor != "" {
				c.cursor, c.cursorBox = a.cursor, box
			}
			if !a.notModified {
				recs = c.takePoll(buf, at, !isNew, since != "" && !a.full, recs[:0])
			}
			c.markReady()
		}
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
		} else {
			next = time.Now()
			timer.Reset(0)
		}
	}
}

// A pollAnswer is what a poll's headers said.
type pollAnswer struct {
	notModified bool   // 304: nothing changed since the cursor
	full        bool   // Poll-Full: the whole box, though changes were asked for
	cursor      string // Poll-Cursor
}

// get sends a poll and reads its answer into buf. A poll with a cursor
// (since) is conditional on it: If-None-Match names it.
func (c *client) get(url, since string, buf []byte) ([]byte, pollAnswer, error) {
	var a pollAnswer
	req, err := http.NewRequestWithContext(c.r.ctx, http.MethodGet, url, nil)
	if err != nil {
		return buf, a, err
	}
	if since != "" {
		req.Header.Set("If-None-Match", `"`+since+`"`)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return buf, a, err
	}
	defer resp.Body.Close()
	buf, err = readAll(buf, resp.Body)
	a.notModified = resp.StatusCode == http.StatusNotModified
	a.full = resp.Header.Get("Poll-Full") == "1"
	a.cursor = resp.Header.Get("Poll-Cursor")
	if err == nil && resp.StatusCode != http.StatusOK && !a.notModified {
		err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(buf))
	}
	if c.r.inWindow.Load() {
		c.r.requests.Add(1)
	}
	return buf, a, err
}

// takePoll takes in a poll answer received at time at. same says the box
// is the one polled before: only then are the versions first seen updates
// whose latency counts (after a pan they are the new box's snapshot).
// changes says the answer holds the changes since the last one (PollSince),
// each marker an update, rather than the whole box, which replaces what the
// client holds.
func (c *client) takePoll(b []byte, at int64, same, changes bool, recs []audit.Record) []audit.Record {
	r := c.r
	kind := audit.PollItem
	if changes {
		kind = audit.Update
	} else if c.au != nil {
		recs = append(recs, audit.Record{T: at, Kind: audit.PollBegin})
	}
	from, to := r.winFrom.Load(), r.winTo.Load()
	n := 0
	err := parsePoll(b, c.au != nil, func(m, v uint32, lon, lat float64) {
		if !r.fl.Exists(m) || v == 0 {
			return
		}
		n++
		if c.au != nil {
			recs = append(recs, audit.Record{T: at, M: m, V: v, Kind: kind, Lon: int32(wire.ToE7(lon)), Lat: int32(wire.ToE7(lat))})
		}
		if v > c.seen[m] {
			c.seen[m] = v
			if t := r.fl.Tick(m, v); same && t >= from && t < to {
				r.record(c.idx, time.Duration(at-r.j.SentAt(t)), 1)
			}
		}
	})
	if err != nil {
		r.errs.Add(1)
	}
	if n > 0 && r.inWindow.Load() {
		r.delivered.Add(int64(n))
		r.frames.Add(1)
	}
	if c.au != nil {
		c.au.Add(recs...)
	}
	return recs
}

// appendBBox appends b as "west,south,east,north", exactly.
func appendBBox(dst []byte, b geo.Box) []byte {
	for i, f := range [4]float64{b.West, b.South, b.East, b.North} {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return dst
}

// parsePoll calls fn for each marker of an answer of the ingest's GET
// /markers, with its position when pos is set. It reads the fields in the
// order the ingest writes them: id, layer, lon, lat, version.
func parsePoll(b []byte, pos bool, fn func(m, v uint32, lon, lat float64)) error {
	keys := [...][]byte{[]byte(`"id":"`), []byte(`"lon":`), []byte(`"lat":`), []byte(`"version":`)}
	for {
		k := bytes.Index(b, keys[0])
		if k < 0 {
			return nil
		}
		b = b[k+len(keys[0]):]
		e := bytes.IndexByte(b, '"')
		if e < 0 {
			return errFrame
		}
		m, isFleet := fleet.Index(b[:e])
		var vals [3]float64
		for i, key := range keys[1:] {
			k := bytes.Index(b, key)
			if k < 0 {
				return errFrame
			}
			b = b[k+len(key):]
			e := bytes.IndexAny(b, ",}")
			if e < 0 {
				return errFrame
			}
			if i < 2 && !pos {
				continue
			}
			f, err := strconv.ParseFloat(string(b[:e]), 64)
			if err != nil {
				return err
			}
			vals[i] = f
		}
		if isFleet {
			fn(m, uint32(vals[2]), vals[0], vals[1])
		}
	}
}

// A panQueue orders clients by their next pan.
type panQueue []panItem

type panItem struct {
	at time.Time
	c  *client
}

func (q panQueue) Len() int           { return len(q) }
func (q panQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q panQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *panQueue) Push(x any)        { *q = append(*q, x.(panItem)) }
func (q *panQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

var panMu sync.Mutex // guards the pan queues of all runs; pans are rare

// schedulePan queues c's next pan, 0.5 to 1.5 times Pan from now.
func (r *run) schedulePan(c *client) {
	d := time.Duration((0.5 + c.rng.Float64()) * float64(r.sc.Pan))
	panMu.Lock()
	heap.Push(&r.pans, panItem{at: time.Now().Add(d), c: c})
	panMu.Unlock()
}

// panLoop pans clients when their time comes, until the run ends.
func (r *run) panLoop() {
	defer close(r.panDone)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.panStop:
			return
		case <-tick.C:
		}
		now := time.Now()
		for {
			panMu.Lock()
			if len(r.pans) == 0 || r.pans[0].at.After(now) {
				panMu.Unlock()
				break
			}
			c := heap.Pop(&r.pans).(panItem).c
			panMu.Unlock()
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			err := c.setView(ctx, c.nextBox())
			cancel()
			if err != nil {
				if r.ctx.Err() != nil {
					return
				}
				r.errs.Add(1)
				continue // a client that cannot pan pans no more
			}
			r.schedulePan(c)
		}
	}
}
