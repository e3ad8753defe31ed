package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wasmclient"
)

// chaosDuration is how long TestChaos runs its faults:
// PUSHMAP_CHAOS_DURATION (make chaos: CHAOS_DURATION, 60s), 3s by default.
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("PUSHMAP_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PUSHMAP_CHAOS_DURATION=%q: %v", s, err)
		}
		return d
	}
	return 3 * time.Second
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestChaos: three nodes on a real redis-server (appendfsync always), a
// feed into node 0 without pause, and clients given every node's URL,
// first B's or C's. Until the duration ends, faults in a random order:
// kill -9 of node B or C (restarted on its address), kill -9 of
// redis-server (restarted on its AOF). Then every client holds exactly
// what a node started now holds, no acknowledged update is lost, and no
// client was ever shown a version never sent.
func TestChaos(t *testing.T) {
	duration := chaosDuration(t)
	seed := rand.Uint64()
	t.Logf("seed %d, duration %v", seed, duration)
	rng := rand.New(rand.NewPCG(seed, 1))
	rs := redistest.StartAOF(t, "always")
	args := func(addr string) []string {
		return []string{"serve", "--addr", addr, "--feed-keys", feedKey, "--redis", rs.URL, "--redis-mode", "cluster",
			"--redis-stream", "test:cluster", "--cluster-snapshot-every", "200ms"}
	}
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	nodes := make([]*process, 3)
	for i, a := range addrs {
		nodes[i] = startProcess(t, args(a)...)
	}
	urls := make([]string, 3)
	for i, n := range nodes {
		urls[i] = wsURL(n.url, "/ws")
	}

	f := newFeeder(nodes[0].url, seed, 100)
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
	ctx := context.Background()
	var clients []*wasmclient.Client
	for i := range 4 {
		first := 1 + i%2
		others := []string{urls[3-first], urls[0]}
		c, err := wasmclient.Dial(ctx, urls[first], &wasmclient.Options{URLs: others, OnChange: audit,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SetView(ctx, 0, geo.BBox(-180, -85, 180, 85), 3); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}

	feedCtx, stopFeed := context.WithCancel(ctx)
	fed := make(chan struct{})
	go func() { f.run(feedCtx, 2); close(fed) }()
	faults := map[string]int{}
	for end := time.Now().Add(duration); time.Now().Before(end); {
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		switch k := rng.IntN(3); k {
		case 0, 1:
			i := 1 + k
			nodes[i].kill()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			nodes[i] = startProcess(t, args(addrs[i])...)
			faults[fmt.Sprintf("kill -9 of node %d", i)]++
		case 2:
			rs.Stop()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			rs.Start()
			faults["kill -9 of redis-server"]++
		}
	}
	waitBatches(t, f, 1) // the feed still gets through
	stopFeed()
	<-fed

	d := startProcess(t, args("127.0.0.1:0")...)
	truth := snapshotOf(t, d.url, len(f.want()))
	for i, c := range clients {
		deadline := time.Now().Add(30 * time.Second)
		for {
			diff := markerDiff(c.Markers(), truth)
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %d (on %s, %+v) holds a map other than a new node's: %s", i, c.URL(), c.Status(), diff)
			}
			time.Sleep(200 * time.Millisecond)
			truth = snapshotOf(t, d.url, len(f.want()))
		}
	}
	n := f.check(t, d.url)
	if p := phantom.Load(); p > 0 {
		t.Errorf("clients were shown %d marker states with versions never sent", p)
	}
	f.mu.Lock()
	t.Logf("faults %v; %d batches acknowledged, %d posts without a 200, %d markers checked on a new node and %d clients: 0 acknowledged updates lost",
		faults, f.batches, f.failed, n, len(clients))
	f.mu.Unlock()
}
