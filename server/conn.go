package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// badMessageLimit is how many refused messages (malformed, unknown type,
// invalid values) a connection may send before it is closed with 1008.
const badMessageLimit = 100

// floodWindow: a connection refused more than max(100, 5 × ViewBurst) view
// changes for rate within floodWindow is closed with 4003 (see
// allowViewChange).
const floodWindow = 10 * time.Second

// A conn is one client connection. Its reader goroutine runs serve; a
// writer goroutine runs only while its outbox holds something. An idle
// connection keeps this struct, its WebSocket (with a write buffer for
// control frames) and its reader's stack for life, so none of them holds
// what the connection no longer needs (see "Idle connection memory,
// again" in docs/design.md).
type conn struct {
	// The fields a batch's writer reads for every frame come first, in
	// one piece of memory: with thousands of connections each object of
	// a connection it reads is a cache miss per frame (docs/design.md,
	// "A connection's writing state in one place").
	s *Server
	// sock is the connection's socket when the server sees it (sockw):
	// the server's messages are framed and written there (w writes
	// through it), the library's control frames flushed there, and a
	// pool worker learns there that a write would block (writeRun). nil
	// otherwise (TLS): the library writes everything. Set before it is
	// served.
	sock *sockWriter
	out  outbox.Outbox
	// pull holds the batches whose ops the writer computes itself
	// (fanpull.go).
	pull pulls
	// pullBoxes are the boxes of the marker-mode views in the view index,
	// what a pull tests a batch against, and layers the layers the
	// connection sees: both guarded by s.mu, as views, and read by the
	// pull as views are (rather than the views and their parts).
	pullBoxes []geo.Box
	pullBox   [1]geo.Box // pullBoxes' memory while it has one box
	layers    layerSet
	w         outbox.Writer // watched by s.writes
	sockw     sockWriter    // sock's memory

	ws     *websocket.Conn
	remote string
	ticket *ticket // its place in the admission counts

	// req is the upgrade request, for Authorize at hello and refresh;
	// nil without Authorize, which is the only one to read it.
	req *http.Request
	// frameLimit is the largest frame sent to the client: the server's
	// limit, or the client's from its hello when smaller.
	frameLimit int
	// declutter: the client asked (Hello.Declutter) that its views below
	// wire.DeclutterMaxZoom be in cluster mode under the budget too.
	declutter bool

	grant      auth.Grant // guarded by s.mu: what the client may read; set by the handshake and refreshes
	restricted bool       // guarded by s.mu: grant.Box is set; views are clipped to it (see grant.go)

	// The expiry timer, made at most once, closes the connection with
	// 4402 at expiresAt (Unix ns).
	expiryMu  sync.Mutex
	expiry    *time.Timer // guarded by expiryMu
	expiresAt atomic.Int64

	views        []view   // guarded by s.mu
	asked        []string // guarded by s.mu: the layers the client asked for; empty: all the grant allows
	layerKey     string   // guarded by s.mu: names layers, see layerKey
	clusterGroup string   // guarded by s.mu: names layers and grant box: connections with one see the same clusters
	hadView      bool     // guarded by s.mu: the next ViewAck is not the first

	// Owned by the reader goroutine.
	tokens      float64
	lastRefill  time.Time
	refused     int
	windowStart time.Time
	bad         int

	closeOnce sync.Once
}

// init makes c, made with its server and its socket's writer, the
// connection of ws, once it is upgraded.
func (c *conn) init(ws *websocket.Conn, remote string) {
	s := c.s
	c.ws, c.remote = ws, remote
	c.out.Limit = s.opts.OutboxBytes
	c.out.Fill = c.fill
	s.writes.Watch(&c.w, ws)
	c.tokens = float64(s.opts.ViewBurst)
	ws.SetReadLimit(s.opts.MaxFrameBytes)
}

// debug logs msg about the connection at the debug level. The connection
// keeps no logger of its own (slog's With would allocate one for each).
func (c *conn) debug(msg string, args ...any) {
	if c.s.log.Enabled(context.Background(), slog.LevelDebug) {
		c.s.log.Debug(msg, append([]any{"remote", c.remote}, args...)...)
	}
}

