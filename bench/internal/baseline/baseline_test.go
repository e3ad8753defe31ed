package baseline

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/wire"
	"github.com/vmihailenco/msgpack/v5"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// testClient is a WebSocket client of a broker that decodes what it gets.
// Its reader goroutine hands frames over a channel (a read with a deadline
// would close the connection).
type testClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan []byte
	err    chan error
}

func dial(t *testing.T, url string) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	c := &testClient{t: t, ws: ws, frames: make(chan []byte, 100), err: make(chan error, 1)}
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.err <- err
				return
			}
			select {
			case c.frames <- b:
			case <-stop: // the test ended without reading everything
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		ws.CloseNow()
		<-done
	})
	return c
}

// read returns the next frame, or the error that ended the connection.
func (c *testClient) read(wait time.Duration) ([]byte, error) {
	select {
	case b := <-c.frames:
		return b, nil
	case err := <-c.err:
		c.err <- err
		return nil, err
	case <-time.After(wait):
		return nil, context.DeadlineExceeded
	}
}

// frame is a decoded server frame: its type, seq (for a SubAck) and the
// ids of its marker ops.
type frame struct {
	typ      int
	seq      uint64
	ids      []string
	versions map[string]uint64 // id → version of its op
}

func (c *testClient) next() frame {
	c.t.Helper()
	b, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return decode(c.t, b)
}

// decode reads a frame with the wire package: a SubAck becomes a Batch
// once its header is replaced.
func decode(t *testing.T, b []byte) frame {
	t.Helper()
	var f frame
	d := msgpack.NewDecoder(bytes.NewReader(b))
	n, _ := d.DecodeArrayLen()
	typ, _ := d.DecodeInt()
	f.typ = typ
	rest := b
	if typ == TypeSubAck {
		f.seq, _ = d.DecodeUint64()
		ops := b[len(b)-d.Buffered().(*bytes.Reader).Len():]
		rest = append(wire.AppendBatchHeader(nil, n-2), ops...)
	}
	msg, err := wire.Unmarshal(rest)
	if err != nil {
		t.Fatalf("frame %x: %v", b, err)
	}
	f.versions = map[string]uint64{}
	for _, op := range msg.(wire.Batch).Ops {
		f.ids = append(f.ids, op.Marker.ID)
		f.versions[op.Marker.ID] = op.Marker.Version
	}
	slices.Sort(f.ids)
	return f
}

// quiet checks that nothing arrives for a while.
func (c *testClient) quiet() {
	c.t.Helper()
	if b, err := c.read(100 * time.Millisecond); err == nil {
		c.t.Fatalf("unexpected frame %+v", decode(c.t, b))
	}
}

func (c *testClient) subscribe(seq uint64, sub, unsub []geo.Tile) {
	c.t.Helper()
	xy := func(ts []geo.Tile) (out []uint32) {
		for _, t := range ts {
			out = append(out, t.X, t.Y)
		}
		return out
	}
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, AppendSubscribe(nil, seq, 14, xy(sub), xy(unsub))); err != nil {
		c.t.Fatal(err)
	}
}

func marker(id string, p geo.Point, v uint64) wire.Marker {
	return wire.Marker{ID: id, Layer: "fleet", Pos: p, Version: v}
}

