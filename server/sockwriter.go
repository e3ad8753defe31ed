package server

import (
	"io"
	"net"
	"sync/atomic"
)

// A sockWriter is what a connection's WebSocket writes its frames to (under
// its buffered writer): the socket itself, written with write(2) as net's
// own Write does, but it sees when a write would block (the socket's send
// buffer is full) before it waits, and hands the rest of its batch to
// another worker (writeRun.handOff) then. Writes are never concurrent:
// the WebSocket library holds its frame lock around them.
type sockWriter struct {
	raw rawWriter
	// blocked is the batch being written by the worker writing to this
	// socket, if any: the one to hand off when a write would block.
	blocked atomic.Pointer[writeRun]

	// The write under way, for fn.
	p   []byte
	n   int
	err error
	// fn writes p from n on to the file descriptor it is given: made once,
	// so that a write allocates no closure.
	fn func(fd uintptr) bool
}

// A rawWriter is the part of syscall.RawConn a sockWriter uses.
type rawWriter interface {
	Write(f func(fd uintptr) (done bool)) error
}

// newSockWriter returns a sockWriter for nc, or nil when nc does not give
// access to its file descriptor (TLS, say): its writes are then made as
// before, on a goroutine of its own.
func newSockWriter(nc net.Conn) *sockWriter {
	raw := rawConnOf(nc)
	if raw == nil {
		return nil
	}
	s := &sockWriter{raw: raw}
	s.fn = s.writeFD
	return s
}

// Write writes all of p, waiting while the socket is full.
func (s *sockWriter) Write(p []byte) (int, error) {
	s.p, s.n, s.err = p, 0, nil
	err := s.raw.Write(s.fn)
	n := s.n
	if err == nil {
		err = s.err
	}
	s.p, s.err = nil, nil
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// wouldBlock hands off the batch of the worker writing to this socket, if
// any, once: the worker is about to wait, and the batch's other
// connections must not wait with it.
func (s *sockWriter) wouldBlock() {
	if r := s.blocked.Swap(nil); r != nil {
		r.handOff()
	}
}
