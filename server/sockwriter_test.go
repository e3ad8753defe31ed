package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

// TestSockWriterFrames: WriteMessage frames each message as one final,
// unmasked binary frame with the length in the form RFC 6455 asks for
// (7 bits, 16 bits from 126 bytes, 64 bits from 65,536), the payload
// intact; a Write (the library's flush) that begins a close frame ends
// the messages: the next WriteMessage writes nothing and returns
// net.ErrClosed, while a control frame after it still goes out.
func TestSockWriterFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	s := new(sockWriter)
	if !s.init(server) {
		t.Fatal("no sockWriter for a TCP connection")
	}
	readFrame := func() (head byte, payload []byte) {
		t.Helper()
		var h [2]byte
		if _, err := io.ReadFull(client, h[:]); err != nil {
			t.Fatal(err)
		}
		if h[1]&0x80 != 0 {
			t.Fatalf("frame %x is masked", h)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(client, l[:])
			n = uint64(binary.BigEndian.Uint16(l[:]))
			if n < 126 {
				t.Fatalf("length %d in 16 bits", n)
			}
		case 127:
			var l [8]byte
			io.ReadFull(client, l[:])
			n = binary.BigEndian.Uint64(l[:])
			if n <= 0xffff {
				t.Fatalf("length %d in 64 bits", n)
			}
		}
		payload = make([]byte, n)
		if _, err := io.ReadFull(client, payload); err != nil {
			t.Fatal(err)
		}
		return h[0], payload
	}
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 200_000} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		done := make(chan error, 1)
		go func() { done <- s.WriteMessage(msg) }() // a large one waits for the reader
		head, payload := readFrame()
		if err := <-done; err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if head != 0x82 || !bytes.Equal(payload, msg) {
			t.Fatalf("%d bytes: head %#x, payload of %d bytes (equal %v); want 0x82 and the message", n, head, len(payload), bytes.Equal(payload, msg))
		}
	}
	closeFrame := []byte{0x88, 2, 0x03, 0xe8} // 1000, as the library writes it
	if _, err := s.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if head, payload := readFrame(); head != 0x88 || !bytes.Equal(payload, closeFrame[2:]) {
		t.Fatalf("close frame read as %#x %x", head, payload)
	}
	if err := s.WriteMessage([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a message after the close frame: %v, want net.ErrClosed", err)
	}
	pong := []byte{0x8a, 0}
	if _, err := s.Write(pong); err != nil {
		t.Fatal(err)
	}
	if head, _ := readFrame(); head != 0x8a {
		t.Fatalf("after the close frame the next frame is %#x, want the pong (the message was not written)", head)
	}
}
