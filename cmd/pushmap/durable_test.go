package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

const feedKey = "durable-test-key"

// A feeder posts batches of versioned markers to a server's HTTP ingest
// and remembers, per marker, the highest version a 200 acknowledged.
// Each goroutine of run owns its own ids, so that for each marker the
// acknowledgements come in the order of the versions.
type feeder struct {
	url    string // base URL of the node fed
	seed   uint64
	perG   int    // markers per goroutine
	prefix string // of every id, "" by default
	client *http.Client

	mu      sync.Mutex
	acked   map[string]uint64 // guarded by mu
	sent    map[string]uint64 // guarded by mu: the highest version posted
	batches int               // guarded by mu: acknowledged
	failed  int               // guarded by mu: posts without a 200
	history []ack             // guarded by mu: every acknowledgement, in order
}

// An ack is a marker version a 200 acknowledged, and when.
type ack struct {
	id string
	v  uint64
	at time.Time
}

// batchCount returns how many batches were acknowledged so far.
func (f *feeder) batchCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.batches
}

func newFeeder(url string, seed uint64, perG int) *feeder {
	return &feeder{url: url, seed: seed, perG: perG, acked: map[string]uint64{}, sent: map[string]uint64{},
		client: &http.Client{Timeout: 10 * time.Second}}
}

// posOf is where marker id is at version v: a position the test can check.
func posOf(g, i int, v uint64) geo.Point {
	return wire.Quantize(geo.Point{Lon: float64(g*40+i%40) - 100 + float64(v%1000)*1e-4, Lat: float64(i/40) - 30 + float64(v%997)*1e-4})
}

// run posts from goroutines until ctx ends or a post gets no answer (the
// server was killed), and returns then.
func (f *feeder) run(ctx context.Context, goroutines int) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(f.seed, uint64(g)))
			next := map[string]uint64{}
			for ctx.Err() == nil {
				var items []string
				type up struct {
					id string
					v  uint64
				}
				var ups []up
				for range 1 + rng.IntN(40) {
					i := rng.IntN(f.perG)
					id := fmt.Sprintf("%sg%d-m%d", f.prefix, g, i)
					next[id]++
					v := next[id]
					p := posOf(g, i, v)
					items = append(items, fmt.Sprintf(`{"id":%q,"layer":"fleet","lon":%v,"lat":%v,"version":%d,"props":{"g":%d,"v":%d}}`,
						id, p.Lon, p.Lat, v, g, v))
					ups = append(ups, up{id, v})
				}
				f.mu.Lock()
				for _, u := range ups {
					f.sent[u.id] = max(f.sent[u.id], u.v)
				}
				f.mu.Unlock()
				status, err := post(f.client, f.url+"feed/markers", feedKey, "["+strings.Join(items, ",")+"]")
				f.mu.Lock()
				if err == nil {
					f.batches++
					now := time.Now()
					for _, u := range ups {
						f.acked[u.id] = max(f.acked[u.id], u.v)
						f.history = append(f.history, ack{u.id, u.v, now})
					}
				} else {
					f.failed++
				}
				f.mu.Unlock()
				if status == 0 && err != nil {
					return // no answer: the server is gone
				}
			}
		})
	}
	wg.Wait()
}

