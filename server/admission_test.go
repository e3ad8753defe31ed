package server_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// dialFrom dials a WebSocket from local address src ("" for any) and
// returns it, or the HTTP status of the refusal.
func dialFrom(t *testing.T, url, src string) (*websocket.Conn, int) {
	t.Helper()
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		if res == nil {
			t.Fatalf("dial from %q: %v", src, err)
		}
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("refusal %d without Retry-After", res.StatusCode)
		}
		return nil, res.StatusCode
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols
}

// hello sends a hello on ws and returns the welcome, or the close error.
func hello(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, _ := wire.Marshal(wire.Hello{Version: wire.Version})
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return err
	}
	_, frame, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	if m, err := wire.Unmarshal(frame); err != nil {
		return err
	} else if _, ok := m.(wire.Welcome); !ok {
		return errors.New("no welcome")
	}
	return nil
}

// TestSilentConnectionsDoNotLockOut: connections that never send a hello
// are counted apart from MaxConnections (before, three silent sockets kept
// a real client out of a server with MaxConnections 3 for 10 s).
func TestSilentConnectionsDoNotLockOut(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxConnections: 3})
	for range 3 {
		if _, status := dialFrom(t, url, ""); status != http.StatusSwitchingProtocols {
			t.Fatalf("silent connection refused with %d", status)
		}
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if st := srv.Stats(); st.Pending != 3 {
			return "pending connections: want 3"
		}
		return ""
	})
	for i := range 3 {
		ws, status := dialFrom(t, url, "")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("client %d refused with %d", i, status)
		}
		if err := hello(t, ws); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	ws, _ := dialFrom(t, url, "")
	var ce websocket.CloseError
	if err := hello(t, ws); !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater {
		t.Fatalf("fourth client: %v, want close 1013", err)
	}
	if st := srv.Stats(); st.Connections != 3 || st.Refused != 1 {
		t.Fatalf("stats %+v, want 3 connections and 1 refused", st)
	}
}

// TestPendingLimits: past MaxPending connections waiting for their hello a
// new one is refused with 503, past MaxPendingPerIP from one address with
// 429; another address still gets in, and a connection that says hello
// frees its pending place.
func TestPendingLimits(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxPending: 3, MaxPendingPerIP: 2})
	first, _ := dialFrom(t, url, "127.0.0.1")
	dialFrom(t, url, "127.0.0.1")
	if _, status := dialFrom(t, url, "127.0.0.1"); status != http.StatusTooManyRequests {
		t.Fatalf("third pending connection from one address: %d, want 429", status)
	}
	dialFrom(t, url, "127.0.0.2")
	if _, status := dialFrom(t, url, "127.0.0.3"); status != http.StatusServiceUnavailable {
		t.Fatalf("fourth pending connection: %d, want 503", status)
	}
	if err := hello(t, first); err != nil {
		t.Fatal(err)
	}
	if ws, status := dialFrom(t, url, "127.0.0.1"); status != http.StatusSwitchingProtocols || hello(t, ws) != nil {
		t.Fatalf("a connection after one said hello: %d", status)
	}
	st := srv.Stats()
	if st.Pending != 2 || st.Connections != 2 || st.Refusals["pending_full"] != 1 || st.Refusals["per_ip"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConnectionsPerIP: past MaxConnectionsPerIP connections from one
// address a new one is refused with 429; closing one frees its place.
func TestConnectionsPerIP(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxConnectionsPerIP: 2})
	a, _ := dialFrom(t, url, "127.0.0.1")
	b, _ := dialFrom(t, url, "127.0.0.1")
	for _, ws := range []*websocket.Conn{a, b} {
		if err := hello(t, ws); err != nil {
			t.Fatal(err)
		}
	}
	if _, status := dialFrom(t, url, "127.0.0.1"); status != http.StatusTooManyRequests {
		t.Fatalf("third connection from one address: %d, want 429", status)
	}
	if _, status := dialFrom(t, url, "127.0.0.2"); status != http.StatusSwitchingProtocols {
		t.Fatalf("a connection from another address: %d", status)
	}
	a.Close(websocket.StatusNormalClosure, "")
	servertest.Eventually(t, 5*time.Second, func() string {
		if st := srv.Stats(); st.Connections != 1 {
			return "the closed connection is still counted"
		}
		return ""
	})
	if _, status := dialFrom(t, url, "127.0.0.1"); status != http.StatusSwitchingProtocols {
		t.Fatalf("a connection after one closed: %d", status)
	}
}

func TestClientIP(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5000":                "192.0.2.7",
		"[::ffff:192.0.2.7]:5000":       "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":    "2001:db8:1:2::",
		"[2001:db8:1:2:ffff::1%eth0]:1": "2001:db8:1:2::",
		"pipe":                          "invalid IP",
	} {
		if got := server.ClientIP(remote).String(); got != want {
			t.Errorf("%s: %s, want %s", remote, got, want)
		}
	}
}
