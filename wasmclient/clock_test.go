package wasmclient

import "testing"

// TestClock checks the clock the core runs on: package time and context
// natively, JavaScript's timers in the browser build, which make test-wasm
// runs in Node (GOOS=js GOARCH=wasm go test -tags pushmap_browser).
func TestClock(t *testing.T) {
	deadline := after(20 * second) // generous: the machine is shared

	fired := make(chan struct{})
	start := now()
	afterFunc(30*millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-deadline:
		t.Fatal("afterFunc(30ms) did not fire within 20 s")
	}
	if d := since(start); d < 25*millisecond {
		t.Errorf("afterFunc(30ms) fired after %d ns", d)
	}

	stopped := afterFunc(20*millisecond, func() { t.Error("a stopped timer fired") })
	if !stopped.Stop() {
		t.Error("Stop of a pending timer reported false")
	}
	if stopped.Stop() {
		t.Error("a second Stop reported true")
	}

	life, end := lifetime()
	timed, release := withTimeout(life, 40*millisecond)
	defer release()
	select {
	case <-timed.Done():
		if timed.Err() == nil {
			t.Error("a timed-out signal has no error")
		}
	case <-deadline:
		t.Fatal("withTimeout(40ms) not done within 20 s")
	}
	if life.Err() != nil {
		t.Errorf("the parent ended with its child: %v", life.Err())
	}

	child, release2 := withTimeout(life, 3600*second)
	defer release2()
	end()
	select {
	case <-child.Done():
		if child.Err() == nil {
			t.Error("a child of an ended signal has no error")
		}
	case <-deadline:
		t.Fatal("ending the parent did not end its child within 20 s")
	}

	if untilUnix(0) >= 0 {
		t.Error("untilUnix(0) is not in the past")
	}
	if d := untilUnix(4e9); d <= 0 {
		t.Errorf("untilUnix(year 2096) = %d", d)
	}
	if background().Done() != nil {
		t.Error("background can be done")
	}
}