// serve runs the connection: hello, then messages until the client leaves.
//
// The reader's stack is what an idle connection keeps longest: a
// goroutine's stack grows to the deepest call it made and the runtime
// halves it only while less than a quarter is in use, which a reader
// parked in a read never is. So the read waits in small frames: its
// context has no Done (no registration per read, closing the WebSocket
// ends a read), the hello is read before the frame that checks it
// (greet) is on the stack, and serve keeps little in its own
// (TestIdleReaderStack).
func (c *conn) serve() {
	err := c.handshake()
	if err != nil {
		c.debug("handshake failed", "err", err)
		c.leave()
		return
	}
	err = c.readLoop()
	c.leave()
	c.ended(err)
}

// ended logs why a greeted connection ended.
func (c *conn) ended(err error) {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.debug("client closed", "code", ce.Code, "reason", ce.Reason)
	case err != nil && !errors.Is(err, errClosed):
		c.debug("connection ended", "err", err)
	}
}

// handshake reads the Hello and answers with a Welcome (greet).
func (c *conn) handshake() error {
	typ, frame, err := c.readHello()
	if err != nil {
		return err
	}
	return c.greet(typ, frame)
}

// readHello reads the first message, closing the connection with 4000 if
// none comes within HelloTimeout.
func (c *conn) readHello() (websocket.MessageType, []byte, error) {
	// A timer, not a deadline on the read: a read whose context ends
	// drops the connection, and the client would see 1006, not 4000.
	timeout := time.AfterFunc(c.s.opts.HelloTimeout, c.noHello)
	typ, frame, err := c.ws.Read(context.Background())
	timeout.Stop()
	return typ, frame, err
}

// noHello closes a connection that sent no hello in time.
func (c *conn) noHello() {
	c.turnAway(refusedBadHello, fmt.Sprintf("no hello within %v", c.s.opts.HelloTimeout))
	c.close(wire.CloseHelloRequired, fmt.Sprintf("no hello within %v", c.s.opts.HelloTimeout))
}

// greet checks the first message, a frame of type typ, as a Hello and
// answers it with a Welcome, or closes the connection.
func (c *conn) greet(typ websocket.MessageType, frame []byte) error {
	if typ != websocket.MessageBinary {
		c.turnAway(refusedBadHello, "a text frame instead of the hello")
		c.close(websocket.StatusUnsupportedData, "frames must be binary MessagePack")
		return errClosed
	}
	msg, err := wire.Unmarshal(frame)
	hello, ok := msg.(wire.Hello)
	if err != nil || !ok {
		reason := "the first message must be a hello"
		if err != nil {
			reason += ": " + err.Error()
		}
		c.turnAway(refusedBadHello, reason)
		c.close(wire.CloseHelloRequired, reason)
		return errClosed
	}
	if hello.Version != wire.Version {
		c.turnAway(refusedBadHello, fmt.Sprintf("protocol version %d", hello.Version))
		c.close(wire.CloseUnsupportedVersion, fmt.Sprintf("protocol version %d is not supported; this server speaks %d", hello.Version, wire.Version))
		return errClosed
	}
	if err := wire.ValidateLayers(hello.Layers); err != nil {
		c.turnAway(refusedBadHello, err.Error())
		c.close(wire.CloseHelloRequired, err.Error())
		return errClosed
	}
	var g auth.Grant
	if authorize := c.s.opts.Authorize; authorize != nil {
		var err error
		if g, err = authorize(c.req, hello.Token); err != nil {
			c.turnAway(refusedBadToken, err.Error())
			c.close(wire.CloseUnauthorized, "unauthorized: "+err.Error())
			return errClosed
		}
		if g.Expired(time.Now()) {
			c.close(wire.CloseTokenExpired, "token expired at "+g.Expires.UTC().Format(time.RFC3339))
			return errClosed
		}
	}
	layers, key, err := grantedLayers(&g, hello.Layers)
	if err != nil {
		c.close(wire.CloseForbidden, "forbidden: "+err.Error())
		return errClosed
	}
	c.frameLimit = c.s.opts.MaxSendFrameBytes
	c.declutter = hello.Declutter
	if hello.MaxFrameBytes > 0 {
		c.frameLimit = min(c.frameLimit, max(hello.MaxFrameBytes, wire.MinFrameBytes))
	}
	if err := c.s.admit(c.ticket); err != nil {
		c.turnAway(refusedServerFull, err.Error())
		c.close(websocket.StatusTryAgainLater, err.Error())
		return errClosed
	}
	// Register before the Welcome: once the client is greeted, Stats and
	// Shutdown must see it. A Shutdown that listed the connections before
	// this one registered is caught by the closing check.
	s := c.s
	s.mu.Lock()
	c.setGrantLocked(g, layers, key)
	c.asked = hello.Layers
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.armExpiry()
	if s.closing.Load() {
		c.turnAway(refusedShuttingDown, "the server is shutting down")
		c.close(websocket.StatusGoingAway, "server shutting down")
		return errClosed
	}
	o := s.opts
	welcome, err := wire.Marshal(wire.Welcome{Version: wire.Version, Budget: o.Budget, MaxViews: o.MaxViews,
		ViewRate: o.ViewRate, ViewBurst: o.ViewBurst, MaxFrameBytes: int(o.MaxFrameBytes), ClusterZoom: o.ClusterZoom})
	if err != nil {
		return err
	}
	// Written here, outside any writer: none can start before the
	// client has a view.
	if err := c.write(welcome); err != nil {
		return err
	}
	c.debug("client connected", "layers", hello.Layers)
	return nil
}

