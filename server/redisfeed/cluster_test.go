package redisfeed_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// node is a cluster node in this process: a server fed by a Cluster whose
// tail the test starts and stops.
type node struct {
	srv    *server.Server
	c      *redisfeed.Cluster
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, url string, every time.Duration) *node {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := redisfeed.NewCluster(url, srv, &redisfeed.ClusterOptions{Stream: "t:cluster", SnapshotEvery: every,
		Block: 50 * time.Millisecond, ApplyTimeout: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	n := &node{srv: srv, c: c}
	n.run()
	t.Cleanup(n.stop)
	return n
}

func (n *node) run() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.c.Run(ctx) }()
}

func (n *node) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

func (n *node) markers() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range n.srv.Snapshot() {
		out[r.Marker.ID] = r.Marker.Version
	}
	return out
}

func upserts(from, to int, v uint64) []server.Update {
	var us []server.Update
	for i := from; i < to; i++ {
		us = append(us, server.Update{Marker: wire.Marker{ID: fmt.Sprint("m", i), Pos: geo.Point{Lon: float64(i % 90), Lat: 1}, Version: v}})
	}
	return us
}

// TestClusterGapResyncs: a node whose position was trimmed away while it
// was stopped (another node's snapshot covered it) loads that snapshot and
// holds what the other node holds; after a Redis that restarts empty (no
// persistence), the nodes notice that the stream ends before their
// position and reset to what Redis has, never keeping a silently
// different map; and a write while Redis is down is refused with
// ErrUnavailable.
func TestClusterGapResyncs(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL, time.Hour) // writes no snapshot in this test
	b := startNode(t, rs.URL, 20*time.Millisecond)
	if err := a.c.Apply(upserts(0, 10, 1)); err != nil {
		t.Fatal(err)
	}
	a.stop()
	for _, us := range [][]server.Update{upserts(5, 20, 2), upserts(15, 25, 3)} {
		if err := b.c.Apply(us); err != nil {
			t.Fatal(err)
		}
	}
	// b's snapshot covers its last entry, and the stream is trimmed below
	// it (XTRIM MINID keeps that entry).
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := rs.CLI("XLEN", "t:cluster"); n != "1" {
			return fmt.Sprintf("the stream holds %s entries, want 1 once b's snapshot covers its last write", n)
		}
		return ""
	})
	a.run()
	servertest.Eventually(t, 5*time.Second, func() string {
		if got, want := a.markers(), b.markers(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("a holds %v, b %v", got, want)
		}
		return ""
	})
	if a.c.Stats().Resyncs != 1 {
		t.Errorf("a resynced %d times, want 1", a.c.Stats().Resyncs)
	}

	// Redis down: refused; back empty: every node resets to what it has.
	rs.Stop()
	if err := a.c.Apply(upserts(0, 1, 9)); !errors.Is(err, redisfeed.ErrUnavailable) {
		t.Fatalf("Apply while Redis is down: %v, want ErrUnavailable", err)
	}
	rs.Restart()
	servertest.Eventually(t, 10*time.Second, func() string {
		if na, nb := len(a.markers()), len(b.markers()); na != 0 || nb != 0 {
			return fmt.Sprintf("after Redis lost everything, a holds %d markers and b %d, want 0 and 0", na, nb)
		}
		return ""
	})
	// The first write after the restart may find the old connection
	// closed (503 to a feed, which retries).
	servertest.Eventually(t, 5*time.Second, func() string {
		if err := b.c.Apply(upserts(0, 3, 1)); err != nil {
			return err.Error()
		}
		return ""
	})
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := len(a.markers()); n != 3 {
			return fmt.Sprintf("a holds %d markers after a write to b, want 3", n)
		}
		return ""
	})
}
