//go:build !js

package wasmclient_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// node starts a server holding markers and returns its URL and a function
// that stops it as a crash would: its connections cut, its port closed.
func node(t *testing.T, markers ...string) (url string, stop func()) {
	t.Helper()
	srv, err := server.New(&server.Options{Logger: servertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var ms []wire.Marker
	for i, id := range markers {
		ms = append(ms, wire.Marker{ID: id, Pos: geo.Pt(float64(i), 1)})
	}
	srv.Apply(server.Upserts(ms...))
	hs := httptest.NewServer(srv)
	stop = func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	}
	t.Cleanup(stop)
	return "ws" + strings.TrimPrefix(hs.URL, "http"), stop
}

// deadURL is a ws:// URL nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "ws://" + addr + "/"
}

// TestURLsMoveOnToTheNextNode: Dial skips a node that refuses the
// connection; when the node it is on dies, the client moves to the next
// URL and its cache becomes that node's snapshot, nothing of the dead
// node's left.
func TestURLsMoveOnToTheNextNode(t *testing.T) {
	dead := deadURL(t)
	urlA, stopA := node(t, "a1", "a2", "both")
	urlB, _ := node(t, "b1", "both")
	c := dial(t, dead, &wasmclient.Options{URLs: []string{urlA, urlB}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if c.URL() != urlA {
		t.Fatalf("Dial connected to %s, want %s (the first URL that answers)", c.URL(), urlA)
	}
	if err := c.SetView(context.Background(), 0, geo.BBox(-10, -10, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Markers()); got != "[a1 a2 both]" {
		t.Fatalf("on node A the cache holds %s", got)
	}
	stopA()
	servertest.Eventually(t, 10*time.Second, func() string {
		if got := ids(c.Markers()); c.Status().State != wasmclient.Open || got != "[b1 both]" {
			return fmt.Sprintf("after node A died: %v on %s, cache %s; want open on %s with [b1 both]", c.Status(), c.URL(), got, urlB)
		}
		return ""
	})
	if c.URL() != urlB {
		t.Fatalf("the client is on %s, want %s", c.URL(), urlB)
	}
}

// TestDialTriesEveryURL: Dial fails only when no URL answers, naming each.
func TestDialTriesEveryURL(t *testing.T) {
	d1, d2 := deadURL(t), deadURL(t)
	_, err := wasmclient.Dial(context.Background(), d1, &wasmclient.Options{URLs: []string{d2}})
	if err == nil || !strings.Contains(err.Error(), d1) || !strings.Contains(err.Error(), d2) {
		t.Fatalf("Dial to two dead URLs: %v, want an error naming both", err)
	}
}

func ids(ms map[string]wire.Marker) string {
	return fmt.Sprint(slices.Sorted(maps.Keys(ms)))
}
