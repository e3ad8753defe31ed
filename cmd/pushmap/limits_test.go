package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wasmclient"
)

// closedWithin reports whether the server closes c within guard (a bound
// on a hung test, not a measure): reading ends with EOF or a reset rather
// than the guard's timeout. It discards what the server sends first.
func closedWithin(t *testing.T, c net.Conn, guard time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func dialTCP(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHTTPTimeouts: slow or idle HTTP clients are cut off by the HTTP
// server's timeouts (before, none but the header timeout existed: twenty
// slow readers pinned 300 MB, idle keep-alives stayed open forever), while
// a WebSocket, which takes its connection over, outlives them all.
func TestHTTPTimeouts(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 64<<20) // far more than the socket buffers hold
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	const d = "300ms"
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", "k", "--web", dir,
		"--read-header-timeout", d, "--read-timeout", d, "--http-write-timeout", d, "--idle-timeout", d)
	guard := 20 * time.Second

	t.Run("websocket outlives them", func(t *testing.T) {
		ctx := context.Background()
		c, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(time.Second) // past every HTTP timeout
		if err := c.SetView(ctx, 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
			t.Fatalf("the WebSocket did not outlive the HTTP timeouts: %v", err)
		}
		time.Sleep(time.Second)
		if code := send(t, "POST", r.url+"feed/markers", "k", "application/json", `{"id": "a", "lon": 1, "lat": 1}`); code != 200 {
			t.Fatalf("POST: %d", code)
		}
		deadline := time.Now().Add(guard)
		for c.Markers()["a"].ID == "" {
			if time.Now().After(deadline) {
				t.Fatal("the marker never reached the WebSocket client")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("headers sent slowly", func(t *testing.T) {
		c := dialTCP(t, r.url)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		if !closedWithin(t, c, guard) {
			t.Fatal("a request whose headers never end is kept open")
		}
	})
	t.Run("body sent slowly", func(t *testing.T) {
		c := dialTCP(t, r.url)
		io.WriteString(c, "POST /feed/markers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"+
			"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
		if !closedWithin(t, c, guard) {
			t.Fatal("a request whose body never ends is kept open")
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialTCP(t, r.url)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /healthz: %v", err)
		}
		res.Body.Close()
		if !closedWithin(t, c, guard) {
			t.Fatal("an idle keep-alive connection is kept open")
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		c := dialTCP(t, r.url)
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
		time.Sleep(time.Second) // reads nothing, past the write timeout
		// The server gave up on the answer and let its memory go: the
		// reader gets part of it, whatever the socket buffers held, and
		// then nothing (the guard ends the read). Without the timeout it
		// would get it all.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := io.Copy(io.Discard, io.LimitReader(c, int64(len(big))))
		if n >= int64(len(big)) {
			t.Fatalf("a reader that stopped reading got all %d bytes: the answer was not cut off", n)
		}
	})
}
