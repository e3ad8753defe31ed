package baseline

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// maxSubscription caps the tiles one subscription message may name.
const maxSubscription = 1024

// Tiles is a tile-channel broker (see the package doc). It is an
// http.Handler for its WebSocket endpoint; all its methods are safe for
// concurrent use.
type Tiles struct {
	zoom int
	o    Options

	// mu guards everything below and every tileConn's subs. Lock order:
	// mu, then an outbox's mu.
	mu       sync.Mutex
	channels map[geo.Tile]*channel
	markers  map[string]*tileMarker
	conns    map[*tileConn]struct{}
	enc      *wire.Encoder
	closed   bool
	batch    uint64        // number of the batch Publish is applying
	jobs     []tileJob     // the batch's channel deliveries, not yet fanned out
	workers  []*tileWorker // one per goroutine of a fan-out

	wg sync.WaitGroup // connection handlers and writers

	writes *outbox.Watchdog // bounds every client's writes
}

// A channel is the channel of one tile: its subscribers and the markers
// inside the tile.
type channel struct {
	subs    map[*tileConn]struct{}
	markers map[string]*tileMarker
}

// A tileMarker is a marker's latest state: its tile and encoded op.
type tileMarker struct {
	tile  geo.Tile
	op    []byte
	batch uint64 // the batch that published it last
}

type tileConn struct {
	*conn
	subs map[geo.Tile]struct{} // guarded by Tiles.mu
}

// NewTiles returns a tile-channel broker whose channels are the tiles of
// zoom z.
func NewTiles(z int, opts *Options) (*Tiles, error) {
	if z < 0 || z > geo.MaxZoom {
		return nil, fmt.Errorf("baseline: tile zoom %d is outside [0, %d]", z, geo.MaxZoom)
	}
	o := opts.withDefaults()
	return &Tiles{zoom: z, o: o, channels: map[geo.Tile]*channel{},
		markers: map[string]*tileMarker{}, conns: map[*tileConn]struct{}{}, enc: wire.NewEncoder(),
		writes: outbox.NewWatchdog(o.WriteTimeout)}, nil
}

// Zoom returns the zoom of the broker's tiles.
func (t *Tiles) Zoom() int { return t.zoom }

// Publish publishes each marker of ms to the channel of its tile, and to
// the channel of its former tile when it moved out of it. The broker keeps
// the markers' Props maps.
//
// It schedules writers as pushmap's server does: the batch is first
// applied to the channels, then fanned out, and only then are the writers
// of the clients it concerns started, so that a client gets its share of
// a batch in one frame. The fan-out of a batch of at least parallelFanOut
// publications runs on one goroutine per core, each taking the channels
// whose tile hashes to it, so that a channel's publications reach every
// subscriber in the order published. A marker published twice in one
// batch has the publications before the second fanned out first (their
// writers wait for the end of the batch too): each client's outbox keeps
// the last op put for a marker, which must be the newer one.
func (t *Tiles) Publish(ms []wire.Marker) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batch++
	defer t.startWritersLocked()
	for i := range ms {
		m, op, err := upsertOp(t.enc, ms[i])
		if err != nil {
			return err
		}
		key := outbox.KeyOf(m.ID)
		tile := geo.TileOf(m.Pos, t.zoom)
		rec := t.markers[m.ID]
		switch {
		case rec == nil:
			rec = &tileMarker{tile: tile}
			t.markers[m.ID] = rec
			t.channel(tile).markers[m.ID] = rec
		case rec.batch == t.batch:
			t.fanOutLocked()
		}
		rec.batch = t.batch
		if rec.tile != tile {
			old := t.channels[rec.tile]
			delete(old.markers, m.ID)
			if len(old.subs) > 0 {
				t.jobs = append(t.jobs, tileJob{ch: old, tile: rec.tile, key: key, op: op, skip: tile, leave: true})
			}
			t.collect(rec.tile, old)
			rec.tile = tile
			t.channel(tile).markers[m.ID] = rec
		}
		rec.op = op
		if ch := t.channels[tile]; len(ch.subs) > 0 {
			t.jobs = append(t.jobs, tileJob{ch: ch, tile: tile, key: key, op: op})
		}
	}
	return nil
}

// parallelFanOut is the smallest number of channel deliveries in a batch
// that are shared out among goroutines, as pushmap's server does from
// 512 updates.
const parallelFanOut = 512

// A tileJob is one publication on one channel: op for every subscriber of
// ch, but, for a marker leaving ch's tile, those subscribed to skip (its
// new tile) too, who get it there.
type tileJob struct {
	ch    *channel
	tile  geo.Tile // ch's, to share jobs out by
	key   outbox.Key
	op    []byte
	skip  geo.Tile
	leave bool
}

// A tileWorker runs tile jobs on one goroutine and keeps the clients whose
// writers must start.
type tileWorker struct {
	wake []*tileConn
}

// run delivers the jobs whose tile falls to worker k of n. Tiles.mu is
// held by the publisher, so channels and subscriptions only read.
func (w *tileWorker) run(jobs []tileJob, k, n int) {
	for i := range jobs {
		j := &jobs[i]
		if n > 1 && tileHash(j.tile)%uint64(n) != uint64(k) {
			continue
		}
		for c := range j.ch.subs {
			if j.leave {
				if _, also := c.subs[j.skip]; also {
					continue
				}
			}
			if c.out.Put(j.key, j.op) {
				w.wake = append(w.wake, c)
			}
		}
	}
}

