//go:build !js

package wasmclient_test

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

// A Go program as a map client: connect, say what the map shows, and read
// the markers the server pushes.
func Example() {
	srv, _ := server.New(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	changes := make(chan wasmclient.Change, 10)
	c, err := wasmclient.Dial(context.Background(), url, &wasmclient.Options{
		OnChange: func(ch wasmclient.Change) { changes <- ch },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// Paris at about zoom 12.
	if err := c.SetView(context.Background(), 0, geo.BBox(2.25, 48.81, 2.42, 48.90), 12); err != nil {
		fmt.Println(err)
		return
	}
	srv.Upsert(wire.Marker{ID: "bus-42", Layer: "vehicles", Pos: geo.Pt(2.3522, 48.8566)})
	srv.Upsert(wire.Marker{ID: "tram-7", Layer: "vehicles", Pos: geo.Pt(4.8357, 45.7640)}) // Lyon: not in view

	ch := <-changes
	for ch.Reset || len(ch.Added) == 0 {
		ch = <-changes
	}
	fmt.Println("added:", ch.Added[0].ID, ch.Added[0].Pos)
	fmt.Println("cache holds", len(c.Markers()), "marker")
	// Output:
	// added: bus-42 (2.3522, 48.8566)
	// cache holds 1 marker
}
