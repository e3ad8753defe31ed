package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// startCluster starts n pushmap nodes in cluster mode on the Redis at url.
func startCluster(t *testing.T, url string, n int) []*process {
	t.Helper()
	var nodes []*process
	for range n {
		nodes = append(nodes, startProcess(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", feedKey,
			"--redis", url, "--redis-mode", "cluster", "--redis-stream", "test:cluster", "--cluster-snapshot-every", "200ms"))
	}
	return nodes
}

// waitSame waits until the client of url holds exactly want (ids,
// versions, positions), and fails the test after 20s.
func waitSame(t *testing.T, name, url string, want map[string]wire.Marker) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var diff string
	for time.Now().Before(deadline) {
		got := snapshotOf(t, url, len(want))
		if diff = markerDiff(got, want); diff == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: the client's markers differ from what was fed: %s", name, diff)
}

func markerDiff(got, want map[string]wire.Marker) string {
	var out []string
	for id, w := range want {
		g, ok := got[id]
		if !ok || g.Version != w.Version || g.Pos != w.Pos {
			out = append(out, id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			out = append(out, "extra "+id)
		}
	}
	if len(out) == 0 {
		return ""
	}
	if len(out) > 5 {
		out = append(out[:5], "...")
	}
	return strings.Join(out, ", ")
}

// TestClusterOneMap: three real nodes on one real Redis (appendfsync
// always). A feed posts into node A; clients on B and C get exactly what
// was fed. Then A is killed with SIGKILL mid-feed: B and C hold every
// update A acknowledged. A feed to a node whose Redis is down gets 503,
// never a 200; once Redis is back (its AOF kept everything), the nodes go
// on and a new write reaches every node.
func TestClusterOneMap(t *testing.T) {
	rs := redistest.StartAOF(t, "always")
	nodes := startCluster(t, rs.URL, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	seed := rand.Uint64()
	t.Logf("seed %d", seed)

	// 1. Feed into A until stopped: B and C converge exactly.
	f := newFeeder(a.url, seed, 100)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.run(ctx, 2); close(done) }()
	waitBatches(t, f, 60)
	stop()
	<-done
	want := f.want()
	waitSame(t, "node B", b.url, want)
	waitSame(t, "node C", c.url, want)

	// 2. kill -9 A mid-feed: nothing A acknowledged is lost on B and C.
	done = make(chan struct{})
	go func() { f.run(context.Background(), 2); close(done) }()
	waitBatches(t, f, f.batchCount()+60)
	a.kill()
	<-done
	time.Sleep(500 * time.Millisecond) // let B and C's tails catch up
	t.Logf("after kill -9 of A: %d markers checked on B, %d on C", f.check(t, b.url), f.check(t, c.url))

	// 3. Redis down: a feed gets 503 problem+json, never a 200.
	rs.Stop()
	req, _ := http.NewRequest("POST", b.url+"feed/markers", strings.NewReader(`{"id":"while-down","lon":1,"lat":1}`))
	req.Header.Set("Authorization", "Bearer "+feedKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("POST while Redis is down: %d %s, want 503 application/problem+json", res.StatusCode, res.Header.Get("Content-Type"))
	}
	rs.Restart()
	var status int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status, err = post(http.DefaultClient, c.url+"feed/markers", feedKey, `{"id":"after","lon":2,"lat":2,"version":1}`); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no write succeeded within 20s of Redis coming back: %v (status %d)", err, status)
	}
	want2 := snapshotOf(t, c.url, len(want)+1)
	if _, ok := want2["after"]; !ok {
		t.Fatal("the write after Redis came back is not on the node that took it")
	}
	waitSame(t, "node B after Redis restarted", b.url, want2)
	f.mu.Lock()
	f.sent["after"] = 1 // fed above, not by f
	f.mu.Unlock()
	f.check(t, b.url)
}

// want returns the markers as acknowledged: what a client of any node
// must hold once the feed has stopped.
func (f *feeder) want() map[string]wire.Marker {
	want := map[string]wire.Marker{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, v := range f.acked {
		var g, i int
		sscanID(id, &g, &i)
		want[id] = wire.Marker{ID: id, Version: v, Pos: posOf(g, i, v)}
	}
	return want
}

// TestClusterClientMovesOn: a client given the URLs of all three nodes
// connects to A; the feed posts into C. A is killed with SIGKILL mid-feed:
// the client moves to the next URL (B) and, once the feed stops, holds
// exactly what was acknowledged. No marker it ever held had a version
// never sent.
func TestClusterClientMovesOn(t *testing.T) {
	rs := redistest.StartAOF(t, "always")
	nodes := startCluster(t, rs.URL, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	f := newFeeder(c.url, seed, 100)

	var phantom atomic.Int64
	audit := func(ch wasmclient.Change) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, m := range slices.Concat(ch.Added, ch.Updated) {
			if m.Version > f.sent[m.ID] {
				phantom.Add(1)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := wasmclient.Dial(ctx, wsURL(a.url, "/ws"), &wasmclient.Options{
		URLs:     []string{wsURL(b.url, "/ws"), wsURL(c.url, "/ws")},
		OnChange: audit, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.SetView(ctx, 0, geo.BBox(-180, -85, 180, 85), 3); err != nil {
		t.Fatal(err)
	}

	feedCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.run(feedCtx, 2); close(done) }()
	waitBatches(t, f, 40)
	if got := len(cl.Markers()); got == 0 {
		t.Fatal("the client on node A holds nothing of the feed into C")
	}
	a.kill()
	fed := f.batchCount()
	waitBatches(t, f, fed+40) // the feed goes on while the client moves
	stop()
	<-done
	want := f.want()
	deadline := time.Now().Add(20 * time.Second)
	for markerDiff(cl.Markers(), want) != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if d := markerDiff(cl.Markers(), want); d != "" {
		t.Fatalf("after node A died, the client on %s differs from what was acknowledged: %s (status %+v)", cl.URL(), d, cl.Status())
	}
	if cl.URL() != wsURL(b.url, "/ws") {
		t.Errorf("the client is on %s, want the next URL, node B's %s", cl.URL(), wsURL(b.url, "/ws"))
	}
	if n := phantom.Load(); n > 0 {
		t.Errorf("the client was shown %d marker states with versions never sent", n)
	}
	t.Logf("%d markers on the client after it moved to node B, %d batches acknowledged", len(want), f.batches)
}

func sscanID(id string, g, i *int) {
	var a, b int
	for k, part := range strings.SplitN(strings.TrimPrefix(id, "g"), "-m", 2) {
		n := 0
		for _, r := range part {
			n = n*10 + int(r-'0')
		}
		if k == 0 {
			a = n
		} else {
			b = n
		}
	}
	*g, *i = a, b
}
