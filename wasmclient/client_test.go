//go:build !js

package wasmclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func dial(t *testing.T, url string, opts *wasmclient.Options) *wasmclient.Client {
	t.Helper()
	c, err := wasmclient.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSetViewWaitsForTheServer(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	srv.Apply(server.Upserts(wire.Marker{ID: "in", Pos: geo.Pt(1, 1)}, wire.Marker{ID: "out", Pos: geo.Pt(20, 20)}))
	c := dial(t, url, nil)
	if err := c.SetView(context.Background(), 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	// SetView returned: the cache already holds the view's markers.
	ms := c.Markers()
	if _, ok := ms["in"]; !ok || len(ms) != 1 {
		t.Fatalf("cache %v, want just \"in\"", ms)
	}
	if v := c.Views()[0]; v.Box != geo.BBox(0, 0, 10, 10) || v.Zoom != 5 {
		t.Fatalf("view %+v", v)
	}
}

// TestThrottle: a drag of 100 views in quick succession sends few of them,
// always ends on the last, and every SetView call returns.
func TestThrottle(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{ViewRate: 1000, ViewBurst: 1000})
	c := dial(t, url, &wasmclient.Options{Throttle: 50 * time.Millisecond})
	ctx := context.Background()
	errs := make(chan error, 100)
	var last geo.Box
	for i := range 100 {
		last = geo.BBox(float64(i)/10, 0, float64(i)/10+1, 1)
		go func(b geo.Box) { errs <- c.SetView(ctx, 0, b, 10) }(last)
		time.Sleep(time.Millisecond)
	}
	for range 100 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The goroutines may have called SetView out of order; wait for the
	// client to settle, then make sure the final view is the one applied.
	if err := c.SetView(ctx, 0, last, 10); err != nil {
		t.Fatal(err)
	}
	if got := c.Views()[0].Box; got != last {
		t.Fatalf("applied %v, want the last %v", got, last)
	}
	sent := srv.Stats().ViewChanges
	t.Logf("101 SetView calls over ~100ms+ sent %d views", sent)
	if sent > 20 {
		t.Fatalf("throttle let %d of 101 views through", sent)
	}
}

// TestRateLimitedViewIsRetried: the server's rate limit refuses a view;
// the client tries again and SetView succeeds.
func TestRateLimitedViewIsRetried(t *testing.T) {
	_, url := servertest.StartServer(t, &server.Options{ViewRate: 4, ViewBurst: 1})
	c := dial(t, url, &wasmclient.Options{Throttle: time.Millisecond})
	// The client follows the Welcome's rate, so force refusals with
	// several view ids at once.
	ctx := context.Background()
	errs := make(chan error, 3)
	for id := range 3 {
		go func() { errs <- c.SetView(ctx, id, geo.BBox(0, 0, 1, 1), 1) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.Views()); n != 3 {
		t.Fatalf("%d views applied, want 3", n)
	}
}

func TestInvalidViewIsRefusedLocally(t *testing.T) {
	_, url := servertest.StartServer(t, nil)
	c := dial(t, url, nil)
	err := c.SetView(context.Background(), 0, geo.BBox(0, 10, 1, 1), 1)
	var we wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeInvalidBox {
		t.Fatalf("got %v, want invalid_box", err)
	}
}

func TestServerRefusalReachesSetView(t *testing.T) {
	_, url := servertest.StartServer(t, &server.Options{MaxViews: 1})
	c := dial(t, url, nil)
	ctx := context.Background()
	if err := c.SetView(ctx, 0, geo.World, 0); err != nil {
		t.Fatal(err)
	}
	err := c.SetView(ctx, 1, geo.World, 0)
	var we wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeTooManyViews {
		t.Fatalf("got %v, want too_many_views", err)
	}
}

func TestDialFailsClearly(t *testing.T) {
	_, err := wasmclient.Dial(context.Background(), "ws://127.0.0.1:1/ws", nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("got %v, want an error naming the address", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	_, url := servertest.StartServer(t, nil)
	var states []wasmclient.State
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{
		OnStatus: func(s wasmclient.Status) { states = append(states, s.State) },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if st := c.Status().State; st != wasmclient.Closed {
		t.Fatalf("state %v after Close", st)
	}
	if err := c.SetView(context.Background(), 0, geo.World, 0); !errors.Is(err, wasmclient.ErrClosed) {
		t.Fatalf("SetView after Close: %v", err)
	}
	if len(states) == 0 || states[len(states)-1] != wasmclient.Closed {
		t.Fatalf("states %v, want ending in closed", states)
	}
}

func TestConnectWaitsForTheServer(t *testing.T) {
	// Connect to a port nobody listens on yet; the client keeps trying.
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	url := "ws://" + hs.Listener.Addr().String()
	c := wasmclient.Connect(url, &wasmclient.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.SetView(ctx, 0, geo.World, 0) }()
	time.Sleep(100 * time.Millisecond)
	srv.Upsert(wire.Marker{ID: "a", Pos: geo.Pt(1, 2)})
	hs.Start()
	defer func() { srv.Close(); hs.Close() }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Markers()["a"]; !ok {
		t.Fatal("marker missing after the late connection")
	}
}

// A *slog.Logger is a wasmclient.Logger.
var _ wasmclient.Logger = (*slog.Logger)(nil)

// TestFirstConnectFailureIsReported: a client whose first connection fails
// reports each failure through OnStatus (state Connecting, with the
// cause), instead of staying silent in Connecting.
func TestFirstConnectFailureIsReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	got := make(chan wasmclient.Status, 16)
	c := wasmclient.Connect("ws://"+addr+"/ws", &wasmclient.Options{
		MinBackoff: 10 * time.Millisecond,
		OnStatus:   func(s wasmclient.Status) { got <- s },
	})
	defer c.Close()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-got:
			if s.State == wasmclient.Connecting && strings.Contains(s.Reason, addr) {
				return
			}
		case <-timeout:
			t.Fatalf("no Connecting status naming the failure; status now %+v", c.Status())
		}
	}
}

// TestDeclutterIsolatedMarker: with Options.Declutter, an isolated marker
// of a city view comes as a cluster of count 1 carrying the marker (id,
// position, props) in Clusters and in OnChange's Clusters, and Markers
// stays empty; a marker coming within the radius makes a cluster of 2
// without one.
func TestDeclutterIsolatedMarker(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{ClusterInterval: 5 * time.Millisecond})
	alone := wire.Marker{ID: "alone", Layer: "cars", Pos: geo.Pt(2.45, 48.85), Props: map[string]any{"name": "Alice", "heading": 30.0}}
	if err := srv.Apply(server.Upserts(alone)); err != nil {
		t.Fatal(err)
	}
	changes := make(chan wasmclient.Change, 64)
	c := dial(t, url, &wasmclient.Options{Declutter: true, OnChange: func(ch wasmclient.Change) { changes <- ch }})
	if err := c.SetView(context.Background(), 0, geo.BBox(2, 48.6, 2.7, 49.1), 11); err != nil {
		t.Fatal(err)
	}
	cs := c.Clusters()
	if len(cs) != 1 || cs[0].Count != 1 || cs[0].Marker == nil || cs[0].Marker.ID != "alone" ||
		cs[0].Marker.Pos != alone.Pos || cs[0].Marker.Props["name"] != "Alice" || cs[0].Marker.Props["heading"] != 30.0 {
		t.Fatalf("clusters %+v, want one of count 1 carrying marker %+v", cs, alone)
	}
	if ms := c.Markers(); len(ms) != 0 {
		t.Fatalf("the decluttered view holds markers %v", ms)
	}
	reported := false
	for !reported {
		select {
		case ch := <-changes:
			for _, cl := range ch.Clusters {
				reported = reported || cl.Marker != nil && cl.Marker.Props["name"] == "Alice"
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no change reported the isolated marker with its props")
		}
	}
	if err := srv.Apply(server.Upserts(wire.Marker{ID: "near", Layer: "cars", Pos: geo.Pt(2.451, 48.85)})); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		cs := c.Clusters()
		if len(cs) != 1 || cs[0].Count != 2 || cs[0].Marker != nil {
			return "clusters " + clustersText(cs) + ", want one of 2 without a marker"
		}
		return ""
	})
}

func clustersText(cs []wire.Cluster) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString("[count " + strconv.FormatUint(c.Count, 10))
		if c.Marker != nil {
			b.WriteString(" marker " + c.Marker.ID)
		}
		b.WriteString("]")
	}
	return b.String()
}
