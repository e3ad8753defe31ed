package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// TestSlowClient: a client that never reads costs at most its outbox limit,
// is closed as too slow, and neither the feed nor another client waits
// for it. Its writer, which writes each batch it pulls straight into its
// frames, blocks once the socket is full, and the write times out; the
// batches given meanwhile fill its outbox up to the limit and make it fall
// behind (a client that reads again before the timeout is then reset,
// TestWriteRunHandsOffResets and the outbox's tests). Each batch here is
// larger than the limit: a client that reads it as it comes is not reset
// for that.
func TestSlowClient(t *testing.T) {
	const limit = 64 << 10
	srv, url := servertest.StartServer(t, &server.Options{OutboxBytes: limit, WriteTimeout: 2 * time.Second})
	fast := dialRecorder(t, url, "fast")
	if err := fast.SetView(context.Background(), 0, geo.World, 0); err != nil {
		t.Fatal(err)
	}
	slow := dialRaw(t, url)
	slow.hello()
	slow.send(wire.View{Box: geo.World})
	// From now on the slow client reads nothing.

	pad := map[string]any{"pad": strings.Repeat("x", 200)}
	all := map[string]wire.Marker{}
	peak := 0
	for round := range 60 {
		batch := make([]wire.Marker, 1000)
		for i := range batch {
			batch[i] = wire.Marker{ID: fmt.Sprint("m", i), Layer: "a", Props: pad,
				Pos: geo.Pt(float64(i%360)-180+float64(round)/100, float64(i%170)-85)}
		}
		if err := srv.Apply(server.Upserts(batch...)); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, srv.OutboxBytes())
	}
	for _, m := range srv.MarkersIn(geo.World, nil) {
		all[m.ID] = m
	}
	// The fast client has the final state.
	servertest.Eventually(t, 20*time.Second, func() string {
		return diffCache(fast.Markers(), all)
	})
	// The slow one was reset, then closed.
	servertest.Eventually(t, 20*time.Second, func() string {
		st := srv.Stats()
		if st.TooSlow == 0 {
			return fmt.Sprintf("slow client not closed: %+v", st)
		}
		return ""
	})
	// One copy of the view: the size of a snapshot of it.
	enc, view := wire.NewEncoder(), 0
	for _, m := range all {
		op, _ := enc.Upsert(&m)
		view += len(op)
	}
	st := srv.Stats()
	t.Logf("outbox peak %d bytes (limit %d, one view %d); stats %+v", peak, limit, view, st)
	// Both clients' outboxes are summed: each may hold its limit plus one
	// copy of its view.
	if peak > 2*(limit+view) {
		t.Fatalf("outboxes held %d bytes, more than twice the limit %d plus one view %d", peak, limit, view)
	}
	if st.Connections != 1 {
		t.Fatalf("%d connections left, want the fast one", st.Connections)
	}
}

// TestReconnect stops the server, starts another with a different state on
// the same address, and checks the client reconnects by itself and its
// cache converges to the new server's state.
func TestReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	start := func(ln net.Listener, ms []wire.Marker) (*server.Server, *httptest.Server) {
		srv, err := server.New(&server.Options{Logger: servertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Apply(server.Upserts(ms...)); err != nil {
			t.Fatal(err)
		}
		hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv}}
		hs.Start()
		return srv, hs
	}
	first := []wire.Marker{
		{ID: "stays", Pos: geo.Pt(1, 1)}, {ID: "moves", Pos: geo.Pt(2, 2)}, {ID: "goes", Pos: geo.Pt(3, 3)},
		{ID: "leaves", Pos: geo.Pt(4, 4)},
	}
	srv1, hs1 := start(ln, first)
	c := dialRecorder(t, "ws://"+addr, "c")
	view := geo.BBox(0, 0, 10, 10)
	if err := c.SetView(context.Background(), 0, view, 5); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Markers()); n != 4 {
		t.Fatalf("%d markers before the restart", n)
	}

	srv1.Close()
	hs1.Close()
	servertest.Eventually(t, 5*time.Second, func() string {
		if c.Status().State != wasmclient.Reconnecting {
			return "client not reconnecting: " + c.Status().State.String()
		}
		return ""
	})
	var ln2 net.Listener
	servertest.Eventually(t, 5*time.Second, func() string {
		ln2, err = net.Listen("tcp", addr)
		if err != nil {
			return err.Error()
		}
		return ""
	})
	second := []wire.Marker{
		{ID: "stays", Pos: geo.Pt(1, 1)}, {ID: "moves", Pos: geo.Pt(5, 5), Version: 9},
		{ID: "leaves", Pos: geo.Pt(40, 40)}, {ID: "new", Pos: geo.Pt(6, 6)},
	}
	srv2, hs2 := start(ln2, second)
	defer func() { srv2.Close(); hs2.Close() }()

	want := map[string]wire.Marker{}
	for _, m := range srv2.MarkersIn(view, nil) {
		want[m.ID] = m
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		if st := c.Status(); st.State != wasmclient.Open {
			return "client " + st.State.String()
		}
		return diffCache(c.Markers(), want)
	})
	// And it keeps receiving updates.
	if err := srv2.Upsert(wire.Marker{ID: "later", Pos: geo.Pt(7, 7)}); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := c.Markers()["later"]; !ok {
			return "no update after reconnecting"
		}
		return ""
	})
}

// TestStatsOutboxBacklog: Stats reports the bytes waiting in every
// connection's outbox, in all and the most for one (what /metrics
// exports), as a writer blocked on a slow client leaves them. (A real slow
// client shows a backlog only between its writer blocking and its outbox
// falling behind, too short a time to sample reliably.)
func TestStatsOutboxBacklog(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	for range 2 {
		c := dialRaw(t, url)
		c.hello()
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := srv.Stats().Connections; n != 2 {
			return fmt.Sprintf("%d connections, want 2", n)
		}
		return ""
	})
	srv.HoldBacklog(1000, 300)
	if st := srv.Stats(); st.OutboxBytes != 1300 || st.OutboxMaxBytes != 1000 {
		t.Errorf("Stats: %d bytes waiting in all, %d for one; want 1300 and 1000", st.OutboxBytes, st.OutboxMaxBytes)
	}
}
