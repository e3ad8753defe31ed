package server_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// grants is an Authorizer over a fixed table of tokens, which a test may
// change while it runs.
type grants struct {
	mu sync.Mutex
	m  map[string]auth.Grant
}

func newGrants(m map[string]auth.Grant) *grants { return &grants{m: m} }

func (g *grants) set(token string, gr auth.Grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[token] = gr
}

func (g *grants) authorize(_ *http.Request, token string) (auth.Grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.m[token]
	if !ok {
		return auth.Grant{}, fmt.Errorf("token %q is not valid", token)
	}
	return gr, nil
}

func boxPtr(b geo.Box) *geo.Box { return &b }

// helloWith sends a Hello with token and layers and reads the Welcome.
func (c *rawClient) helloWith(token string, layers ...string) {
	c.t.Helper()
	c.send(wire.Hello{Version: wire.Version, Token: token, Layers: layers})
	if m, ok := c.recv().(wire.Welcome); !ok {
		c.t.Fatalf("got %#v, want a welcome", m)
	}
}

// reply reads one reply: a ViewAck or Reset with the ops of its More
// frames appended, or any other message as it is.
func (c *rawClient) reply() wire.Message {
	c.t.Helper()
	m := c.recv()
	var flags wire.Flags
	switch r := m.(type) {
	case wire.ViewAck:
		flags = r.Flags
	case wire.Reset:
		flags = r.Flags
	default:
		return m
	}
	if flags&wire.FlagContinued == 0 {
		return m
	}
	var more []wire.Op
	for {
		mo, ok := c.recv().(wire.More)
		if !ok {
			c.t.Fatalf("a continued %v is not followed by more frames", m.Type())
		}
		more = append(more, mo.Ops...)
		if mo.Remaining == 0 {
			break
		}
	}
	switch r := m.(type) {
	case wire.ViewAck:
		r.Ops = append(r.Ops, more...)
		return r
	case wire.Reset:
		r.Ops = append(r.Ops, more...)
		return r
	}
	return m
}

// untilSentinel reads messages until an upsert of the marker id arrives,
// and returns the ops read before it.
func (c *rawClient) untilSentinel(id string) []wire.Op {
	c.t.Helper()
	var ops []wire.Op
	for {
		m := c.recv()
		var got []wire.Op
		switch r := m.(type) {
		case wire.Batch:
			got = r.Ops
		case wire.More:
			got = r.Ops
		default:
			c.t.Fatalf("unexpected %#v while waiting for %s", m, id)
		}
		for _, op := range got {
			if !op.Remove && op.Tile == nil && op.Cluster == nil && op.Marker.ID == id {
				return ops
			}
			ops = append(ops, op)
		}
	}
}