// tileHash spreads tiles over workers.
func tileHash(t geo.Tile) uint64 {
	h := uint64(t.X)<<32 | uint64(t.Y)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// fanOutLocked delivers the jobs queued, on every core when they are many.
// The writers they call for wait in the workers. t.mu is held.
func (t *Tiles) fanOutLocked() {
	n := runtime.GOMAXPROCS(0)
	if len(t.jobs) < parallelFanOut {
		n = 1
	}
	for len(t.workers) < n {
		t.workers = append(t.workers, &tileWorker{})
	}
	var wg sync.WaitGroup
	for k := 1; k < n; k++ {
		w := t.workers[k]
		wg.Go(func() { w.run(t.jobs, k, n) })
	}
	t.workers[0].run(t.jobs, 0, n)
	wg.Wait()
	clear(t.jobs)
	t.jobs = t.jobs[:0]
}

// startWritersLocked fans out what the batch has left and starts the
// writers it calls for. t.mu is held.
func (t *Tiles) startWritersLocked() {
	t.fanOutLocked()
	for _, w := range t.workers {
		for _, c := range w.wake {
			c.startWriter()
		}
		clear(w.wake)
		w.wake = w.wake[:0]
	}
}

// channel returns the channel of tile, making it. t.mu is held.
func (t *Tiles) channel(tile geo.Tile) *channel {
	ch := t.channels[tile]
	if ch == nil {
		ch = &channel{subs: map[*tileConn]struct{}{}, markers: map[string]*tileMarker{}}
		t.channels[tile] = ch
	}
	return ch
}

// collect drops ch, the channel of tile, if it is empty. t.mu is held.
func (t *Tiles) collect(tile geo.Tile, ch *channel) {
	if len(ch.subs) == 0 && len(ch.markers) == 0 {
		delete(t.channels, tile)
	}
}

// ServeHTTP upgrades the request to a WebSocket and serves the client's
// subscriptions until it leaves.
func (t *Tiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	c := &tileConn{conn: newConn(ws, &t.o, t.writes, &t.wg), subs: map[geo.Tile]struct{}{}}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	defer t.leave(c)
	for {
		typ, frame, err := ws.Read(c.ctx)
		if err != nil {
			return
		}
		var msg subscription
		if typ != websocket.MessageBinary || msgpack.Unmarshal(frame, &msg) != nil {
			ws.Close(websocket.StatusPolicyViolation, errBadMessage.Error())
			return
		}
		if err := t.subscribe(c, &msg); err != nil {
			ws.Close(websocket.StatusPolicyViolation, err.Error())
			return
		}
	}
}

// subscription is the client's [100, seq, z, sub, unsub].
type subscription struct {
	_     struct{} `msgpack:",as_array"`
	Type  int
	Seq   uint64
	Z     int
	Sub   []uint32
	Unsub []uint32
}

func (t *Tiles) tiles(xy []uint32) ([]geo.Tile, error) {
	if len(xy)%2 != 0 || len(xy) > 2*maxSubscription {
		return nil, fmt.Errorf("%w: %d tile coordinates", errBadMessage, len(xy))
	}
	tiles := make([]geo.Tile, len(xy)/2)
	for i := range tiles {
		tiles[i] = geo.Tile{Z: uint8(t.zoom), X: xy[2*i], Y: xy[2*i+1]}
		if tiles[i].Validate() != nil {
			return nil, fmt.Errorf("%w: tile %v", errBadMessage, tiles[i])
		}
	}
	return tiles, nil
}

// subscribe applies a subscription and queues its acknowledgement with
// the markers of the tiles it adds, in order with the client's updates.
func (t *Tiles) subscribe(c *tileConn, msg *subscription) error {
	if msg.Type != TypeSubscribe || msg.Z != t.zoom {
		return fmt.Errorf("%w: type %d zoom %d", errBadMessage, msg.Type, msg.Z)
	}
	sub, err := t.tiles(msg.Sub)
	if err != nil {
		return err
	}
	unsub, err := t.tiles(msg.Unsub)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tile := range unsub {
		if _, ok := c.subs[tile]; !ok {
			continue
		}
		delete(c.subs, tile)
		ch := t.channels[tile]
		delete(ch.subs, c)
		t.collect(tile, ch)
	}
	var snap []*tileMarker
	size := 0
	for _, tile := range sub {
		if _, ok := c.subs[tile]; ok {
			continue
		}
		c.subs[tile] = struct{}{}
		ch := t.channel(tile)
		ch.subs[c] = struct{}{}
		for _, rec := range ch.markers {
			snap = append(snap, rec)
			size += len(rec.op)
		}
	}
	frame := AppendSubAckHeader(make([]byte, 0, size+16), msg.Seq, len(snap))
	for _, rec := range snap {
		frame = append(frame, rec.op...)
	}
	if c.out.Control(frame) {
		c.startWriter()
	}
	return nil
}

func (t *Tiles) leave(c *tileConn) {
	t.mu.Lock()
	for tile := range c.subs {
		ch := t.channels[tile]
		delete(ch.subs, c)
		t.collect(tile, ch)
	}
	c.subs = nil
	delete(t.conns, c)
	t.mu.Unlock()
	c.end()
}

// Channels returns the number of tile channels with a subscriber or a
// marker.
func (t *Tiles) Channels() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.channels)
}

// Close closes every client at once and waits for their goroutines.
func (t *Tiles) Close() {
	closeAll(&t.mu, &t.closed, t.conns)
	t.wg.Wait()
}
