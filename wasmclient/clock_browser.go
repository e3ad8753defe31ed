//go:build pushmap_browser

package wasmclient

import (
	"errors"
	"sync"
	"syscall/js"
)

// The browser build's clock (see clock.go): JavaScript's setTimeout and
// performance.now() in place of package time, and a small cancellable
// signal in place of package context. Timer callbacks run on the
// JavaScript event loop and must not block: each starts a goroutine.

// signal is what the core needs of a context: cancellation. A
// context.Context is one.
type signal interface {
	Done() <-chan struct{}
	Err() error
}

// dur is a duration in nanoseconds, as time.Duration.
type dur int64

// stamp is an instant: milliseconds since the Unix epoch, monotonic
// within a page (performance.timeOrigin + performance.now()).
type stamp float64

// never is the zero stamp, before any now().
var never stamp

const (
	millisecond dur = 1e6
	second          = 1000 * millisecond
)

var (
	errClientClosed = errors.New("pushmap: client closed")
	errTimedOut     = errors.New("pushmap: timed out")
)

// cancelSignal is a signal done when its cancel is called, with the error
// given then.
type cancelSignal struct {
	once sync.Once
	done chan struct{}
	err  error // set before done is closed
}

func newCancelSignal() *cancelSignal { return &cancelSignal{done: make(chan struct{})} }

func (s *cancelSignal) Done() <-chan struct{} { return s.done }

func (s *cancelSignal) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

func (s *cancelSignal) cancel(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// lifetime returns the signal of a client's life and the function that
// ends it.
func lifetime() (signal, func()) {
	s := newCancelSignal()
	return s, func() { s.cancel(errClientClosed) }
}

// withTimeout returns a signal done when parent is or after d, and the
// function that releases it.
func withTimeout(parent signal, d dur) (signal, func()) {
	s := newCancelSignal()
	t := afterFunc(d, func() { s.cancel(errTimedOut) })
	go func() {
		select {
		case <-parent.Done():
			s.cancel(parent.Err())
		case <-s.done:
		}
	}()
	return s, func() {
		t.Stop()
		s.cancel(errClientClosed)
	}
}

type neverDone struct{}

func (neverDone) Done() <-chan struct{} { return nil }
func (neverDone) Err() error            { return nil }

// background is a signal never done.
func background() signal { return neverDone{} }

// timer is a pending setTimeout.
type timer = *jsTimer

type jsTimer struct {
	mu    sync.Mutex
	id    js.Value // setTimeout's handle
	fn    js.Func
	fired bool // or stopped: fn released
}

// afterFunc calls f in its own goroutine after d, unless stopped first.
func afterFunc(d dur, f func()) timer {
	t := &jsTimer{}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fn = js.FuncOf(func(js.Value, []js.Value) any {
		if t.finish() {
			go f()
		}
		return nil
	})
	t.id = js.Global().Call("setTimeout", t.fn, float64(d)/float64(millisecond))
	return t
}

// finish marks t done and releases its callback; false when it was
// already.
func (t *jsTimer) finish() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fired {
		return false
	}
	t.fired = true
	t.fn.Release()
	return true
}

// Stop keeps f from being called; it reports whether it did.
func (t *jsTimer) Stop() bool {
	if !t.finish() {
		return false
	}
	js.Global().Call("clearTimeout", t.id)
	return true
}

// after returns a channel closed after d.
func after(d dur) <-chan struct{} {
	ch := make(chan struct{})
	afterFunc(d, func() { close(ch) })
	return ch
}

var performance = js.Global().Get("performance")

func now() stamp {
	return stamp(performance.Get("timeOrigin").Float() + performance.Call("now").Float())
}

func since(t stamp) dur { return dur((float64(now()) - float64(t)) * float64(millisecond)) }

// untilUnix returns the time left until the Unix time sec (in seconds).
func untilUnix(sec float64) dur {
	return dur((sec*1000 - float64(now())) * float64(millisecond))
}
