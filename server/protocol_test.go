package server_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// grid upserts a marker on every integer degree of box, in layer.
func grid(t *testing.T, srv *server.Server, box geo.Box, layer string) {
	t.Helper()
	var ms []wire.Marker
	for lon := math.Ceil(box.West); lon <= box.East; lon++ {
		for lat := math.Ceil(box.South); lat <= box.North; lat++ {
			ms = append(ms, wire.Marker{ID: layer + geo.Pt(lon, lat).String(), Layer: layer, Pos: geo.Pt(lon, lat)})
		}
	}
	if err := srv.Apply(server.Upserts(ms...)); err != nil {
		t.Fatal(err)
	}
}

func ids(ops []wire.Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.Marker.ID)
	}
	sort.Strings(out)
	return out
}

func idsOf(ms []wire.Marker) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	sort.Strings(out)
	return out
}

// minus returns the markers of a not in b.
func minus(a, b []wire.Marker) []wire.Marker {
	in := map[string]bool{}
	for _, m := range b {
		in[m.ID] = true
	}
	var out []wire.Marker
	for _, m := range a {
		if !in[m.ID] {
			out = append(out, m)
		}
	}
	return out
}

func TestViewChangeSendsTheDifference(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	grid(t, srv, geo.BBox(-20, -20, 20, 20), "a")
	grid(t, srv, geo.BBox(170, -5, 180, 5), "a")
	grid(t, srv, geo.BBox(-180, -5, -170, 5), "a")
	c := dialRaw(t, url)
	c.hello()

	views := []geo.Box{
		geo.BBox(-5, -5, 5, 5),      // first view: a snapshot
		geo.BBox(0, 0, 10, 10),      // overlaps the first
		geo.BBox(0, 0, 10, 10),      // the same again: nothing new
		geo.BBox(175, -2, -175, 2),  // across the antimeridian
		geo.BBox(-178, -3, -176, 3), // inside the last one, wider in latitude
		geo.World,
	}
	var prev geo.Box
	for i, box := range views {
		c.send(wire.View{ID: 0, Box: box, Zoom: 3})
		ack, ok := c.recv().(wire.ViewAck)
		if !ok {
			t.Fatalf("view %d: no ack", i)
		}
		if ack.View.Box != box {
			t.Fatalf("view %d: ack for %v, want %v", i, ack.View.Box, box)
		}
		if snap := ack.Flags&wire.FlagSnapshot != 0; snap != (i == 0) {
			t.Fatalf("view %d: snapshot flag %v", i, snap)
		}
		want := srv.MarkersIn(box, nil)
		if i > 0 {
			want = minus(want, srv.MarkersIn(prev, nil))
		}
		if got, w := ids(ack.Ops), idsOf(want); strings.Join(got, ",") != strings.Join(w, ",") {
			t.Fatalf("view %d %v: got %d markers %v, want %d %v", i, box, len(got), got, len(w), w)
		}
		prev = box
	}
}

