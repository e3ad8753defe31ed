//go:build !(js && wasm)

package wasmclient

import (
	"context"
	"errors"

	"github.com/coder/websocket"
)

// nativeConn is a coder/websocket connection.
type nativeConn struct{ ws *websocket.Conn }

func dial(ctx context.Context, url string, readLimit int64) (conn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(readLimit)
	return nativeConn{ws}, nil
}

func (c nativeConn) Read(ctx context.Context) ([]byte, error) {
	_, frame, err := c.ws.Read(ctx)
	return frame, err
}

func (c nativeConn) Write(ctx context.Context, frame []byte) error {
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

func (c nativeConn) Close(code int, reason string) {
	c.ws.Close(websocket.StatusCode(code), reason)
}

func (c nativeConn) CloseNow() { c.ws.CloseNow() }

// closeStatus returns the close code and reason err carries, or 0 and its
// text.
func closeStatus(err error) (code int, reason string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return 0, err.Error()
}