func TestTiles(t *testing.T) {
	b, err := NewTiles(14, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()

	// Two neighbouring tiles A and B, and a far tile C.
	pa, pc := geo.Pt(2.35, 48.85), geo.Pt(2.5, 48.9)
	ta := geo.TileOf(pa, 14)
	tb := geo.Tile{Z: 14, X: ta.X + 1, Y: ta.Y}
	pb := geo.Pt((tb.Bounds().West+tb.Bounds().East)/2, pa.Lat)
	tc := geo.TileOf(pc, 14)
	if err := b.Publish([]wire.Marker{marker("a1", pa, 1), marker("b1", pb, 1), marker("c1", pc, 1)}); err != nil {
		t.Fatal(err)
	}

	c := dial(t, hs.URL)
	c.subscribe(1, []geo.Tile{ta}, nil)
	if f := c.next(); f.typ != TypeSubAck || f.seq != 1 || !slices.Equal(f.ids, []string{"a1"}) {
		t.Fatalf("subscription to A answered %+v, want ack 1 with a1", f)
	}

	// An update inside A reaches the client; one in B or C does not.
	b.Publish([]wire.Marker{marker("a1", geo.Pt(pa.Lon+1e-4, pa.Lat), 2), marker("b1", pb, 2), marker("c1", pc, 2)})
	if f := c.next(); f.typ != int(wire.TypeBatch) || !slices.Equal(f.ids, []string{"a1"}) {
		t.Fatalf("got %+v, want a batch with a1", f)
	}
	c.quiet()

	// a1 moves into B: A's subscribers see it leave.
	b.Publish([]wire.Marker{marker("a1", pb, 3)})
	if f := c.next(); !slices.Equal(f.ids, []string{"a1"}) {
		t.Fatalf("got %+v, want a1 leaving A", f)
	}
	// In B, it is no longer A's business.
	b.Publish([]wire.Marker{marker("a1", geo.Pt(pb.Lon+1e-4, pb.Lat), 4)})
	c.quiet()

	// Pan: subscribe to B and C, drop A: the ack brings B's and C's markers.
	c.subscribe(2, []geo.Tile{tb, tc}, []geo.Tile{ta})
	if f := c.next(); f.seq != 2 || !slices.Equal(f.ids, []string{"a1", "b1", "c1"}) {
		t.Fatalf("got %+v, want ack 2 with a1, b1, c1", f)
	}
	// A marker appearing in A is not sent any more; one moving from B to
	// C (both subscribed) is sent once.
	b.Publish([]wire.Marker{marker("a2", pa, 1), marker("b1", pc, 3)})
	if f := c.next(); !slices.Equal(f.ids, []string{"b1"}) {
		t.Fatalf("got %+v, want b1 once", f)
	}
	c.quiet()

	// A channel lives while it has a subscriber or a marker: A (a2), B
	// (a1) and C (b1, c1), and an empty tile D only while subscribed.
	if n := b.Channels(); n != 3 {
		t.Errorf("%d channels, want 3", n)
	}
	td := geo.Tile{Z: 14, X: tc.X + 5, Y: tc.Y}
	c.subscribe(3, []geo.Tile{td}, nil)
	if f := c.next(); f.seq != 3 || len(f.ids) != 0 {
		t.Fatalf("got %+v, want an empty ack 3", f)
	}
	if n := b.Channels(); n != 4 {
		t.Errorf("%d channels with D subscribed, want 4", n)
	}
	c.subscribe(4, nil, []geo.Tile{td})
	c.next()
	if n := b.Channels(); n != 3 {
		t.Errorf("%d channels after D was dropped, want 3", n)
	}
}

// TestTilesOneFramePerBatch checks that a client gets a large batch (whose
// fan-out runs on several goroutines) in one frame, as pushmap's clients
// do: the broker once started a client's writer at its first delivery,
// which wrote that delivery alone and the rest of the batch in a second
// frame.
func TestTilesOneFramePerBatch(t *testing.T) {
	b, err := NewTiles(14, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()
	corner := geo.TileOf(geo.Pt(2.3, 48.85), 14)
	var tiles []geo.Tile
	for dx := range uint32(4) {
		for dy := range uint32(4) {
			tiles = append(tiles, geo.Tile{Z: 14, X: corner.X + dx, Y: corner.Y + dy})
		}
	}
	c := dial(t, hs.URL)
	c.subscribe(1, tiles, nil)
	if f := c.next(); f.seq != 1 {
		t.Fatalf("got %+v, want ack 1", f)
	}
	const n = 4 * parallelFanOut
	for round := range uint64(3) {
		batch := make([]wire.Marker, n)
		for i := range batch {
			bo := tiles[i%len(tiles)].Bounds()
			f := float64(i) / n
			batch[i] = marker(fmt.Sprint("m", i), geo.Pt(bo.West+f*(bo.East-bo.West), bo.South+f*(bo.North-bo.South)), round+1)
		}
		if err := b.Publish(batch); err != nil {
			t.Fatal(err)
		}
		f := c.next()
		if f.typ != int(wire.TypeBatch) || len(f.ids) != n {
			t.Fatalf("round %d: first frame has %d ops, want the whole batch of %d in one frame", round, len(f.ids), n)
		}
		c.quiet()
	}
}

// TestTilesMarkerTwiceInBatch checks that a marker published several times
// in a large batch, in channels the client holds, reaches it in its last
// state: the publications run on different goroutines, and the client's
// outbox keeps the last op put.
func TestTilesMarkerTwiceInBatch(t *testing.T) {
	b, err := NewTiles(14, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()
	ta := geo.TileOf(geo.Pt(2.3, 48.85), 14)
	var tiles []geo.Tile
	for dx := range uint32(8) {
		tiles = append(tiles, geo.Tile{Z: 14, X: ta.X + dx, Y: ta.Y})
	}
	c := dial(t, hs.URL)
	c.subscribe(1, tiles, nil)
	c.next()
	mid := func(tile geo.Tile) geo.Point {
		bo := tile.Bounds()
		return geo.Pt((bo.West+bo.East)/2, (bo.South+bo.North)/2)
	}
	for round := range 8 {
		var batch []wire.Marker
		v := uint64(10 * round)
		// x hops through the tiles, fillers in between, so that its
		// publications land on channels run by different goroutines.
		for i := range 2 * parallelFanOut {
			if i%(parallelFanOut/4) == 0 {
				v++
				batch = append(batch, marker("x", mid(tiles[int(v)%len(tiles)]), v))
			}
			batch = append(batch, marker(fmt.Sprint("f", i), mid(tiles[i%len(tiles)]), uint64(round+1)))
		}
		if err := b.Publish(batch); err != nil {
			t.Fatal(err)
		}
		// The client may get the batch in more than one frame (a writer
		// still running takes what is there): the last x it gets counts.
		var got uint64
		for {
			b, err := c.read(200 * time.Millisecond)
			if err != nil {
				break
			}
			if f := decode(t, b); f.versions["x"] != 0 {
				got = f.versions["x"]
			}
		}
		if got != v {
			t.Fatalf("round %d: the client got x at version %d last, want %d", round, got, v)
		}
	}
}

func TestTilesRefusesBadSubscriptions(t *testing.T) {
	b, _ := NewTiles(14, nil)
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()
	for name, frame := range map[string][]byte{
		"wrong zoom":      AppendSubscribe(nil, 1, 12, []uint32{1, 1}, nil),
		"odd coordinates": AppendSubscribe(nil, 1, 14, []uint32{1}, nil),
		"tile off map":    AppendSubscribe(nil, 1, 14, []uint32{1 << 14, 0}, nil),
		"not msgpack":     []byte("hello"),
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, hs.URL)
			c.ws.Write(context.Background(), websocket.MessageBinary, frame)
			_, err := c.read(2 * time.Second)
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Errorf("read after a bad subscription: %v, want close 1008", err)
			}
		})
	}
	if _, err := NewTiles(25, nil); err == nil {
		t.Error("zoom 25 accepted")
	}
}