// check compares what a client of url sees with what was acknowledged:
// every acknowledged marker at least at its acknowledged version (at
// exactly it, at its position and with its props), none at a version never
// sent. It returns the number of markers checked.
func (f *feeder) check(t *testing.T, url string) int {
	t.Helper()
	got := snapshotOf(t, url, getStats(t, url).Markers)
	f.mu.Lock()
	defer f.mu.Unlock()
	lost := 0
	for id, v := range f.acked {
		m, ok := got[id]
		switch {
		case !ok || m.Version < v:
			if lost++; lost <= 5 {
				t.Errorf("acknowledged %s version %d; the restarted server has %+v (present: %v)", id, v, m, ok)
			}
		case m.Version == v:
			var g, i int
			fmt.Sscanf(id, "g%d-m%d", &g, &i)
			if p := posOf(g, i, v); m.Pos != p || fmt.Sprint(m.Props["v"]) != fmt.Sprint(v) {
				t.Errorf("%s version %d is at %v with props %v, want %v and v=%d", id, v, m.Pos, m.Props, p, v)
			}
		}
	}
	for id, m := range got {
		if m.Version > f.sent[id] {
			t.Errorf("%s has version %d, above the highest sent, %d", id, m.Version, f.sent[id])
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged markers lost or behind", lost, len(f.acked))
	}
	return len(f.acked)
}

// snapshotOf connects a client to url with a view of the world and returns
// the markers it holds once it holds at least want.
func snapshotOf(t *testing.T, url string, want int) map[string]wire.Marker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := wasmclient.Dial(ctx, wsURL(url, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(ctx, 0, geo.BBox(-180, -85, 180, 85), 3); err != nil {
		t.Fatal(err)
	}
	for {
		got := c.Markers()
		if len(got) >= want || ctx.Err() != nil {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKill9MidFeed: a server with --data-dir is killed with SIGKILL while
// three feeds post to it; restarted on the same directory, a client that
// connects gets every acknowledged marker at its acknowledged version (or a
// later one that was logged but not yet acknowledged). Then the same with
// SIGTERM, which must exit 0 having kept every acknowledged write.
func TestKill9MidFeed(t *testing.T) {
	for _, policy := range []string{"always", "interval"} {
		t.Run(policy, func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			dir := t.TempDir()
			args := []string{"serve", "--addr", "127.0.0.1:0", "--feed-keys", feedKey, "--data-dir", dir,
				"--fsync", policy, "--snapshot-bytes", "256KiB"}
			p := startProcess(t, args...)
			f := newFeeder(p.url, seed, 200)
			done := make(chan struct{})
			go func() { f.run(context.Background(), 3); close(done) }()
			waitBatches(t, f, 150)
			p.kill()
			<-done
			f.mu.Lock()
			t.Logf("kill -9 after %d acknowledged batches (%d posts without a 200)", f.batches, f.failed)
			f.mu.Unlock()

			p = startProcess(t, args...)
			n := f.check(t, p.url)
			if !strings.Contains(p.stderr(), "data restored") {
				t.Errorf("the restart did not log what it restored:\n%s", p.stderr())
			}

			// SIGTERM mid-feed: every 200 before the exit is kept.
			f.url = p.url
			ctx, stop := context.WithCancel(context.Background())
			done = make(chan struct{})
			target := f.batchCount() + 100
			go func() { f.run(ctx, 3); close(done) }()
			waitBatches(t, f, target)
			if code := p.terminate(); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			stop()
			<-done
			p = startProcess(t, args...)
			t.Logf("%d markers checked after kill -9, %d after SIGTERM", n, f.check(t, p.url))
		})
	}
}

func waitBatches(t *testing.T, f *feeder, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		b := f.batches
		f.mu.Unlock()
		if b >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches acknowledged in 30s, want %d", b, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExpiryAcrossDowntime: a ttl keeps counting in wall time while the
// server is down. A marker whose ttl ran out during the downtime is gone
// after the restart; one whose ttl runs out later is restored and removed
// when its original time comes, not a full ttl after the restart; one
// without ttl stays.
func TestExpiryAcrossDowntime(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--feed-keys", feedKey, "--data-dir", dir}
	p := startProcess(t, args...)
	fed := time.Now()
	_, err := post(http.DefaultClient, p.url+"feed/markers", feedKey, `[
		{"id":"short","lon":1,"lat":1,"ttl":1},
		{"id":"mid","lon":2,"lat":2,"ttl":4},
		{"id":"forever","lon":3,"lat":3}]`)
	if err != nil {
		t.Fatal(err)
	}
	p.kill()
	time.Sleep(time.Until(fed.Add(2 * time.Second))) // short's ttl ends while it is down

	p = startProcess(t, args...)
	if time.Since(fed) > 3500*time.Millisecond {
		t.Skipf("the restart took %v: too slow to tell the expiry times apart", time.Since(fed))
	}
	got := snapshotOf(t, p.url, 2)
	if _, ok := got["short"]; ok {
		t.Error("short, whose ttl ran out while the server was down, was restored")
	}
	if _, ok := got["mid"]; !ok {
		t.Errorf("mid, with time to live left, was not restored: %v", got)
	}
	// mid expires 4s after it was fed; counted from the restart it would
	// live until about 6s.
	time.Sleep(time.Until(fed.Add(5 * time.Second)))
	got = snapshotOf(t, p.url, 1)
	if _, ok := got["mid"]; ok {
		t.Errorf("mid is still there %v after it was fed with ttl 4s: its ttl restarted with the server", time.Since(fed).Round(time.Millisecond))
	}
	if _, ok := got["forever"]; !ok {
		t.Error("the marker without ttl was lost")
	}
}
