package main

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// A watcher is a client that stays connected to one node through a fault
// and counts the resets it was sent.
type watcher struct {
	c      *wasmclient.Client
	resets atomic.Int64
}

func watch(t *testing.T, url string) *watcher {
	t.Helper()
	w := &watcher{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := wasmclient.Dial(ctx, wsURL(url, "/ws"), &wasmclient.Options{
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnChange: func(ch wasmclient.Change) {
			if ch.Reset { // the first is the reply to SetView
				w.resets.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetView(ctx, 0, geo.BBox(-180, -85, 180, 85), 3); err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

// A fault is how redis-server goes down in TestRedisKill9MidFeed.
type fault struct {
	name  string
	fsync string // appendfsync
	// powerCut: after the SIGKILL, the append-only file is cut back to its
	// size of cutBefore earlier, as a power cut would lose what everysec
	// had not fsynced yet.
	powerCut bool
	// window: acknowledged updates older than this at the kill must
	// survive (docs/cluster.md); 0: every one.
	window time.Duration
}

// TestRedisKill9MidFeed: three nodes on a real redis-server, a feed into
// A, clients on B and C. redis-server is killed with SIGKILL mid-feed and
// restarted on its append-only file; a second feed then writes new markers
// at once. Afterwards the clients on B and C hold exactly what a node
// started now holds (never silently different), every update acknowledged
// before the loss window is there, and when acknowledged updates were
// lost the clients were reset.
//   - appendfsync always: nothing acknowledged is lost.
//   - everysec and kill -9: Redis wrote the AOF before it answered, so the
//     page cache keeps it; docs/cluster.md allows up to 2 s lost when a
//     slow fsync made Redis postpone its writes.
//   - everysec and a power cut (the AOF cut back to its size 700 ms
//     before the kill, what everysec may not have fsynced): updates
//     acknowledged after the cut are lost, the nodes notice and reset
//     their clients.
func TestRedisKill9MidFeed(t *testing.T) {
	for _, fc := range []fault{
		{name: "always", fsync: "always"},
		{name: "everysec", fsync: "everysec", window: 2 * time.Second},
		{name: "everysec-power-cut", fsync: "everysec", powerCut: true, window: 700 * time.Millisecond},
	} {
		t.Run(fc.name, func(t *testing.T) { redisFault(t, fc) })
	}
}

func redisFault(t *testing.T, fc fault) {
	rs := redistest.StartAOF(t, fc.fsync)
	nodes := startCluster(t, rs.URL, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	watchers := []*watcher{watch(t, b.url), watch(t, c.url)}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)

	// The AOF's size over time, to cut it back as a power cut would.
	type sample struct {
		at   time.Time
		size int64
	}
	var (
		samplesMu sync.Mutex
		samples   []sample
	)
	sampling, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		aof := rs.AOFTail()
		for sampling.Err() == nil {
			at := time.Now() // before the stat: what was acknowledged by then is within size
			if st, err := os.Stat(aof); err == nil {
				samplesMu.Lock()
				samples = append(samples, sample{at, st.Size()})
				samplesMu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	f := newFeeder(a.url, seed, 100)
	feedCtx, stopFeed := context.WithCancel(context.Background())
	fed := make(chan struct{})
	go func() { f.run(feedCtx, 2); close(fed) }()
	time.Sleep(1500 * time.Millisecond)
	waitBatches(t, f, 30)
	killed := time.Now()
	rs.Stop() // SIGKILL
	stopFeed()
	stopSampling()
	<-sampled

	cut := killed.Add(-fc.window)
	if fc.powerCut {
		samplesMu.Lock()
		var keep sample
		for _, s := range samples {
			if !s.at.After(cut) {
				keep = s
			}
		}
		samplesMu.Unlock()
		if keep.at.IsZero() {
			t.Fatal("no sample of the AOF's size before the cut")
		}
		if err := os.Truncate(rs.AOFTail(), keep.size); err != nil {
			t.Fatal(err)
		}
		cut = keep.at
	}
	time.Sleep(300 * time.Millisecond) // Redis down: feeds get 503
	rs.Start()
	restarted := time.Now()
	// Posts in flight at the kill are answered now: a 200 if their entry
	// was applied, a 503 if Redis did not take it or lost it.
	<-fed

	// New markers at once, through another node, while A, B and C may still
	// be reconnecting.
	f2 := newFeeder(b.url, seed+1, 20)
	f2.prefix = "after-"
	f2ctx, stopF2 := context.WithCancel(context.Background())
	fed2 := make(chan struct{})
	go func() { f2.run(f2ctx, 2); close(fed2) }()
	waitBatches(t, f2, 20)
	stopF2()
	<-fed2

	// The truth: what a node started now holds.
	d := startProcess(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", feedKey,
		"--redis", rs.URL, "--redis-mode", "cluster", "--redis-stream", "test:cluster")
	var truth map[string]wire.Marker
	for _, w := range watchers {
		deadline := time.Now().Add(20 * time.Second)
		for {
			truth = snapshotOf(t, d.url, getStats(t, d.url).Markers)
			diff := markerDiff(w.c.Markers(), truth)
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a client on %s holds a map other than a new node's: %s", w.c.URL(), diff)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Every acknowledged update older than the window is there, and every
	// one acknowledged after the restart (a post in flight at the kill must
	// not be answered 200 when its entry was lost).
	f.mu.Lock()
	lostInWindow, lostOutside := 0, 0
	for _, ack := range f.history {
		if m, ok := truth[ack.id]; !ok || m.Version < ack.v {
			if ack.at.After(restarted) {
				t.Errorf("%s version %d was acknowledged after Redis restarted, and is lost", ack.id, ack.v)
			} else if ack.at.After(cut) {
				lostInWindow++
			} else if lostOutside++; lostOutside <= 5 {
				t.Errorf("%s version %d, acknowledged %v before the kill, is lost (the node has %+v)", ack.id, ack.v, killed.Sub(ack.at), m)
			}
		}
	}
	total := len(f.history)
	f.mu.Unlock()
	f2.mu.Lock()
	for _, ack := range f2.history {
		if m, ok := truth[ack.id]; !ok || m.Version < ack.v {
			t.Errorf("%s version %d, acknowledged after Redis restarted, is lost", ack.id, ack.v)
		}
	}
	f2.mu.Unlock()
	if fc.window == 0 && lostInWindow > 0 {
		t.Errorf("%d acknowledged updates lost with appendfsync always", lostInWindow)
	}
	for _, w := range watchers {
		if lostInWindow > 0 && w.resets.Load() < 2 {
			t.Errorf("%d acknowledged updates were lost and the client on %s was not reset", lostInWindow, w.c.URL())
		}
	}
	t.Logf("%s: %d acknowledged updates, %d lost within the %v before the kill (%d outside it); clients sent %d and %d resets",
		fc.name, total, lostInWindow, killed.Sub(cut).Round(time.Millisecond), lostOutside, watchers[0].resets.Load()-1, watchers[1].resets.Load()-1)
}
