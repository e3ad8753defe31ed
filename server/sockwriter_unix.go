//go:build unix

package server

import (
	"io"
	"net"
	"syscall"
)

// rawConnOf returns nc's raw connection, or nil when it has none.
func rawConnOf(nc net.Conn) rawWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// writeFD writes what is left of s.p to fd; it returns false to wait until
// the socket takes more, after handing off the worker's batch.
func (s *sockWriter) writeFD(fd uintptr) bool {
	for s.n < len(s.p) {
		k, err := syscall.Write(int(fd), s.p[s.n:])
		if k > 0 {
			s.n += k
		}
		switch err {
		case nil:
			if k == 0 {
				s.err = io.ErrUnexpectedEOF
				return true
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			s.wouldBlock()
			return false
		default:
			s.err = err
			return true
		}
	}
	return true
}
