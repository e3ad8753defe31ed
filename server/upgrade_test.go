package server_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// clientFrame returns payload as one masked binary WebSocket frame, as a
// client sends it.
func clientFrame(payload []byte) []byte {
	f := []byte{0x82}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
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
	req := "GET / HTTP/1.1\r\nHost: " + strings.TrimPrefix(url, "ws://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), clientFrame(hello)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s", resp.Status)
	}
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatal(err)
	}
	n := int(head[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if head[0] != 0x82 {
		t.Fatalf("first frame %x %q, want a binary Welcome", head, payload)
	}
	msg, err := wire.Unmarshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := msg.(wire.Welcome); !ok {
		t.Fatalf("got %#v, want a Welcome", msg)
	}
}