func TestSeveralViewsAndUnview(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxViews: 2})
	grid(t, srv, geo.BBox(-10, -10, 10, 10), "a")
	c := dialRecorder(t, url, "c")
	ctx := context.Background()
	v0, v1 := geo.BBox(-10, -10, 0, 0), geo.BBox(-5, -5, 5, 5)
	if err := c.SetView(ctx, 0, v0, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.SetView(ctx, 1, v1, 5); err != nil {
		t.Fatal(err)
	}
	all := map[string]wire.Marker{}
	for _, m := range srv.MarkersIn(geo.World, nil) {
		all[m.ID] = m
	}
	if msg := diffCache(c.Markers(), bruteForce(all, []geo.Box{v0, v1}, nil)); msg != "" {
		t.Fatalf("two views:%s", msg)
	}
	err := c.SetView(ctx, 2, geo.World, 1)
	if we, ok := err.(wire.Error); !ok || we.Code != wire.CodeTooManyViews {
		t.Fatalf("third view: %v, want too_many_views", err)
	}
	if err := c.RemoveView(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if msg := diffCache(c.Markers(), bruteForce(all, []geo.Box{v1}, nil)); msg != "" {
		t.Fatalf("after unview:%s", msg)
	}
}

func TestBudgetSwitchesToClusters(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{Budget: 10})
	grid(t, srv, geo.BBox(0, 0, 9, 9), "a") // 100 markers
	c := dialRaw(t, url)
	if w := c.hello(); w.Budget != 10 {
		t.Fatalf("welcome budget %d", w.Budget)
	}
	c.send(wire.View{Box: geo.BBox(0, 0, 9, 9), Zoom: 3})
	ack := c.recv().(wire.ViewAck)
	if ack.Flags&wire.FlagClusters == 0 || len(ack.Ops) == 0 || len(ack.Ops) > 10 {
		t.Fatalf("got %d ops, flags %b; want at most 10 clusters", len(ack.Ops), ack.Flags)
	}
	total := uint64(0)
	for _, op := range ack.Ops {
		total += op.Cluster.Count
	}
	if total != 100 {
		t.Fatalf("clusters count %d markers, want 100", total)
	}
}

func TestLayersChangeResets(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	grid(t, srv, geo.BBox(0, 0, 2, 2), "a")
	grid(t, srv, geo.BBox(0, 0, 2, 2), "b")
	c := dialRaw(t, url)
	c.hello("a")
	c.send(wire.View{Box: geo.BBox(0, 0, 2, 2)})
	if ack := c.recv().(wire.ViewAck); len(ack.Ops) != 9 {
		t.Fatalf("layer a: %d markers", len(ack.Ops))
	}
	c.send(wire.Layers{Layers: []string{"b"}})
	r := c.recv().(wire.Reset)
	if len(r.Ops) != 9 || !strings.HasPrefix(r.Ops[0].Marker.ID, "b") || len(r.Views) != 1 {
		t.Fatalf("reset: %d ops (%v), %d views", len(r.Ops), ids(r.Ops), len(r.Views))
	}
	// Requests sent back to back are answered in order.
	c.send(wire.View{ID: 1, Box: geo.BBox(0, 0, 1, 1)})
	c.send(wire.Layers{Layers: []string{"a"}})
	c.send(wire.Unview{ID: 1})
	if _, ok := c.recv().(wire.ViewAck); !ok {
		t.Fatal("first reply is not the view's ack")
	}
	if _, ok := c.recv().(wire.Reset); !ok {
		t.Fatal("second reply is not the layers' reset")
	}
	if _, ok := c.recv().(wire.UnviewAck); !ok {
		t.Fatal("third reply is not the unview's ack")
	}
}

