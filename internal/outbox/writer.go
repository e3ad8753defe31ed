package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ErrWriteTimeout is returned (wrapped) by a Writer's Write that blocked
// longer than its Watchdog's timeout: the client stopped reading.
var ErrWriteTimeout = errors.New("write timed out")

// A Writer writes binary messages to one WebSocket, each bounded by its
// Watchdog's timeout. Writes must not be concurrent: one writer goroutine
// at a time, as an Outbox's Drain guarantees.
type Writer struct {
	ws *websocket.Conn
	wd *Watchdog
	// write, when set (WriteWith), writes a message in place of ws.
	write func(msg []byte) error

	// state counts writes started and ended: odd while a write runs.
	state   atomic.Uint64
	expired atomic.Bool

	// Owned by the watchdog's sweeps.
	seen    uint64
	strikes int
}

// A Watchdog bounds the writes of many Writers with one goroutine, which
// looks at every Writer four times per timeout and closes the connection
// of one whose write has not ended for four looks in a row: a write may
// block between the timeout and 1.25 times the timeout. A write costs two
// atomic additions, where a context with a deadline per write costs a timer
// and two registrations, and a timer re-armed per write a timer operation
// (docs/design.md has the measures). The goroutine runs only while Writers
// are open.
type Watchdog struct {
	timeout time.Duration

	mu      sync.Mutex
	writers map[*Writer]struct{} // guarded by mu
	stop    chan struct{}        // guarded by mu: ends the running sweeper; nil when none runs
}

// watchdogLooks is how many consecutive looks find a write blocked before
// the watchdog ends it.
const watchdogLooks = 4

// NewWatchdog returns a Watchdog that ends writes blocked for timeout.
func NewWatchdog(timeout time.Duration) *Watchdog {
	return &Watchdog{timeout: timeout, writers: make(map[*Writer]struct{})}
}

// NewWriter returns a Writer to ws watched by wd. Close it when the
// connection ends.
func (wd *Watchdog) NewWriter(ws *websocket.Conn) *Writer {
	w := new(Writer)
	wd.Watch(w, ws)
	return w
}

// Watch makes w, a zero Writer, a Writer to ws watched by wd: NewWriter
// for a Writer kept inside its connection's own memory (the server's
// writers read it for every frame). w must not be copied after.
func (wd *Watchdog) Watch(w *Writer, ws *websocket.Conn) {
	w.ws, w.wd = ws, wd
	wd.mu.Lock()
	defer wd.mu.Unlock()
	wd.writers[w] = struct{}{}
	if wd.stop == nil {
		wd.stop = make(chan struct{})
		go wd.run(wd.stop)
	}
}

// WriteWith makes w write each message with write instead of the
// WebSocket library's Write, still bounded by the watchdog (which closes
// the library's connection, and so ends a write blocked on it): for a
// server that frames its messages itself on a socket it shares with the
// library, which must then write nothing but control frames. Call it
// before the first Write.
func (w *Writer) WriteWith(write func(msg []byte) error) { w.write = write }

// Close stops watching w. It does not close the connection.
func (w *Writer) Close() {
	wd := w.wd
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if _, ok := wd.writers[w]; !ok {
		return
	}
	delete(wd.writers, w)
	if len(wd.writers) == 0 {
		close(wd.stop)
		wd.stop = nil
	}
}

func (wd *Watchdog) run(stop chan struct{}) {
	t := time.NewTicker(max(wd.timeout/watchdogLooks, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, w := range wd.sweep() {
				w.expired.Store(true)
				w.ws.CloseNow()
			}
		}
	}
}

// sweep looks at every writer and returns those whose current write has
// been seen running watchdogLooks times in a row.
func (wd *Watchdog) sweep() (expired []*Writer) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	for w := range wd.writers {
		st := w.state.Load()
		if st&1 == 0 || st != w.seen {
			w.seen, w.strikes = st, 0
			continue
		}
		w.strikes++
		if w.strikes == watchdogLooks {
			expired = append(expired, w)
		}
	}
	return expired
}

// Write writes frame as one binary message. Once a write has timed out,
// the connection is closed and every Write returns an error wrapping
// ErrWriteTimeout.
func (w *Writer) Write(frame []byte) error {
	w.state.Add(1)
	var err error
	if w.write != nil {
		err = w.write(frame)
	} else {
		// A context without Done makes the library skip its own
		// per-write timeout machinery; the watchdog stands for it.
		err = w.ws.Write(context.Background(), websocket.MessageBinary, frame)
	}
	w.state.Add(1)
	if err != nil && w.expired.Load() {
		return fmt.Errorf("%w after %v: %w", ErrWriteTimeout, w.wd.timeout, err)
	}
	return err
}
