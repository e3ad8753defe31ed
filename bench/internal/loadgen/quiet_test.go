package loadgen

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitQuietWaitsForBusyCores keeps every core busy for a while and
// checks that WaitQuiet does not call the machine quiet before they stop.
func TestWaitQuietWaitsForBusyCores(t *testing.T) {
	if _, err := MachineBusy(); err != nil {
		t.Skipf("cannot read the machine's CPU time here: %v", err)
	}
	var stop atomic.Bool
	var stoppedAt atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for !stop.Load() {
			}
		})
	}
	wg.Go(func() {
		time.Sleep(4 * quietSample)
		stoppedAt.Store(time.Now().UnixNano())
		stop.Store(true)
	})
	busy, err := WaitQuiet(context.Background(), 10*time.Second)
	returned := time.Now().UnixNano()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if busy >= quietCores {
		t.Logf("the machine stayed busy (%.2f cores) for other reasons: nothing to check", busy)
		return
	}
	if s := stoppedAt.Load(); s == 0 || returned < s {
		t.Fatalf("WaitQuiet reported %.2f cores busy while %d cores were kept busy", busy, runtime.GOMAXPROCS(0))
	}
}

// TestWaitQuietStopsWithItsContext checks that a cancelled wait ends with
// the context's error.
func TestWaitQuietStopsWithItsContext(t *testing.T) {
	if _, err := MachineBusy(); err != nil {
		t.Skipf("cannot read the machine's CPU time here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WaitQuiet(ctx, time.Minute); err != context.Canceled {
		t.Fatalf("WaitQuiet with a cancelled context: err %v, want context.Canceled", err)
	}
}
