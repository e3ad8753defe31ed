package main

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pushmap/pushmap/server"
)

// httpLimits bound the requests of the node's http.Server.
type httpLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration // the whole request, body included
	writeTimeout      time.Duration // the answer; a hijacked WebSocket clears it
	idleTimeout       time.Duration
	maxHeaderBytes    int
}

// Descriptors the node keeps for what is not a WebSocket connection:
// fileHeadroom below the open-files limit bounds the WebSocket limits
// (MaxConnections + MaxPending), fileReserve below it bounds every
// connection the listener accepts (WebSockets, feeds' and other HTTP
// requests), leaving fileReserve for the listener, Redis, logs and files.
const (
	fileHeadroom = 128
	fileReserve  = 32
)

// fitFileLimit makes the WebSocket limits of o fit under the process's
// limit of open files (RLIMIT_NOFILE, which the Go runtime raises to the
// hard limit at start): a connection beyond what the process can open would
// hang in the listen queue instead of being refused. It logs the limit,
// and a warning with the new values when it lowers them, and returns the
// most connections the listener may hold open at once. It returns an error
// when the limit leaves no room for any connection.
func fitFileLimit(o *server.Options, log *slog.Logger) (maxOpen int, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("cannot read the open-files limit; --max-connections is not checked against it", "err", err)
		return 0, nil
	}
	limit := l.Cur
	if limit <= fileHeadroom+1 {
		return 0, fmt.Errorf("the open-files limit (RLIMIT_NOFILE, ulimit -n) is %d: too low to serve any connection; raise it above %d", limit, fileHeadroom+1)
	}
	budget := int(min(limit-fileHeadroom, 1<<31-1))
	if o.MaxConnections+o.MaxPending > budget {
		askedConns, askedPending := o.MaxConnections, o.MaxPending
		o.MaxPending = min(o.MaxPending, max(budget/10, 1))
		o.MaxConnections = min(o.MaxConnections, budget-o.MaxPending)
		log.Warn("--max-connections and --max-pending are more than this process may open; lowered to fit "+
			"(raise the limit with ulimit -n, or LimitNOFILE= in a systemd unit)",
			"fileLimit", limit, "askedConnections", askedConns, "askedPending", askedPending,
			"maxConnections", o.MaxConnections, "maxPending", o.MaxPending)
	}
	maxOpen = int(min(limit-fileReserve, 1<<31-1))
	log.Info("open-files limit", "fileLimit", limit, "maxConnections", o.MaxConnections, "maxPending", o.MaxPending,
		"maxOpen", maxOpen)
	return maxOpen, nil
}

// A cappedListener holds at most max connections open at once: it accepts
// one more and closes it at once, so that the client is refused instead of
// waiting in the listen queue of a process that has no descriptor left.
type cappedListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	log     *slog.Logger
	lastLog atomic.Int64 // Unix nanoseconds of the last refusal logged
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			c.Close()
			n := l.refused.Add(1)
			if now := time.Now().UnixNano(); now-l.lastLog.Load() > int64(10*time.Second) {
				l.lastLog.Store(now)
				l.log.Warn("connection refused: the process holds the most connections its open-files limit allows",
					"open", l.max, "refusedSinceStart", n)
			}
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// A countedConn gives its place back to its listener when closed (a
// hijacked WebSocket connection too: net/http hands over this conn).
type countedConn struct {
	net.Conn
	l    *cappedListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
