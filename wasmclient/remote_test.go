//go:build !pushmap_browser

package wasmclient

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
)

// TestAgainstServer runs against a server that another process started and
// filled: TestWasm (native) builds this package's tests for js/wasm, starts
// a server and runs them in Node with PUSHMAP_TEST_URL set, the pattern
// coder/websocket uses for its own browser tests. Natively, without the
// variable, there is no server to talk to and the test is skipped.
func TestAgainstServer(t *testing.T) {
	url := os.Getenv("PUSHMAP_TEST_URL")
	if url == "" {
		t.Skip("PUSHMAP_TEST_URL not set: run through TestWasm")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	changes := make(chan Change, 16)
	c, err := Dial(ctx, url, &Options{Margin: 0.1, OnChange: func(ch Change) { changes <- ch }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The server holds "in" at (1, 1) and "out" at (50, 50), and moves
	// "in" to (2, 2) when it sees a view.
	if err := c.SetView(ctx, 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Markers()["out"]; ok {
		t.Fatal("received a marker outside the view")
	}
	for {
		select {
		case ch := <-changes:
			for _, m := range append(ch.Added, ch.Updated...) {
				if m.ID == "in" && m.Pos == geo.Pt(2, 2) {
					return
				}
			}
		case <-ctx.Done():
			t.Fatalf("no move of \"in\" to (2, 2); cache %v", c.Markers())
		}
	}
}
