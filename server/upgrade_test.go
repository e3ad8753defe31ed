package server_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/internal/wsframe"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// upgradeRequest returns a WebSocket opening handshake's request to host,
// as a client written by hand sends it.
func upgradeRequest(host string) string {
	return "GET / HTTP/1.1\r\nHost: " + host + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
}

// clientFrame returns payload as one masked binary WebSocket frame, as a
// client sends it.
func clientFrame(payload []byte) []byte {
	f := wsframe.AppendHeader(nil, 0x82, len(payload), true) // FIN, binary
	key := [4]byte{1, 2, 3, 4}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// TestEarlyHello: a client that sends its Hello (and a View larger than
// the server's read buffer) in the same packet as the upgrade request,
// before the 101 answer, loses nothing: the bytes net/http read past the
// request are handed to the WebSocket.
func TestEarlyHello(t *testing.T) {
	_, url := servertest.StartServer(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	hello, _ := wire.Marshal(wire.Hello{Version: wire.Version, Token: strings.Repeat("t", 700)})
	req := upgradeRequest(strings.TrimPrefix(url, "ws://"))
	if _, err := conn.Write(append([]byte(req), clientFrame(hello)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	readUpgraded(t, br)
	h, payload := readServerFrame(t, br)
	if h.B0 != 0x82 {
		t.Fatalf("first frame %+v %q, want a binary Welcome", h, payload)
	}
	msg, err := wire.Unmarshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := msg.(wire.Welcome); !ok {
		t.Fatalf("got %#v, want a Welcome", msg)
	}
}
