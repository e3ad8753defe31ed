package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// A server with one feed and one client: the client sees the marker in its
// view and not the one outside.
func Example() {
	srv, err := server.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	hs := httptest.NewServer(srv) // in production: http.Handle("/ws", srv)
	defer hs.Close()
	defer srv.Close()

	// A feed: one call per update, or Apply for a batch.
	srv.Upsert(wire.Marker{ID: "bus-42", Layer: "vehicles", Pos: geo.Pt(2.3522, 48.8566)}) // Paris
	srv.Upsert(wire.Marker{ID: "ferry-1", Layer: "vehicles", Pos: geo.Pt(-0.1, 51.5)})     // London

	c, err := wasmclient.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetView(context.Background(), 0, geo.BBox(2.2, 48.8, 2.5, 48.9), 12)
	for id, m := range c.Markers() {
		fmt.Println(id, m.Pos, "version", m.Version)
	}
	// Output:
	// bus-42 (2.3522, 48.8566) version 1
}

// Options left zero take their defaults; New rejects invalid ones.
func ExampleNew() {
	_, err := server.New(&server.Options{Budget: -1})
	fmt.Println(err)
	// Output:
	// server: option Budget is -1, must not be negative
}