// TestBadInput sends every kind of bad message and checks the documented
// error or close code, while another client goes on unaffected.
func TestBadInput(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxFrameBytes: 1024, ViewRate: 1, ViewBurst: 2})
	witness := dialRecorder(t, url, "witness")
	if err := witness.SetView(context.Background(), 0, geo.World, 0); err != nil {
		t.Fatal(err)
	}

	errorCases := []struct {
		name  string
		frame []byte
		code  wire.Code
	}{
		{"undecodable", []byte{0xc1, 0x00, 0xff}, wire.CodeMalformed},
		{"truncated", must(wire.Marshal(wire.View{Box: geo.World}))[:10], wire.CodeMalformed},
		{"unknown type", []byte{0x91, 0x7f}, wire.CodeUnknownType},
		{"server message", must(wire.Marshal(wire.Batch{})), wire.CodeUnknownType},
		{"second hello", must(wire.Marshal(wire.Hello{Version: 1})), wire.CodeBadHello},
		{"NaN", must(wire.Marshal(wire.View{Box: geo.BBox(math.NaN(), 0, 1, 1)})), wire.CodeInvalidPoint},
		{"latitude 91", must(wire.Marshal(wire.View{Box: geo.BBox(0, 0, 1, 91)})), wire.CodeInvalidPoint},
		{"longitude -181", must(wire.Marshal(wire.View{Box: geo.BBox(-181, 0, 1, 1)})), wire.CodeInvalidPoint},
		{"inverted box", must(wire.Marshal(wire.View{Box: geo.BBox(0, 10, 1, 1)})), wire.CodeInvalidBox},
		{"zoom 30", must(wire.Marshal(wire.View{Box: geo.World, Zoom: 30})), wire.CodeInvalidView},
		{"unknown view", must(wire.Marshal(wire.Unview{ID: 9})), wire.CodeUnknownView},
	}
	c := dialRaw(t, url)
	c.hello()
	for _, tc := range errorCases {
		c.sendRaw(websocket.MessageBinary, tc.frame)
		e := c.expectError(tc.code)
		t.Logf("%s → %v", tc.name, e)
	}

	// Views beyond the burst are refused with rate_limited, in order; a
	// flood is closed with 4003.
	flood := dialRaw(t, url)
	flood.hello()
	for range 4 {
		flood.send(wire.View{Box: geo.BBox(0, 0, 1, 1)})
	}
	for i := range 4 {
		m := flood.recv()
		if _, ack := m.(wire.ViewAck); ack != (i < 2) {
			t.Fatalf("view %d of 4 with a burst of 2: got %#v", i, m)
		}
		if e, ok := m.(wire.Error); ok && e.Code != wire.CodeRateLimited {
			t.Fatalf("view %d: %v, want rate_limited", i, e)
		}
	}
	for range 200 {
		flood.send(wire.View{Box: geo.BBox(0, 0, 1, 1)})
	}
	t.Logf("view flood → close %q", flood.expectClose(wire.CloseViewFlood))

	closeCases := []struct {
		name  string
		hello bool
		typ   websocket.MessageType
		frame []byte
		code  websocket.StatusCode
	}{
		{"oversize frame", true, websocket.MessageBinary, make([]byte, 2000), websocket.StatusMessageTooBig},
		{"text frame", true, websocket.MessageText, []byte("hi"), websocket.StatusUnsupportedData},
		{"no hello first", false, websocket.MessageBinary, must(wire.Marshal(wire.View{Box: geo.World})), wire.CloseHelloRequired},
		{"garbage first", false, websocket.MessageBinary, []byte{0xff}, wire.CloseHelloRequired},
		{"wrong version", false, websocket.MessageBinary, must(wire.Marshal(wire.Hello{Version: 99})), wire.CloseUnsupportedVersion},
	}
	for _, tc := range closeCases {
		c := dialRaw(t, url)
		if tc.hello {
			c.hello()
		}
		c.sendRaw(tc.typ, tc.frame)
		reason := c.expectClose(tc.code)
		t.Logf("%s → close %d %q", tc.name, tc.code, reason)
	}

	// Too many bad messages: 1008.
	bad := dialRaw(t, url)
	bad.hello()
	for range 101 {
		bad.sendRaw(websocket.MessageBinary, []byte{0xc1})
	}
	bad.expectClose(websocket.StatusPolicyViolation)

	// The witness saw every update meanwhile.
	if err := srv.Upsert(wire.Marker{ID: "after", Pos: geo.Pt(1, 1)}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := witness.Markers()["after"]; !ok {
			return "witness did not receive the update"
		}
		return ""
	})
	if st := witness.Status(); st.State.String() != "open" {
		t.Fatalf("witness status %+v", st)
	}
}

