package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pushmap/pushmap/internal/wsframe"
)

// The generator's WebSocket clients use this lean client rather than
// coder/websocket's (which the servers use): a client only reads whole
// binary messages on one goroutine and writes a few small ones, and on
// the cores it shares with the server under test the library's read path
// (a channel-based lock, a message reader, two reads through it per
// message) cost about a fifth of the generator's CPU per frame above the
// read system call itself. It speaks RFC 6455 without extensions: the
// opening handshake, masked frames out, unmasked frames in, fragments
// joined, pings answered, a close frame ends the reading. It is used for
// every WebSocket approach alike.

// A wsConn is a client WebSocket connection.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader

	wmu  sync.Mutex // guards wbuf and writes to conn
	wbuf []byte
}

// errWSClosed is returned by read after the server's close frame.
var errWSClosed = errors.New("websocket: closed by the server")

// dialWS opens a WebSocket to rawURL (ws://host:port/path) over a
// connection from dial.
func dialWS(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: %q: want a ws:// URL", rawURL)
	}
	conn, err := dial(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		u.RequestURI(), u.Host, key)
	c := &wsConn{conn: conn, br: bufio.NewReader(conn)}
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: reading the handshake's answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsframe.AcceptKey(key) {
		conn.Close()
		return nil, fmt.Errorf("websocket: handshake answered %s (Sec-WebSocket-Accept %q)", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// Opcodes of RFC 6455 section 5.2.
const (
	wsBinary = 0x2
	wsClose  = 0x8
	wsPing   = 0x9
)

// read reads the next data message (text or binary) into buf[:0] and
// returns it, answering pings on the way. A server's close frame ends it
// with errWSClosed.
func (c *wsConn) read(buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		h, err := wsframe.ReadHeader(c.br)
		if err != nil {
			return buf, err
		}
		fin, opcode := h.Fin(), h.Opcode()
		if h.Size > 1<<31 {
			return buf, fmt.Errorf("websocket: a frame of %d bytes", h.Size)
		}
		start := len(buf) // a control frame may come between fragments
		buf = append(buf, make([]byte, h.Size)...)
		p := buf[start:]
		if _, err := io.ReadFull(c.br, p); err != nil {
			return buf, err
		}
		if h.Masked {
			for i := range p {
				p[i] ^= h.Mask[i&3]
			}
		}
		switch {
		case opcode == wsClose:
			return buf[:start], errWSClosed
		case opcode == wsPing:
			err := c.writeFrame(0x8a, p) // pong
			buf = buf[:start]
			if err != nil {
				return buf, err
			}
			continue
		case opcode > wsClose: // pong
			buf = buf[:start]
			continue
		}
		if fin {
			return buf, nil
		}
		// Not the last fragment: the next data frame continues it.
	}
}

// write sends p as one binary message, in one frame and one write.
func (c *wsConn) write(ctx context.Context, p []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		c.wmu.Lock()
		c.conn.SetWriteDeadline(dl)
		c.wmu.Unlock()
		defer func() {
			c.wmu.Lock()
			c.conn.SetWriteDeadline(time.Time{})
			c.wmu.Unlock()
		}()
	}
	return c.writeFrame(0x80|wsBinary, p)
}

// writeFrame writes one final frame whose first byte is b0, masked as a
// client's frames are.
func (c *wsConn) writeFrame(b0 byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := wsframe.AppendHeader(c.wbuf[:0], b0, len(p), true)
	var mask [4]byte
	rand.Read(mask[:])
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range b[start:] {
		b[start+i] ^= mask[i&3]
	}
	c.wbuf = b
	_, err := c.conn.Write(b)
	return err
}

// close closes the connection at once, without a closing handshake.
func (c *wsConn) close() error { return c.conn.Close() }
