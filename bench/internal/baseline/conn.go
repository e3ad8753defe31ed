package baseline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// closeTooSlow is the close code of a client that fell OutboxBytes behind,
// pushmap's wire.CloseTooSlow.
const closeTooSlow = wire.CloseTooSlow

// maxBatchBytes caps a batch frame written from an outbox, as in pushmap.
const maxBatchBytes = 64 << 10

// A conn is one WebSocket client of a broker, with its outbox and the
// writer goroutine that drains it while it holds something.
type conn struct {
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     *sync.WaitGroup // the broker's: counts writer goroutines
	out    outbox.Outbox
	w      *outbox.Writer
}

func newConn(ws *websocket.Conn, o *Options, writes *outbox.Watchdog, wg *sync.WaitGroup) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	ws.SetReadLimit(o.MaxFrameBytes)
	c := &conn{ws: ws, ctx: ctx, cancel: cancel, wg: wg, w: writes.NewWriter(ws)}
	c.out.Limit = o.OutboxBytes
	return c
}

// startWriter starts the writer; the outbox said none runs.
func (c *conn) startWriter() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.writeLoop()
	}()
}

// errTooSlow ends the writer of a client that fell OutboxBytes behind: a
// broker has no snapshot to send it, so it closes it.
var errTooSlow = errors.New("client too slow")

func (c *conn) writeLoop() {
	err := c.out.Drain(c.w.Write, maxBatchBytes, func() error {
		c.out.Close()
		c.ws.Close(closeTooSlow, "client too slow")
		c.cancel()
		return errTooSlow
	})
	if err != nil && err != errTooSlow {
		c.fail()
	}
}

// socket returns the connection's WebSocket; tileConn has it too.
func (c *conn) socket() *websocket.Conn { return c.ws }

// closeAll marks a broker closed under its lock mu, then closes the socket
// of every one of its clients at once (their goroutines then end).
func closeAll[C interface {
	comparable
	socket() *websocket.Conn
}](mu *sync.Mutex, closed *bool, conns map[C]struct{}) {
	mu.Lock()
	*closed = true
	cs := slices.Collect(maps.Keys(conns))
	mu.Unlock()
	for _, c := range cs {
		c.socket().CloseNow()
	}
}

// end releases the connection once its reader is done.
func (c *conn) end() {
	c.out.Close()
	c.w.Close()
	c.ws.CloseNow()
	c.cancel()
}

func (c *conn) fail() {
	c.out.Close()
	c.ws.CloseNow()
	c.cancel()
}

// errBadMessage is returned for a client frame that is not a valid
// subscription.
var errBadMessage = errors.New("baseline: bad message")
