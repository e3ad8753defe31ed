package wasmclient

// conn is one WebSocket connection as the client uses it: binary messages
// in and out, and a close with a code. Natively it is coder/websocket
// (conn_native.go); in the browser it is the browser's own WebSocket through
// syscall/js (conn_js.go), the only file of the package that touches
// JavaScript besides the bindings. coder/websocket's js build would bring
// net/http with it, which was most of the .wasm.
type conn interface {
	// Read returns the next message, or the error that ended the
	// connection, from which closeStatus reads the close code and reason
	// (natively a websocket.CloseError, which callers of Dial may look
	// for).
	Read(ctx signal) ([]byte, error)
	// Write sends frame as one binary message.
	Write(ctx signal, frame []byte) error
	// Close closes with code and reason (the close handshake is not
	// awaited in the browser, which does it by itself).
	Close(code int, reason string)
	// CloseNow drops the connection at once.
	CloseNow()
}

// Close codes the client sends.
const (
	closeNormal        = 1000
	closeProtocolError = 1002
)

// wrapError is fmt.Errorf("pushmap: <msg>: %w", err), without fmt, which
// the browser build leaves out.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string {
	if e.err == nil {
		return "pushmap: " + e.msg
	}
	return "pushmap: " + e.msg + ": " + e.err.Error()
}
func (e *wrapError) Unwrap() error { return e.err }

func wrapf(msg string, err error) error { return &wrapError{msg, err} }