func (c *conn) readLoop() error {
	dec := wire.NewServerDecoder()
	for {
		typ, frame, err := c.ws.Read(context.Background())
		if err != nil {
			return err
		}
		if typ != websocket.MessageBinary {
			c.close(websocket.StatusUnsupportedData, "frames must be binary MessagePack")
			return errClosed
		}
		msg, err := dec.Decode(frame)
		if err == nil {
			err = c.handle(msg)
		}
		if err == nil {
			continue
		}
		var we wire.Error
		if !errors.As(err, &we) {
			return err
		}
		c.bad++
		if c.bad > badMessageLimit {
			c.turnAway(refusedBadMessages, fmt.Sprintf("more than %d refused messages; last: %v", badMessageLimit, we.Message))
			c.close(websocket.StatusPolicyViolation, fmt.Sprintf("more than %d refused messages; last: %v", badMessageLimit, we.Message))
			return errClosed
		}
		c.refuse(we)
	}
}

// handle applies one message from the client. A wire.Error it returns is
// sent back to the client; other errors end the connection.
func (c *conn) handle(msg wire.Message) error {
	switch m := msg.(type) {
	case wire.View:
		if err := m.Validate(); err != nil {
			return err
		}
		if err := c.allowViewChange(); err != nil {
			return err
		}
		return c.s.setView(c, m)
	case wire.Unview:
		if err := c.allowViewChange(); err != nil {
			return err
		}
		return c.s.unview(c, m.ID)
	case wire.Layers:
		if err := wire.ValidateLayers(m.Layers); err != nil {
			return err
		}
		if err := c.allowViewChange(); err != nil {
			return err
		}
		return c.s.setLayers(c, m.Layers)
	case wire.Refresh:
		if err := c.allowViewChange(); err != nil {
			return err
		}
		return c.refresh(m.Token)
	case wire.Hello:
		return wire.Error{Code: wire.CodeBadHello, Message: "hello was already received"}
	}
	return wire.Error{Code: wire.CodeUnknownType, Message: fmt.Sprintf("a client may not send %v messages", msg.Type())}
}

// allowViewChange spends one token of the connection's view-change bucket.
// Without one, it refuses the change; a client refused too often within
// floodWindow is closed with 4003.
func (c *conn) allowViewChange() error {
	o := c.s.opts
	now := time.Now()
	if !c.lastRefill.IsZero() {
		c.tokens += now.Sub(c.lastRefill).Seconds() * o.ViewRate
		c.tokens = min(c.tokens, float64(o.ViewBurst))
	}
	c.lastRefill = now
	if c.tokens >= 1 {
		c.tokens--
		return nil
	}
	if now.Sub(c.windowStart) > floodWindow {
		c.windowStart, c.refused = now, 0
	}
	c.refused++
	if limit := max(100, 5*o.ViewBurst); c.refused > limit {
		c.turnAway(refusedViewFlood, fmt.Sprintf("more than %d view changes refused within %v", limit, floodWindow))
		c.close(wire.CloseViewFlood, fmt.Sprintf("more than %d view changes refused within %v: slow down to %g/s", limit, floodWindow, o.ViewRate))
		return errClosed
	}
	c.bad-- // a rate refusal is not a bad message
	c.turnAway(refusedRateLimited, fmt.Sprintf("view changes over %g/s with bursts of %d", o.ViewRate, o.ViewBurst))
	return wire.Error{Code: wire.CodeRateLimited, Message: fmt.Sprintf("view changes allowed at %g/s with bursts of %d; this one was ignored", o.ViewRate, o.ViewBurst)}
}

