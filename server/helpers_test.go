package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// A recorder is a wasmclient whose changes are recorded for the test.
type recorder struct {
	*wasmclient.Client
	name string

	mu         sync.Mutex
	statuses   []wasmclient.Status
	added      map[string]wire.Marker // upserts since the last take (added or updated)
	removed    map[string]bool        // removes since the last take
	changes    int
	tileOps    []wire.TileChange
	clusterOps []wire.Cluster
}

// tiles returns the tile changes received so far.
func (r *recorder) tiles() []wire.TileChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.TileChange(nil), r.tileOps...)
}

func dialRecorder(t testing.TB, url, name string, layers ...string) *recorder {
	t.Helper()
	r := &recorder{name: name, added: map[string]wire.Marker{}, removed: map[string]bool{}}
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{
		Layers: layers, Throttle: time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnChange: r.record,
		OnStatus: func(s wasmclient.Status) { r.mu.Lock(); r.statuses = append(r.statuses, s); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Client = c
	t.Cleanup(func() { c.Close() })
	return r
}

func (r *recorder) record(ch wasmclient.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes++
	r.tileOps = append(r.tileOps, ch.Tiles...)
	if !ch.ClustersReset {
		r.clusterOps = append(r.clusterOps, ch.Clusters...)
	}
	for _, m := range append(ch.Added, ch.Updated...) {
		r.added[m.ID] = m
		delete(r.removed, m.ID)
	}
	for _, id := range ch.Removed {
		r.removed[id] = true
		delete(r.added, id)
	}
}

// sawClose reports whether the client was ever disconnected with code.
func (r *recorder) sawClose(code int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.statuses {
		if s.Code == code {
			return true
		}
	}
	return false
}

// take returns and forgets what was recorded, leaving out ids with the
// given prefix (the test's sentinels).
func (r *recorder) take(skip string) (added map[string]wire.Marker, removed map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added, removed = r.added, r.removed
	r.added, r.removed = map[string]wire.Marker{}, map[string]bool{}
	for id := range added {
		if strings.HasPrefix(id, skip) {
			delete(added, id)
		}
	}
	for id := range removed {
		if strings.HasPrefix(id, skip) {
			delete(removed, id)
		}
	}
	return added, removed
}

// bruteForce returns the ids of markers, among all, that lie in one of
// views and in one of layers (every layer when empty).
func bruteForce(all map[string]wire.Marker, views []geo.Box, layers []string) map[string]wire.Marker {
	out := map[string]wire.Marker{}
	for id, m := range all {
		if len(layers) > 0 && !contains(layers, m.Layer) {
			continue
		}
		for _, b := range views {
			if b.Contains(m.Pos) {
				out[id] = m
				break
			}
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// diffCache describes how got differs from want, or returns "".
func diffCache(got, want map[string]wire.Marker) string {
	var b strings.Builder
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			fmt.Fprintf(&b, " missing %s@%v;", id, w.Pos)
		case g.Pos != w.Pos || g.Version != w.Version || g.Layer != w.Layer:
			fmt.Fprintf(&b, " %s is %v v%d, want %v v%d;", id, g.Pos, g.Version, w.Pos, w.Version)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			fmt.Fprintf(&b, " extra %s@%v;", id, g.Pos)
		}
	}
	if b.Len() > 400 {
		return b.String()[:400] + "…"
	}
	return b.String()
}

// A rawClient speaks the protocol by hand, to test what a well-behaved
// client never sends.
type rawClient struct {
	t  testing.TB
	ws *websocket.Conn
}

func dialRaw(t testing.TB, url string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(64 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawClient{t: t, ws: ws}
}

// hello sends a Hello and reads the Welcome.
func (c *rawClient) hello(layers ...string) wire.Welcome {
	c.t.Helper()
	c.send(wire.Hello{Version: wire.Version, Layers: layers})
	w, ok := c.recv().(wire.Welcome)
	if !ok {
		c.t.Fatal("no welcome")
	}
	return w
}

func (c *rawClient) send(m wire.Message) {
	c.t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageBinary, b)
}

func (c *rawClient) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) recv() wire.Message {
	c.t.Helper()
	m, err := c.tryRecv(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *rawClient) tryRecv(within time.Duration) (wire.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.Unmarshal(b)
}

// expectError reads the next message and checks it is an Error with code.
func (c *rawClient) expectError(code wire.Code) wire.Error {
	c.t.Helper()
	m := c.recv()
	e, ok := m.(wire.Error)
	if !ok || e.Code != code {
		c.t.Fatalf("got %#v, want an error %v", m, code)
	}
	return e
}

// expectClose reads until the connection closes and checks the close code.
func (c *rawClient) expectClose(code websocket.StatusCode) string {
	c.t.Helper()
	for {
		_, err := c.tryRecv(10 * time.Second)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != code {
				c.t.Fatalf("closed with %d %q, want %d", ce.Code, ce.Reason, code)
			}
			return ce.Reason
		}
		var we wire.Error
		if errors.As(err, &we) || errors.Is(err, io.EOF) {
			c.t.Fatalf("want close %d, got %v", code, err)
		}
		c.t.Fatalf("want close %d, got %v", code, err)
	}
}

// seed returns the seed of a randomised test: PUSHMAP_SEED if set, else the
// clock. It logs how to replay it.
func seed(t testing.TB) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("PUSHMAP_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("PUSHMAP_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (replay: PUSHMAP_SEED=%d go test -run '^%s$' ./server)", s, s, t.Name())
	return s
}

// randomChanges returns n random changes to the markers of all (by id,
// updated in place as the server will hold them) among ids m0..m<ids-1>: 10%
// new markers (or a marker not held yet) in layerOf()'s layer, 70% steps of
// up to step degrees, 15% jumps to somewhere(), 5% removals.
func randomChanges(rng *rand.Rand, all map[string]wire.Marker, n, ids int, layerOf func() string, step float64, somewhere func() geo.Point) []server.Update {
	var us []server.Update
	for range n {
		id := fmt.Sprint("m", rng.IntN(ids))
		m, ok := all[id]
		switch r := rng.IntN(100); {
		case !ok || r < 10:
			m = wire.Marker{ID: id, Layer: layerOf(), Pos: somewhere()}
		case r < 80:
			m.Pos = wire.Quantize(geo.Pt(geo.WrapLon(m.Pos.Lon+(rng.Float64()-0.5)*step), m.Pos.Lat+(rng.Float64()-0.5)*step))
		case r < 95:
			m.Pos = somewhere()
		default:
			us = append(us, server.Update{Marker: wire.Marker{ID: id}, Remove: true})
			delete(all, id)
			continue
		}
		m.Version = 0
		all[id] = m
		us = append(us, server.Update{Marker: m})
	}
	return us
}
