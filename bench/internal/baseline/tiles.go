package baseline

import (
	"fmt"
	"net/http"
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
	tile geo.Tile
	op   []byte
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
func (t *Tiles) Publish(ms []wire.Marker) error {
	t.mu.Lock()
	defer t.mu.Unlock()
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
		case rec.tile != tile:
			old := t.channels[rec.tile]
			delete(old.markers, m.ID)
			for c := range old.subs {
				if _, also := c.subs[tile]; !also {
					t.deliver(c, key, op)
				}
			}
			t.collect(rec.tile, old)
			rec.tile = tile
			t.channel(tile).markers[m.ID] = rec
		}
		rec.op = op
		for c := range t.channels[tile].subs {
			t.deliver(c, key, op)
		}
	}
	return nil
}

func (t *Tiles) deliver(c *tileConn, key outbox.Key, op []byte) {
	if c.out.Put(key, op) {
		c.startWriter()
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
