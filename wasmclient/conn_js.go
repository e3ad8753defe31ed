//go:build js && wasm

package wasmclient

import (
	"errors"
	"strconv"
	"sync"
	"syscall/js"
)

// jsConn is the browser's WebSocket. Its event handlers run on the
// JavaScript thread and must not block: they queue what they saw and wake
// the reader.
type jsConn struct {
	ws    js.Value
	funcs []js.Func // the handlers, released when closed
	limit int

	mu     sync.Mutex
	queue  [][]byte    // guarded by mu: messages not read yet
	closed *closeError // guarded by mu: set once the socket closed
	wake   chan struct{}
	opened chan struct{}
	done   chan struct{} // closed with closed
}

func dial(ctx signal, url string, readLimit int64) (conn, error) {
	c := &jsConn{limit: int(readLimit), wake: make(chan struct{}, 1), opened: make(chan struct{}), done: make(chan struct{})}
	var ws js.Value
	if err := catch(func() { ws = js.Global().Get("WebSocket").New(url) }); err != nil {
		return nil, err // a malformed URL throws a SyntaxError
	}
	c.ws = ws
	ws.Set("binaryType", "arraybuffer")
	c.on("open", func(js.Value) { close(c.opened) })
	c.on("message", func(ev js.Value) {
		data := ev.Get("data")
		if data.Type() == js.TypeString {
			c.fail(closeProtocolError, "text message from the server")
			return
		}
		arr := js.Global().Get("Uint8Array").New(data)
		n := arr.Length()
		if n > c.limit {
			c.fail(1009, "message of "+strconv.Itoa(n)+" bytes, more than the "+strconv.Itoa(c.limit)+" the client reads")
			return
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, arr)
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		c.signal()
	})
	c.on("close", func(ev js.Value) {
		c.ended(&closeError{Code: ev.Get("code").Int(), Reason: ev.Get("reason").String()})
	})
	select {
	case <-c.opened:
		return c, nil
	case <-c.done:
		if c.closed.Code == 1006 && c.closed.Reason == "" {
			// All a page learns of a refused upgrade or a server that is
			// down: say what it may be.
			return nil, &closeError{Code: 1006, Reason: "the connection failed before it opened: the server is " +
				"unreachable, or it refused the upgrade (HTTP 403 when the page's origin is not in its --origins)"}
		}
		return nil, c.closed
	case <-ctx.Done():
		c.CloseNow()
		return nil, ctx.Err()
	}
}

func (c *jsConn) on(event string, f func(js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		f(args[0])
		return nil
	})
	c.funcs = append(c.funcs, fn)
	c.ws.Set("on"+event, fn)
}

func (c *jsConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ended records how the socket closed, once, and releases the handlers.
func (c *jsConn) ended(e *closeError) {
	c.mu.Lock()
	if c.closed != nil {
		c.mu.Unlock()
		return
	}
	c.closed = e
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	close(c.done)
	c.signal()
	// No handler may run once released: detach them first.
	for _, event := range [...]string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(event, js.Null())
	}
	for _, fn := range funcs {
		fn.Release()
	}
}

// fail closes the socket from this side for a reason of the client's.
func (c *jsConn) fail(code int, reason string) {
	c.Close(code, reason)
	c.ended(&closeError{Code: code, Reason: reason})
}

func (c *jsConn) Read(ctx signal) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return b, nil
		}
		closed := c.closed
		c.mu.Unlock()
		if closed != nil {
			return nil, closed
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *jsConn) Write(_ signal, frame []byte) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed != nil {
		return closed
	}
	arr := js.Global().Get("Uint8Array").New(len(frame))
	js.CopyBytesToJS(arr, frame)
	return catch(func() { c.ws.Call("send", arr) })
}

// Close closes with code and reason; the browser allows only 1000 and
// 3000–4999 from a page, so other codes are sent as 1000.
func (c *jsConn) Close(code int, reason string) {
	if code != closeNormal && (code < 3000 || code > 4999) {
		code = closeNormal
	}
	if len(reason) > 123 { // the protocol's limit on a close reason
		reason = reason[:123]
	}
	_ = catch(func() { c.ws.Call("close", code, reason) })
}

func (c *jsConn) CloseNow() {
	_ = catch(func() { c.ws.Call("close") })
	c.ended(&closeError{Code: 1006, Reason: "closed by the client"})
}

// catch runs f and returns what it threw as an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = errors.New(je.Error())
				return
			}
			err = errors.New("JavaScript threw")
		}
	}()
	f()
	return nil
}

// closeError is how a connection ended: the close code and reason the
// server sent, or 1006 when it failed without one (refused, unreachable,
// dropped: the browser does not tell which).
type closeError struct {
	Code   int
	Reason string
}

func (e *closeError) Error() string {
	if e.Reason == "" {
		return "websocket closed with status " + strconv.Itoa(e.Code)
	}
	return "websocket closed with status " + strconv.Itoa(e.Code) + ": " + e.Reason
}

// closeStatus returns the close code and reason err carries, or 0 and its
// text.
func closeStatus(err error) (code int, reason string) {
	for e := err; e != nil; e = unwrap(e) {
		if ce, ok := e.(*closeError); ok {
			return ce.Code, ce.Reason
		}
	}
	return 0, err.Error()
}

// unwrap is errors.Unwrap. The browser build walks error chains by hand:
// errors.As would link internal/reflectlite's type comparisons, about
// 12 KB of brotli.
func unwrap(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}
