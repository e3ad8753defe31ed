//go:build !unix

package server

import "net"

// rawConnOf returns nil: outside Unix, writes go through the connection's
// own Write, each busy connection on a writer goroutine of its own.
func rawConnOf(net.Conn) rawWriter { return nil }

func (s *sockWriter) writeFD(uintptr) bool { return true }
