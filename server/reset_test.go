package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// TestResetClients: a client with a view is sent a reset holding the
// server's markers in its view; one without a view is not counted.
func TestResetClients(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	srv.Apply(server.Upserts(wire.Marker{ID: "in", Pos: geo.Pt(1, 1)}, wire.Marker{ID: "out", Pos: geo.Pt(50, 50)}))
	var mu sync.Mutex
	var resets []wasmclient.Change
	ctx := context.Background()
	c, err := wasmclient.Dial(ctx, url, &wasmclient.Options{OnChange: func(ch wasmclient.Change) {
		if ch.Reset {
			mu.Lock()
			resets = append(resets, ch)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	idle, err := wasmclient.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := c.SetView(ctx, 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	if n := srv.ResetClients(); n != 1 {
		t.Fatalf("ResetClients reset %d clients, want 1 (the one with a view)", n)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(resets) != 2 || len(resets[1].Added) != 1 || resets[1].Added[0].ID != "in" {
			return "the client was not sent a reset holding just \"in\" (the first reset is its view's reply)"
		}
		return ""
	})
}