// write writes one frame to the client, counting it.
func (c *conn) write(frame []byte) error {
	if err := c.w.Write(frame); err != nil {
		return err
	}
	c.s.counters.frames.Add(1)
	c.s.counters.bytesWritten.Add(int64(len(frame)))
	return nil
}

// turnAway counts and logs a refusal of the client: see Server.refuse.
func (c *conn) turnAway(why refusal, detail string) { c.s.refuse(why, c.remote, detail) }

// refuse sends an Error message, in order with the rest of the stream.
func (c *conn) refuse(we wire.Error) {
	frame, err := wire.Marshal(we)
	if err != nil {
		return
	}
	c.reply(frame)
}

// reply queues the frames of one reply, in order with the rest of the
// stream. The frames of a split reply must be queued with s.mu held, so
// that no op comes between them.
func (c *conn) reply(frames ...[]byte) {
	if c.out.Reply(frames...) {
		c.startWriter()
	}
}

// leave removes c from the server and stops its writer.
func (c *conn) leave() {
	s := c.s
	s.mu.Lock()
	c.dropPulls()
	for i := range c.views {
		s.leaveClusterSetLocked(c, &c.views[i])
		s.unindexView(&c.views[i])
	}
	c.views = nil
	c.pullBoxes = nil
	delete(s.conns, c)
	s.mu.Unlock()
	c.stopExpiry()
	c.out.Close()
	c.w.Close()
	c.ws.CloseNow()
}

// close closes the connection with code and reason, once.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.debug("closing connection", "code", code, "reason", reason)
		if len(reason) > 120 { // a close reason must fit in a control frame
			reason = reason[:120]
		}
		// Close ends the reader's read too: it closes the socket once
		// the closing handshake is over (or after 5 s without it).
		c.ws.Close(code, reason)
	})
}

// startWriter starts the goroutine that drains the outbox. The outbox
// reported that none is running.
func (c *conn) startWriter() {
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.writeLoop()
	}()
}

// maxBatchBytes caps the size of one batch frame written from the outbox.
const maxBatchBytes = 64 << 10

// resetsBeforeClose is how many resets without the outbox once running
// empty (the writer goroutine lives exactly that long) make the server give
// up on a client and close it with 4002.
const resetsBeforeClose = 3

// errGaveUp ends a writer that closed its client for being too slow.
var errGaveUp = errors.New("client too slow")

func (c *conn) writeLoop() {
	resets := 0
	err := c.out.Drain(c.write, maxBatchBytes, func() error {
		resets++
		if resets > resetsBeforeClose {
			c.closeTooSlow("client too slow: fell behind after " + fmt.Sprint(resetsBeforeClose) + " resets")
			return errGaveUp
		}
		c.s.counters.resets.Add(1)
		// The lock may be held by a batch being applied: a pool worker
		// hands the rest of its batch off first.
		c.handOff()
		c.s.mu.Lock()
		c.dropPulls() // the reset's state holds them
		c.out.Replace(c.s.resetFramesLocked(c, wire.FlagBehind)...)
		c.s.mu.Unlock()
		return nil
	})
	if errors.Is(err, outbox.ErrRepliesOverLimit) {
		// Every request gets its reply; one that asks faster than it
		// reads cannot be kept.
		c.closeTooSlow("client too slow: its unread replies fill the outbox")
		return
	}
	if err != nil && err != errGaveUp {
		c.writeFailed(err)
	}
}

// closeTooSlow closes c, whose writer gives up on it. The closing handshake
// may wait for a client that does not read (up to 5 s): a pool worker
// hands the rest of its batch off first.
func (c *conn) closeTooSlow(reason string) {
	c.s.counters.tooSlow.Add(1)
	c.out.Close()
	c.handOff()
	c.close(wire.CloseTooSlow, reason)
}

// handOff has the pool worker writing c, if any, start another for the
// rest of its batch: c's writer is about to wait.
func (c *conn) handOff() {
	if c.sock != nil {
		c.sock.wouldBlock()
	}
}

// writeFailed ends a connection whose write failed. One that timed out was
// closed by its Writer, without a closing handshake: its client was not
// reading.
func (c *conn) writeFailed(err error) {
	c.out.Close()
	if errors.Is(err, outbox.ErrWriteTimeout) {
		c.s.counters.tooSlow.Add(1)
		c.debug("write timed out; connection closed", "err", err)
	} else {
		c.debug("write failed", "err", err)
	}
	c.ws.CloseNow()
}