func TestFeedValidation(t *testing.T) {
	srv, _ := servertest.StartServer(t, nil)
	bad := []wire.Marker{
		{ID: "", Pos: geo.Pt(0, 0)},
		{ID: "nan", Pos: geo.Pt(math.NaN(), 0)},
		{ID: "lat", Pos: geo.Pt(0, 90.5)},
		{ID: strings.Repeat("x", 300), Pos: geo.Pt(0, 0)},
	}
	for _, m := range bad {
		err := srv.Apply(server.Upserts(wire.Marker{ID: "good", Pos: geo.Pt(1, 1)}, m))
		if err == nil {
			t.Fatalf("%.10q accepted", m.ID)
		}
		t.Log(err)
		if _, ok := srv.Marker("good"); ok {
			t.Fatalf("batch with %.10q partially applied", m.ID)
		}
	}
	if err := srv.Apply([]server.Update{{Marker: wire.Marker{ID: "a"}, Remove: true}, {Remove: true}}); err == nil {
		t.Fatal("empty id removed")
	}
}

func TestServerFullAndShutdown(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxConnections: 1})
	c := dialRecorder(t, url, "first")
	full := dialRaw(t, url)
	full.send(wire.Hello{Version: wire.Version}) // the limit counts clients past their hello
	full.expectClose(websocket.StatusTryAgainLater)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go srv.Shutdown(ctx)
	servertest.Eventually(t, 10*time.Second, func() string {
		if !c.sawClose(int(websocket.StatusGoingAway)) {
			return "client was not closed with 1001"
		}
		return ""
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestAuthorize(t *testing.T) {
	_, url := servertest.StartServer(t, &server.Options{Authorize: func(r *http.Request, token string) (auth.Grant, error) {
		if err := r.Context().Err(); err != nil {
			return auth.Grant{}, fmt.Errorf("the request's context ended: %v", err)
		}
		if token != "letmein" {
			return auth.Grant{}, fmt.Errorf("token %q is not valid", token)
		}
		return auth.Grant{}, nil
	}})
	bad := dialRaw(t, url)
	bad.send(wire.Hello{Version: wire.Version, Token: "guess"})
	if reason := bad.expectClose(wire.CloseUnauthorized); !strings.Contains(reason, "guess") {
		t.Fatalf("reason %q", reason)
	}
	good := dialRaw(t, url)
	good.send(wire.Hello{Version: wire.Version, Token: "letmein"})
	if _, ok := good.recv().(wire.Welcome); !ok {
		t.Fatal("no welcome with the right token")
	}
	// The Go client does not keep trying a refused token.
	c := wasmclient.Connect(url, &wasmclient.Options{Token: "guess", MinBackoff: time.Millisecond})
	defer c.Close()
	servertest.Eventually(t, 5*time.Second, func() string {
		if st := c.Status(); st.State != wasmclient.Closed || st.Code != wire.CloseUnauthorized {
			return fmt.Sprintf("client status %+v", st)
		}
		return ""
	})
}

// TestRefreshAuthorizesWithTheUpgradeRequest: Authorize gets the upgrade
// request at the hello and at each refresh, its headers intact and its
// context not ended (the connection keeps the request only when Authorize
// is set).
func TestRefreshAuthorizesWithTheUpgradeRequest(t *testing.T) {
	calls := make(chan string, 4)
	_, url := servertest.StartServer(t, &server.Options{Authorize: func(r *http.Request, token string) (auth.Grant, error) {
		if err := r.Context().Err(); err != nil {
			return auth.Grant{}, fmt.Errorf("the request's context ended: %v", err)
		}
		if got := r.Header.Get("X-Tenant"); got != "tenant-7" {
			return auth.Grant{}, fmt.Errorf("X-Tenant %q, want tenant-7", got)
		}
		calls <- token
		return auth.Grant{}, nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Tenant": {"tenant-7"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &rawClient{t: t, ws: ws}
	c.helloWith("first")
	c.send(wire.Refresh{Token: "second"})
	if m, ok := c.recv().(wire.RefreshAck); !ok {
		t.Fatalf("got %#v, want a refresh_ack", m)
	}
	if first, second := <-calls, <-calls; first != "first" || second != "second" {
		t.Fatalf("Authorize got tokens %q, %q", first, second)
	}
}
