package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
)

// Admission. A new WebSocket connection is pending until its hello: it is
// counted against Options.MaxPending and MaxPendingPerIP, not against
// MaxConnections, so that connections that never say hello cannot take the
// slots of clients that do. At its hello it is admitted: counted against
// MaxConnections. Every connection, pending or admitted, counts against
// MaxConnectionsPerIP.

// An admission counts the connections of the server by state and address.
type admission struct {
	mu      sync.Mutex
	pending int                     // guarded by mu: connections before their hello
	perIP   map[netip.Addr]*ipConns // guarded by mu
}

type ipConns struct{ all, pending int }

// A ticket is one connection's place in the admission counts.
type ticket struct {
	ip       netip.Addr // zero when the remote address is not an IP
	admitted bool       // set by admit, from the reader goroutine
}

// clientIP returns the address a connection from remote is counted under:
// its IP, or for IPv6 its /64 network (one subscriber's usual share).
func clientIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// enter counts a new connection from remote as pending, and its goroutine
// in s.wg (under the same lock as Close and Shutdown set closing, so that
// their Wait never misses it). When the server is closing or a limit would
// be passed it counts nothing and returns the HTTP status and message of
// the refusal.
func (s *Server) enter(remote string) (*ticket, refusal, int, string) {
	t := &ticket{ip: clientIP(remote)}
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.closing.Load() {
		s.counters.refused.Add(1)
		return nil, refusedShuttingDown, http.StatusServiceUnavailable, "pushmap: server is shutting down"
	}
	if a.pending >= s.opts.MaxPending {
		return nil, refusedPending, http.StatusServiceUnavailable, fmt.Sprintf("pushmap: %d connections are waiting for their hello, the most this server takes; try again later", s.opts.MaxPending)
	}
	var c *ipConns
	if t.ip.IsValid() {
		c = a.perIP[t.ip]
		switch {
		case c != nil && c.all >= s.opts.MaxConnectionsPerIP:
			return nil, refusedPerIP, http.StatusTooManyRequests, fmt.Sprintf("pushmap: %d connections from %v, the most this server takes from one address", c.all, t.ip)
		case c != nil && c.pending >= s.opts.MaxPendingPerIP:
			return nil, refusedPerIP, http.StatusTooManyRequests, fmt.Sprintf("pushmap: %d connections from %v are waiting for their hello, the most this server takes from one address; try again later", c.pending, t.ip)
		case c == nil:
			if a.perIP == nil {
				a.perIP = make(map[netip.Addr]*ipConns)
			}
			c = &ipConns{}
			a.perIP[t.ip] = c
		}
		c.all++
		c.pending++
	}
	a.pending++
	s.wg.Add(1)
	return t, 0, 0, ""
}

// stopAdmitting makes enter refuse every new connection from now on.
func (s *Server) stopAdmitting() {
	s.admission.mu.Lock()
	s.closing.Store(true)
	s.admission.mu.Unlock()
}

// admit moves a connection that said hello from pending to admitted. It
// returns an error, and leaves it pending, when MaxConnections connections
// are admitted already.
func (s *Server) admit(t *ticket) error {
	if n := s.nconns.Add(1); n > int64(s.opts.MaxConnections) {
		s.nconns.Add(-1)
		s.counters.refused.Add(1)
		return fmt.Errorf("server full: %d connections", s.opts.MaxConnections)
	}
	a := &s.admission
	a.mu.Lock()
	a.pending--
	if c := a.perIP[t.ip]; c != nil {
		c.pending--
	}
	a.mu.Unlock()
	t.admitted = true
	s.counters.accepted.Add(1)
	return nil
}

// leave uncounts a connection that ended: its address's slot first, then
// the admitted count, so that whoever sees the count drop (Stats) finds
// the slot free too.
func (s *Server) leave(t *ticket) {
	if t.admitted {
		defer s.nconns.Add(-1) // after the unlock below
	}
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	if !t.admitted {
		a.pending--
	}
	if c := a.perIP[t.ip]; c != nil {
		c.all--
		if !t.admitted {
			c.pending--
		}
		if c.all == 0 {
			delete(a.perIP, t.ip)
		}
	}
}

// refuseHTTP answers a connection refused before its upgrade.
func refuseHTTP(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	http.Error(w, msg, status)
}

// retryAfterSeconds is the Retry-After of a refused connection.
const retryAfterSeconds = 5
