package server

import (
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pushmap/pushmap/internal/wsframe"
)

// A sockWriter is the socket of a connection, written with write(2) as
// net's own Write does, but it sees when a write would block (the socket's
// send buffer is full) before it waits, and hands the rest of its batch to
// another worker (writeRun.handOff) then.
//
// It takes two kinds of writes, one at a time (mu): the server's messages,
// each framed here as one binary WebSocket frame and written with one
// write(2) (WriteMessage), and what the WebSocket library flushes from its
// small buffer (Write): only control frames (pongs, the close frame), as
// every message goes through WriteMessage. The library's per-message
// locks, channel selects and buffer copy are then spent on control frames
// only (issue 13; docs/design.md, "Messages framed by the server").
// Whole frames: the library flushes each frame it writes at its end, so a
// Write starts a frame, and no message is written once a Write began a
// close frame, as the closing handshake requires.
type sockWriter struct {
	raw rawWriter
	// blocked is the batch being written by the worker writing to this
	// socket, if any: the one to hand off when a write would block.
	blocked atomic.Pointer[writeRun]

	mu        sync.Mutex // held through a write
	closeSent bool       // guarded by mu: a close frame was written

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

// init makes s the writer of nc, and reports false when nc does not give
// access to its file descriptor (TLS, say): its writes are then made as
// before, on a goroutine of its own.
func (s *sockWriter) init(nc net.Conn) bool {
	raw := rawConnOf(nc)
	if raw == nil {
		return false
	}
	s.raw = raw
	s.fn = s.writeFD
	return true
}

// Write writes all of p, what the library flushes, waiting while the
// socket is full.
func (s *sockWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == opClose {
		s.closeSent = true
	}
	return s.write(p)
}

// The frame opcodes a sockWriter knows (RFC 6455, section 5.2).
const (
	opBinary = 0x2
	opClose  = 0x8
)

// framePool holds the buffers messages are framed in, so that an idle
// connection keeps none.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFrame is the largest frame buffer kept for reuse.
const maxPooledFrame = 64 << 10

// WriteMessage writes msg as one binary message in one frame, waiting
// while the socket is full. After a close frame it writes nothing and
// returns net.ErrClosed.
func (s *sockWriter) WriteMessage(msg []byte) error {
	buf := framePool.Get().(*[]byte)
	frame := wsframe.AppendHeader((*buf)[:0], 0x80|opBinary, len(msg), false) // FIN, unmasked
	frame = append(frame, msg...)
	s.mu.Lock()
	var err error
	if s.closeSent {
		err = net.ErrClosed
	} else {
		_, err = s.write(frame)
	}
	s.mu.Unlock()
	if cap(frame) <= maxPooledFrame {
		*buf = frame[:0]
		framePool.Put(buf)
	}
	return err
}

// write writes all of p, s.mu held.
func (s *sockWriter) write(p []byte) (int, error) {
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