func TestBroadcast(t *testing.T) {
	b := NewBroadcast(nil)
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()
	b.Publish([]wire.Marker{marker("x", geo.Pt(1, 1), 1), marker("y", geo.Pt(-50, 10), 1)})
	c := dial(t, hs.URL)
	if f := c.next(); f.typ != TypeSubAck || !slices.Equal(f.ids, []string{"x", "y"}) {
		t.Fatalf("first frame %+v, want every marker", f)
	}
	b.Publish([]wire.Marker{marker("y", geo.Pt(-50, 11), 2), marker("z", geo.Pt(100, 0), 1)})
	if f := c.next(); f.typ != int(wire.TypeBatch) || !slices.Equal(f.ids, []string{"y", "z"}) {
		t.Fatalf("got %+v, want every update in one batch", f)
	}
}

// TestSlowClientClosed checks that a client that reads nothing is closed
// once OutboxBytes wait for it, and costs no more meanwhile.
func TestSlowClientClosed(t *testing.T) {
	b := NewBroadcast(&Options{OutboxBytes: 64 << 10})
	hs := httptest.NewServer(b)
	defer hs.Close()
	defer b.Close()
	c := dial(t, hs.URL)
	batch := make([]wire.Marker, 1000)
	for i := range batch {
		batch[i] = marker(strings.Repeat("m", 20)+string(rune('a'+i%26))+string(rune('a'+i/26)), geo.Pt(0, 0), 1)
	}
	for v := range 200 {
		for i := range batch {
			batch[i].Version = uint64(v + 1)
		}
		b.Publish(batch)
	}
	for {
		_, err := c.read(5 * time.Second)
		if err != nil {
			if websocket.CloseStatus(err) != closeTooSlow {
				t.Fatalf("the slow client ended with %v, want close %d", err, closeTooSlow)
			}
			return
		}
	}
}