func TestGrantLayers(t *testing.T) {
	g := newGrants(map[string]auth.Grant{"a-only": {Layers: []string{"a"}}, "none": {Layers: []string{}}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	grid(t, srv, geo.BBox(0, 0, 4, 4), "a")
	grid(t, srv, geo.BBox(0, 0, 4, 4), "b")

	t.Run("hello asking for a layer outside the grant is closed with 4403", func(t *testing.T) {
		c := dialRaw(t, url)
		c.send(wire.Hello{Version: wire.Version, Token: "a-only", Layers: []string{"a", "b"}})
		if reason := c.expectClose(wire.CloseForbidden); !strings.Contains(reason, `"b"`) {
			t.Fatalf("reason %q does not name the layer", reason)
		}
	})
	t.Run("a grant of no layers sees nothing", func(t *testing.T) {
		c := dialRaw(t, url)
		c.helloWith("none")
		c.send(wire.View{Box: geo.World})
		if ack := c.reply().(wire.ViewAck); len(ack.Ops) != 0 {
			t.Fatalf("ack has %d ops", len(ack.Ops))
		}
	})

	c := dialRaw(t, url)
	c.helloWith("a-only") // no layers: all the grant allows
	c.send(wire.View{Box: geo.World})
	ack := c.reply().(wire.ViewAck)
	if got, want := len(ack.Ops), len(srv.MarkersIn(geo.World, []string{"a"})); got != want || !allInLayer(ack.Ops, "a") {
		t.Fatalf("ack of %d ops (only layer a: %v), want the %d of layer a", got, allInLayer(ack.Ops, "a"), want)
	}
	// Asking for layer b is refused and changes nothing.
	c.send(wire.Layers{Layers: []string{"b"}})
	if e := c.expectError(wire.CodeForbidden); !strings.Contains(e.Message, `"b"`) {
		t.Fatalf("error %q does not name the layer", e.Message)
	}
	// Changes of layer b never come, nor does a marker moving into b.
	srv.Upsert(wire.Marker{ID: "b(1, 1)", Layer: "b", Pos: geo.Pt(1.5, 1.5)})
	srv.Upsert(wire.Marker{ID: "a(2, 2)", Layer: "b", Pos: geo.Pt(2, 2)})
	srv.Upsert(wire.Marker{ID: "sentinel", Layer: "a", Pos: geo.Pt(1, 1)})
	ops := c.untilSentinel("sentinel")
	if len(ops) != 1 || !ops[0].Remove || ops[0].Marker.ID != "a(2, 2)" {
		t.Fatalf("got %+v, want only the removal of a(2, 2), which left for layer b", ops)
	}
	// An empty layers message is every layer of the grant, again.
	c.send(wire.Layers{})
	reset := c.reply().(wire.Reset)
	if len(reset.Ops) == 0 || !allInLayer(reset.Ops, "a") {
		t.Fatalf("reset of %d ops, only layer a: %v", len(reset.Ops), allInLayer(reset.Ops, "a"))
	}
}

func allInLayer(ops []wire.Op, layer string) bool {
	for _, op := range ops {
		if op.Marker.Layer != layer {
			return false
		}
	}
	return true
}

// TestGrantBoxRandom: clients restricted to random boxes (half of them
// across the antimeridian) with random views, while markers move at
// random, inside the boxes, on their edges and just outside them. No
// client is ever sent a marker outside its box, and each one's cache ends
// equal to the markers inside both its views and its box.
func TestGrantBoxRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 7))
	g := newGrants(map[string]auth.Grant{})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize, ViewRate: 1000, ViewBurst: 1000})
	randBox := func() geo.Box {
		w := float64(rng.IntN(360) - 180)
		e := w + float64(5+rng.IntN(60))
		if e > 180 {
			e -= 360
		}
		s := float64(rng.IntN(120) - 60)
		return geo.BBox(w, s, e, s+float64(5+rng.IntN(25)))
	}
	// Points inside, on the edges of and a hair outside a box.
	near := func(b geo.Box) geo.Point {
		lons := []float64{b.West, b.East, b.West - 1e-7, b.East + 1e-7, b.West + rng.Float64()*10}
		lats := []float64{b.South, b.North, b.South - 1e-7, b.North + 1e-7, b.South + rng.Float64()*5}
		lon := lons[rng.IntN(len(lons))]
		if lon > 180 {
			lon -= 360
		}
		if lon < -180 {
			lon += 360
		}
		return wire.Quantize(geo.Pt(lon, max(-90, min(90, lats[rng.IntN(len(lats))]))))
	}
	type client struct {
		r     *wasmclient.Client
		box   geo.Box
		views []geo.Box
		mu    sync.Mutex
		leak  string
	}
	var clients []*client
	var boxes []geo.Box
	for i := range 4 {
		cl := &client{box: randBox()}
		token := fmt.Sprint("t", i)
		g.set(token, auth.Grant{Box: boxPtr(cl.box)})
		boxes = append(boxes, cl.box)
		r, err := wasmclient.Dial(t.Context(), url, &wasmclient.Options{Token: token, Throttle: time.Millisecond,
			OnChange: func(ch wasmclient.Change) {
				for _, m := range append(ch.Added, ch.Updated...) {
					if !cl.box.Contains(m.Pos) {
						cl.mu.Lock()
						cl.leak = fmt.Sprintf("%s at %v is outside the box %v", m.ID, m.Pos, cl.box)
						cl.mu.Unlock()
					}
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		cl.r = r
		clients = append(clients, cl)
	}
	all := map[string]wire.Marker{}
	for round := range 6 {
		for _, cl := range clients {
			cl.views = nil
			for id := range 2 {
				v := randBox()
				if rng.IntN(3) == 0 {
					v = cl.box // exactly the box
				}
				cl.views = append(cl.views, v)
				if err := cl.r.SetView(t.Context(), id, v, 3); err != nil {
					t.Fatal(err)
				}
			}
		}
		var batch []wire.Marker
		for i := range 300 {
			b := boxes[rng.IntN(len(boxes))]
			m := wire.Marker{ID: fmt.Sprint("m", rng.IntN(400)), Pos: near(b)}
			if i%7 == 0 {
				m.Pos = wire.Quantize(geo.Pt(rng.Float64()*360-180, rng.Float64()*180-90))
			}
			batch = append(batch, m)
		}
		if err := srv.Apply(server.Upserts(batch...)); err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			all[m.ID], _ = srv.Marker(m.ID)
		}
		for _, cl := range clients {
			want := bruteForce(all, cl.views, nil)
			for id, m := range want {
				if !cl.box.Contains(m.Pos) {
					delete(want, id)
				}
			}
			servertest.Eventually(t, 10*time.Second, func() string {
				if d := diffCache(cl.r.Markers(), want); d != "" {
					return fmt.Sprintf("round %d, box %v, views %v:%s", round, cl.box, cl.views, d)
				}
				return ""
			})
			cl.mu.Lock()
			if cl.leak != "" {
				t.Fatal(cl.leak)
			}
			cl.mu.Unlock()
		}
	}
}

// TestGrantBoxViewOutside: a view wholly outside the grant's box gets an
// ack without ops, and nothing afterwards.
func TestGrantBoxViewOutside(t *testing.T) {
	g := newGrants(map[string]auth.Grant{"fr": {Box: boxPtr(geo.BBox(-5, 42, 8, 51))}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	grid(t, srv, geo.BBox(10, 40, 20, 50), "a")
	c := dialRaw(t, url)
	c.helloWith("fr")
	c.send(wire.View{Box: geo.BBox(10, 40, 20, 50), Zoom: 5})
	if ack := c.reply().(wire.ViewAck); len(ack.Ops) != 0 {
		t.Fatalf("ack of a view outside the box has %d ops", len(ack.Ops))
	}
	srv.Upsert(wire.Marker{ID: "outside", Pos: geo.Pt(15, 45)})
	c.send(wire.View{ID: 1, Box: geo.BBox(0, 45, 1, 46), Zoom: 5})
	if ack := c.reply().(wire.ViewAck); len(ack.Ops) != 0 {
		t.Fatalf("ack has %d ops", len(ack.Ops))
	}
	srv.Upsert(wire.Marker{ID: "sentinel", Pos: geo.Pt(0.5, 45.5)})
	if ops := c.untilSentinel("sentinel"); len(ops) != 0 {
		t.Fatalf("a restricted client was sent %+v from outside its box", ops)
	}
}

// TestGrantBoxClusters: markers just outside the edge of a client's box
// change none of its clusters, counts or centroids, when the view is set
// nor when they move; the edge tiles still count the markers of the cells
// wholly inside the box.
func TestGrantBoxClusters(t *testing.T) {
	box := geo.BBox(2.1, 48.7, 2.6, 49.05) // does not fall on tile edges at any zoom used
	g := newGrants(map[string]auth.Grant{"paris": {Box: boxPtr(box)}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize, Budget: 50})
	rng := rand.New(rand.NewPCG(seed(t), 3))
	var inside []wire.Marker
	for i := range 2000 {
		p := geo.Pt(box.West+rng.Float64()*(box.East-box.West), box.South+rng.Float64()*(box.North-box.South))
		inside = append(inside, wire.Marker{ID: fmt.Sprint("in", i), Pos: p})
	}
	if err := srv.Apply(server.Upserts(inside...)); err != nil {
		t.Fatal(err)
	}
	view := wire.View{Box: geo.BBox(1, 48, 4, 50), Zoom: 7}
	before := freshClusters(t, url, "paris", view)
	var n uint64
	for _, cl := range before {
		n += cl.Count
	}
	if n == 0 || n > uint64(len(inside)) {
		t.Fatalf("clusters count %d markers; want some of the %d inside", n, len(inside))
	}
	t.Logf("%d clusters count %d of the %d markers inside the box", len(before), n, len(inside))

	// Markers a hair outside every edge, in the same cells.
	var outside []wire.Marker
	for i := range 400 {
		f := rng.Float64()
		ps := []geo.Point{
			geo.Pt(box.West-1e-7, box.South+f*(box.North-box.South)), geo.Pt(box.East+1e-7, box.South+f*(box.North-box.South)),
			geo.Pt(box.West+f*(box.East-box.West), box.South-1e-7), geo.Pt(box.West+f*(box.East-box.West), box.North+1e-7),
		}
		outside = append(outside, wire.Marker{ID: fmt.Sprint("out", i), Pos: ps[i%4]})
	}
	if err := srv.Apply(server.Upserts(outside...)); err != nil {
		t.Fatal(err)
	}
	if d := sameClusters(freshClusters(t, url, "paris", view), before); d != "" {
		t.Fatalf("markers outside the box changed the clusters: %s", d)
	}

	// Live: outside markers moving send nothing; an inside one does.
	c := dialRaw(t, url)
	c.helloWith("paris")
	c.send(view)
	c.reply()
	srv.FlushClusters()
	delivered := srv.Stats().Delivered
	for i, m := range outside {
		m.Pos = outside[(i+1)%len(outside)].Pos
		srv.Upsert(m)
	}
	srv.FlushClusters()
	if d := srv.Stats().Delivered - delivered; d != 0 {
		t.Fatalf("moves outside the box delivered %d ops", d)
	}
	moved := inside[0]
	moved.Pos = geo.Pt(box.West+0.25, box.South+0.15)
	srv.Upsert(moved)
	srv.FlushClusters()
	if b, ok := c.recv().(wire.Batch); !ok || len(b.Ops) == 0 || b.Ops[0].Cluster == nil {
		t.Fatalf("after a move inside: %+v; want a batch of cluster ops", b)
	}
}

// TestGrantBoxTiles: a tile change for a tile wholly outside the box is
// not sent, though the client's view holds it; one inside is.
func TestGrantBoxTiles(t *testing.T) {
	g := newGrants(map[string]auth.Grant{"t": {Box: boxPtr(geo.BBox(0, 0, 10, 10))}})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	c := dialRaw(t, url)
	c.helloWith("t")
	c.send(wire.View{Box: geo.BBox(-40, -40, 40, 40), Zoom: 5})
	c.reply()
	outside := geo.TileOf(geo.Pt(-30, -30), 5)
	inside := geo.TileOf(geo.Pt(5, 5), 5)
	if err := srv.InvalidateTiles("roads", outside, inside); err != nil {
		t.Fatal(err)
	}
	if err := srv.InvalidateBox("roads", geo.BBox(-40, -40, -20, -20)); err != nil {
		t.Fatal(err)
	}
	srv.Upsert(wire.Marker{ID: "sentinel", Pos: geo.Pt(1, 1)})
	ops := c.untilSentinel("sentinel")
	if len(ops) != 1 || ops[0].Tile == nil || (geo.Tile{Z: ops[0].Tile.Z, X: ops[0].Tile.X, Y: ops[0].Tile.Y}) != inside {
		t.Fatalf("got %+v, want the change of %v only", ops, inside)
	}
}

func TestGrantExpires(t *testing.T) {
	g := newGrants(map[string]auth.Grant{})
	g.set("short", auth.Grant{Expires: time.Now().Add(300 * time.Millisecond)})
	_, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	c := dialRaw(t, url)
	c.helloWith("short")
	if reason := c.expectClose(wire.CloseTokenExpired); !strings.Contains(reason, "expired") {
		t.Fatalf("reason %q", reason)
	}
	// A token already expired is refused at hello with the same code.
	late := dialRaw(t, url)
	late.send(wire.Hello{Version: wire.Version, Token: "short"})
	late.expectClose(wire.CloseTokenExpired)
}

func TestRefresh(t *testing.T) {
	g := newGrants(map[string]auth.Grant{})
	srv, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	grid(t, srv, geo.BBox(0, 0, 4, 4), "a")
	grid(t, srv, geo.BBox(0, 0, 4, 4), "b")
	g.set("first", auth.Grant{Expires: time.Now().Add(time.Second)})
	later := time.Now().Add(time.Hour)
	g.set("second", auth.Grant{Expires: later})
	g.set("narrow", auth.Grant{Layers: []string{"a"}, Box: boxPtr(geo.BBox(0, 0, 2, 2)), Expires: time.Now().Add(time.Hour)})

	c := dialRaw(t, url)
	c.helloWith("first")
	c.send(wire.View{Box: geo.World})
	c.reply()
	// A refused refresh is answered with an error; the old grant holds.
	c.send(wire.Refresh{Token: "forged"})
	c.expectError(wire.CodeUnauthorized)
	// An accepted one that changes nothing else: an ack with its expiry.
	c.send(wire.Refresh{Token: "second"})
	ack, ok := c.recv().(wire.RefreshAck)
	if !ok || ack.Expires != later.UnixMilli() {
		t.Fatalf("got %#v, want a refresh_ack expiring at %d", ack, later.UnixMilli())
	}
	// The first token's expiry passes; the connection stays.
	time.Sleep(1200 * time.Millisecond)
	srv.Upsert(wire.Marker{ID: "sentinel", Layer: "a", Pos: geo.Pt(1, 1)})
	c.untilSentinel("sentinel")
	// A narrower grant: the reply is a reset within it.
	c.send(wire.Refresh{Token: "narrow"})
	reset, ok := c.reply().(wire.Reset)
	if !ok {
		t.Fatal("a narrowing refresh is not answered with a reset")
	}
	want := srv.MarkersIn(geo.BBox(0, 0, 2, 2), []string{"a"})
	if got, w := ids(reset.Ops), idsOf(want); strings.Join(got, ",") != strings.Join(w, ",") {
		t.Fatalf("reset holds %v, want %v", got, w)
	}
	srv.Upsert(wire.Marker{ID: "b-out", Layer: "b", Pos: geo.Pt(1, 1)})
	srv.Upsert(wire.Marker{ID: "a-out", Layer: "a", Pos: geo.Pt(3, 3)})
	srv.Upsert(wire.Marker{ID: "sentinel", Layer: "a", Pos: geo.Pt(1.5, 1)})
	if ops := c.untilSentinel("sentinel"); len(ops) != 0 {
		t.Fatalf("after narrowing, got %+v", ops)
	}
}

// TestRefreshRefusedThenExpires: a refused refresh leaves the old grant,
// which then expires.
func TestRefreshRefusedThenExpires(t *testing.T) {
	g := newGrants(map[string]auth.Grant{"first": {Expires: time.Now().Add(500 * time.Millisecond)}})
	_, url := servertest.StartServer(t, &server.Options{Authorize: g.authorize})
	c := dialRaw(t, url)
	c.helloWith("first")
	c.send(wire.Refresh{Token: "forged"})
	c.expectError(wire.CodeUnauthorized)
	c.expectClose(wire.CloseTokenExpired)
}

// TestHelloTimeoutCloses4000: a connection that sends no hello is closed
// with a close frame, code 4000, not dropped.
func TestHelloTimeoutCloses4000(t *testing.T) {
	_, url := servertest.StartServer(t, &server.Options{HelloTimeout: 200 * time.Millisecond})
	c := dialRaw(t, url)
	if reason := c.expectClose(wire.CloseHelloRequired); !strings.Contains(reason, "hello") {
		t.Fatalf("reason %q", reason)
	}
}

// TestRepliesFitTheClientFrame: a view_ack and a reset of many markers
// never come in a frame larger than the client's limit from its hello:
// they are split into the reply and more frames, which together hold every
// marker.
func TestRepliesFitTheClientFrame(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 20000})
	var ms []wire.Marker
	for i := range 12000 {
		ms = append(ms, wire.Marker{ID: fmt.Sprintf("marker-with-a-longish-id-%06d", i), Layer: "a",
			Pos: geo.Pt(float64(i%100)/10, float64(i/100)/20), Props: map[string]any{"name": strings.Repeat("x", 20)}})
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	// The client's limit from its hello, then the server's own for a
	// client that says nothing.
	srv2, url2 := servertest.StartServer(t, &server.Options{Budget: 20000, MaxSendFrameBytes: 100 << 10})
	if err := srv2.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url          string
		hello, limit int
	}{{url, wire.MinFrameBytes, wire.MinFrameBytes}, {url2, 0, 100 << 10}} {
		c := dialRaw(t, tc.url)
		c.ws.SetReadLimit(int64(tc.limit)) // a larger frame fails the read
		c.send(wire.Hello{Version: wire.Version, MaxFrameBytes: tc.hello})
		c.recv()
		c.send(wire.View{Box: geo.World})
		ack := c.reply().(wire.ViewAck)
		if ack.Flags&wire.FlagSnapshot == 0 || ack.Flags&wire.FlagContinued == 0 || len(ack.Ops) != len(ms) {
			t.Fatalf("limit %d: ack flags %b with %d markers, want a continued snapshot of %d", tc.limit, ack.Flags, len(ack.Ops), len(ms))
		}
		if got, want := ids(ack.Ops), idsOf(ms); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("limit %d: the ack and its more frames do not hold every marker once", tc.limit)
		}
		c.send(wire.Layers{Layers: []string{"a"}})
		if reset := c.reply().(wire.Reset); len(reset.Ops) != len(ms) {
			t.Fatalf("limit %d: reset of %d markers, want %d", tc.limit, len(reset.Ops), len(ms))
		}
	}
}
