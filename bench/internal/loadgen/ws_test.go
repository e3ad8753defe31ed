package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWSConnWithLibrary checks the generator's WebSocket client against
// the servers' library, coder/websocket: the handshake, a masked message
// the server reads, a 70 KB message (a 64-bit length) read whole, and a
// ping answered while reading (the server's Ping returns only on a pong).
func TestWSConnWithLibrary(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 7000)
	served := make(chan error, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			served <- err
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		_, b, err := c.Read(ctx)
		if err == nil && string(b) != "hello" {
			err = fmt.Errorf("server read %q, want hello", b)
		}
		if err == nil {
			err = c.Write(ctx, websocket.MessageBinary, big)
		}
		if err == nil {
			c.CloseRead(ctx) // reads the pong below
			err = c.Ping(ctx)
		}
		if err == nil {
			err = c.Write(ctx, websocket.MessageBinary, []byte("after the ping"))
		}
		served <- err
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialWS(ctx, (&net.Dialer{}).DialContext, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.write(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf, err := c.read(nil)
	if err != nil || !bytes.Equal(buf, big) {
		t.Fatalf("read %d bytes (%v), want the %d-byte message", len(buf), err, len(big))
	}
	// Reading on answers the ping that comes before the next message.
	buf, err = c.read(buf)
	if err != nil || string(buf) != "after the ping" {
		t.Fatalf("read %q (%v), want the message after the ping", buf, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
}

// TestWSConnFragmentsAndClose checks, against a hand-written server on a
// real TCP connection, that a message in fragments comes back whole with
// a ping between them answered by a masked pong, and that a close frame
// ends reading with errWSClosed.
func TestWSConnFragmentsAndClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pong := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		conn.Write([]byte{0x02, 3, 'a', 'b', 'c'}) // binary, not final
		conn.Write([]byte{0x89, 2, 'p', 'i'})      // ping
		conn.Write([]byte{0x80, 2, 'd', 'e'})      // continuation, final
		// The pong: final, opcode 10, masked, 2 bytes.
		h := make([]byte, 8)
		if _, err := io.ReadFull(br, h); err == nil {
			for i := range 2 {
				h[6+i] ^= h[2+i&3]
			}
			pong <- h
		}
		conn.Write([]byte{0x88, 2, 0x03, 0xe8}) // close, 1000
		io.Copy(io.Discard, br)                 // until the client is done
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialWS(ctx, (&net.Dialer{}).DialContext, "ws://"+ln.Addr().String()+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	buf, err := c.read(nil)
	if err != nil || string(buf) != "abcde" {
		t.Fatalf("read %q (%v), want the fragments joined: abcde", buf, err)
	}
	select {
	case h := <-pong:
		if h[0] != 0x8a || h[1] != 0x82 || string(h[6:]) != "pi" {
			t.Errorf("pong frame % x, want 8a 82, a mask and \"pi\" masked", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	if _, err := c.read(buf); !errors.Is(err, errWSClosed) {
		t.Errorf("read after a close frame: %v, want errWSClosed", err)
	}
}

// BenchmarkClientRead compares two ways for the generator to read the
// server's frames, on real loopback connections, each client on a
// goroutine of its own: coder/websocket's Reader and the lean wsConn. As
// in the fleet, each round writes one
// 200-byte frame (about 8 ops) to each of 500 connections, one after
// another, and waits until every client has read its own; ns/op and
// cpu-ns/op are per frame, and cpu-ns/op is this process's CPU: the
// writing side is the same for both.
func BenchmarkClientRead(b *testing.B) {
	const conns = 500
	frame := append([]byte{0x82, 126, 0, 200}, bytes.Repeat([]byte{0x90}, 200)...)
	for _, name := range []string{"library", "lean"} {
		b.Run(name, func(b *testing.B) {
			accepted := make(chan net.Conn, conns)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					base64.StdEncoding.EncodeToString(sum[:]))
				rw.Flush()
				accepted <- conn
			}))
			defer hs.Close()
			ctx := context.Background()
			url := "ws" + strings.TrimPrefix(hs.URL, "http")
			var got sync.WaitGroup // frames of the round not yet read
			var closers []func()
			defer func() {
				for _, c := range closers {
					c()
				}
			}()
			var readers sync.WaitGroup
			for range conns {
				switch name {
				case "library":
					c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
					if err != nil {
						b.Fatal(err)
					}
					c.SetReadLimit(-1)
					readers.Go(func() {
						var buf []byte
						for {
							_, rd, err := c.Reader(ctx)
							if err == nil {
								buf, err = readAll(buf[:0], rd)
							}
							if err != nil {
								return
							}
							got.Done()
						}
					})
					closers = append([]func(){func() { c.CloseNow() }}, closers...)
				default:
					c, err := dialWS(ctx, (&net.Dialer{}).DialContext, url)
					if err != nil {
						b.Fatal(err)
					}
					closers = append([]func(){func() { c.close() }}, closers...)
					readers.Go(func() {
						var buf []byte
						for {
							var err error
							if buf, err = c.read(buf); err != nil {
								return
							}
							got.Done()
						}
					})
				}
			}
			servers := make([]net.Conn, conns)
			for i := range servers {
				servers[i] = <-accepted
			}
			defer readers.Wait()
			for _, c := range servers {
				defer c.Close()
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for range b.N {
				got.Add(conns)
				for _, c := range servers {
					if _, err := c.Write(frame); err != nil {
						b.Fatal(err)
					}
				}
				got.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*conns), "cpu-ns/op")
			b.ReportMetric(float64(b.Elapsed())/float64(b.N*conns), "ns/frame")
		})
	}
}

// processCPU returns the CPU time this process used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
