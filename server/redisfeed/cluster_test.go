package redisfeed_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
	"github.com/redis/rueidis"
)

// node is a cluster node in this process: a server fed by a Cluster whose
// tail the test starts and stops.
type node struct {
	srv    *server.Server
	c      *redisfeed.Cluster
	cancel context.CancelFunc
	done   chan error
}

var blockFor = 50 * time.Millisecond

func startNode(t *testing.T, url string, every time.Duration) *node {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := redisfeed.NewCluster(url, srv, &redisfeed.ClusterOptions{Stream: "t:cluster", SnapshotEvery: every,
		Block: blockFor, ApplyTimeout: 5 * time.Second, Logger: quiet})
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
	aAt := a.c.Stats().LastID
	a.stop()
	for _, us := range [][]server.Update{upserts(5, 20, 2), upserts(15, 25, 3)} {
		if err := b.c.Apply(us); err != nil {
			t.Fatal(err)
		}
	}
	// b writes on; each snapshot trims the stream below the one before, so
	// that a's position is soon trimmed away.
	v := uint64(3)
	servertest.Eventually(t, 5*time.Second, func() string {
		v++
		if err := b.c.Apply(upserts(20, 25, v)); err != nil {
			return err.Error()
		}
		first, _, _ := strings.Cut(rs.CLI("XRANGE", "t:cluster", "-", "+", "COUNT", "1"), "\n")
		if !idLess(aAt, first) {
			return fmt.Sprintf("the stream starts at %s, not yet beyond a's position %s", first, aAt)
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

// TestClusterLostTailResyncs: Redis comes back without the last entries a
// node applied (appendfsync everysec and a power cut) and takes new
// entries before the node reads again, so that the stream has as many
// entries as the node counted and ends beyond its position. The node must
// notice that the entry it applied last is gone and reset to what Redis
// holds (as a node that starts now does), before it applies any new entry
// on top of the lost updates.
func TestClusterLostTailResyncs(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL, time.Hour) // writes no snapshot
	for i := range 10 {
		if err := a.c.Apply(upserts(i, i+1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	kept, err := client.Do(ctx, client.B().Xrange().Key("t:cluster").Start("-").End("+").Count(5).Build()).AsXRange()
	if err != nil || len(kept) != 5 {
		t.Fatalf("XRANGE: %v, %d entries", err, len(kept))
	}
	// In one transaction, so that a reads either the old stream or the
	// new: the first 5 entries kept, the last 5 lost, 10 new ones.
	replaceStream(ctx, t, client, kept, 10)
	fresh := startNode(t, rs.URL, time.Hour)
	servertest.Eventually(t, 5*time.Second, func() string {
		if got, want := a.markers(), fresh.markers(); len(want) != 15 || fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("after Redis lost the tail, a holds %v, a node started now %v (want m0-m4 and n0-n9)", got, want)
		}
		return ""
	})
	// Reset before applying anything past the lost tail: 10 entries, then
	// the 15 Redis holds.
	if st := a.c.Stats(); st.Resyncs != 1 || st.Entries != 25 {
		t.Errorf("a resynced %d times and applied %d entries, want 1 and 25 (10, then the 15 after the reset)", st.Resyncs, st.Entries)
	}
}

// idLess reports whether stream id a comes before b.
func idLess(a, b string) bool {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || am == bm && as < bs
}

// TestClusterApplyFailsWhenItsEntryWasLost: a write is in Redis, the node
// has not applied it yet, and Redis loses it (with the entries before it)
// and takes newer ones. The node's position then moves beyond the lost
// entry's id: Apply must not take that for "applied" and answer as if the
// write were kept; it reports ErrUnavailable, for the feed to retry.
func TestClusterApplyFailsWhenItsEntryWasLost(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL, time.Hour)
	for i := range 5 {
		if err := a.c.Apply(upserts(i, i+1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	a.stop() // its tail: the next write waits
	applied := make(chan error, 1)
	go func() { applied <- a.c.Apply(upserts(100, 101, 1)) }()
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := rs.CLI("XLEN", "t:cluster"); n != "6" {
			return "the write is not in Redis yet: XLEN " + n
		}
		return ""
	})
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	kept, err := client.Do(ctx, client.B().Xrange().Key("t:cluster").Start("-").End("+").Count(3).Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	replaceStream(ctx, t, client, kept, 5)
	a.run()
	if err := <-applied; !errors.Is(err, redisfeed.ErrUnavailable) {
		t.Fatalf("Apply of a write Redis lost: %v, want ErrUnavailable", err)
	}
	if _, ok := a.srv.Stored("m100"); ok {
		t.Fatal("the lost write is on the node")
	}
}

// TestClusterAppliesWhileSnapshotting: a snapshot is written off the
// tail. While one is held before its write (a test hook; at 1M markers the
// encoding and the write take seconds), the node still applies the stream:
// a feed on it is answered and its markers are there; the snapshot is
// written once let go.
func TestClusterAppliesWhileSnapshotting(t *testing.T) {
	url := redistest.Start(t).URL
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := redisfeed.NewCluster(url, srv, &redisfeed.ClusterOptions{Stream: "t:snapping", SnapshotEvery: time.Millisecond,
		Block: blockFor, ApplyTimeout: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	held, release := make(chan struct{}, 1), make(chan struct{})
	redisfeed.SetBeforeSnapshotWrite(c, func() {
		select {
		case held <- struct{}{}:
		default:
		}
		<-release
	})
	n := &node{srv: srv, c: c}
	n.run()
	t.Cleanup(n.stop)
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})

	if err := c.Apply(upserts(0, 10, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot started within 10 s of a write (SnapshotEvery 1 ms)")
	}
	// The snapshot is held: the tail must go on.
	if err := c.Apply(upserts(10, 20, 1)); err != nil {
		t.Fatalf("a write while a snapshot is being written: %v", err)
	}
	if got := len(n.markers()); got != 20 {
		t.Fatalf("%d markers after two answered writes of 10, want 20", got)
	}
	close(release)
	released = true
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Snapshots == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held snapshot was not written within 10 s of its release")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replaceStream replaces stream t:cluster, in one transaction (a node reads
// either the old stream or the new), by the entries kept followed by n new
// ones (markers n0..n<n-1>): the entries after kept are lost.
func replaceStream(ctx context.Context, t *testing.T, client rueidis.Client, kept []rueidis.XRangeEntry, n int) {
	t.Helper()
	cmds := rueidis.Commands{client.B().Multi().Build(), client.B().Del().Key("t:cluster").Build()}
	for _, e := range kept {
		fv := client.B().Xadd().Key("t:cluster").Id(e.ID).FieldValue()
		for f, v := range e.FieldValues {
			fv = fv.FieldValue(f, v)
		}
		cmds = append(cmds, fv.Build())
	}
	for i := range n {
		cmds = append(cmds, client.B().Xadd().Key("t:cluster").Id("*").FieldValue().
			FieldValue("json", fmt.Sprintf(`[{"id":"n%d","lon":%d,"lat":2,"version":1}]`, i, i)).Build())
	}
	cmds = append(cmds, client.B().Exec().Build())
	for _, r := range client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterChecksGapsInTheReadsRoundTrip: the tail's gap check (XINFO
// STREAM and its companions) goes in the same pipeline as the XREAD it
// checks, once per read; it used to run before the read and again after
// it, two round trips more per entry, which made the hop through Redis the
// cluster's tail latency on a busy machine. Counted by Redis itself
// (INFO commandstats), after entries written one at a time.
func TestClusterChecksGapsInTheReadsRoundTrip(t *testing.T) {
	rs := redistest.Start(t)
	a := startNode(t, rs.URL, time.Hour)
	const writes = 40
	for i := range writes {
		if err := a.c.Apply(upserts(i, i+1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	a.stop()
	if st := a.c.Stats(); st.Entries != writes || st.Resyncs != 0 {
		t.Fatalf("the node applied %d entries with %d resyncs, want %d and 0", st.Entries, st.Resyncs, writes)
	}
	calls := func(stats, cmd string) int {
		for line := range strings.SplitSeq(stats, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
				var n int
				fmt.Sscanf(rest, "%d", &n)
				return n
			}
		}
		return 0
	}
	stats := rs.CLI("INFO", "commandstats")
	xread, xinfo := calls(stats, "xread"), calls(stats, "xinfo|stream")
	if xread < writes/2 {
		t.Fatalf("%d XREADs for %d entries written one at a time (INFO commandstats:\n%s)", xread, writes, stats)
	}
	// One check per read, and one when the tail starts.
	if xinfo > xread+1 {
		t.Errorf("%d XINFO STREAM for %d XREADs: the gap check takes round trips of its own, want one per read (and one at the start)", xinfo, xread)
	}
}
