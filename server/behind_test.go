package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestBehindKeepsEveryReply: requests a client sends while it has fallen
// behind each get their own reply, before the behind reset, so that a
// client matches replies to requests by order alone even across a reset
// (docs/protocol.md, "Falling behind").
func TestBehindKeepsEveryReply(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{OutboxBytes: 256 << 10, WriteTimeout: time.Minute})
	pad := map[string]any{"pad": strings.Repeat("x", 200)}
	round := 0
	push := func() {
		batch := make([]wire.Marker, 1000)
		for i := range batch {
			batch[i] = wire.Marker{ID: fmt.Sprint("m", i), Layer: "a", Props: pad,
				Pos: geo.Pt(float64(i%360)-180+float64(round)/1000, float64(i%170)-85)}
		}
		if err := srv.Apply(server.Upserts(batch...)); err != nil {
			t.Fatal(err)
		}
		round++
	}
	// Requests while behind, whose replies are small: view 1 is where
	// no marker is.
	const views = 5
	// behindWhileAsking makes c fall behind, sends its requests and
	// reports whether it was still behind once they were sent. A writer
	// that is not blocked on a full socket resets the client at once, so
	// an attempt may find it caught up: then the test tries again with a
	// new client.
	behindWhileAsking := func(c *rawClient) bool {
		c.hello()
		c.send(wire.View{Box: geo.World})
		c.recv()
		// From now on the client reads nothing until the end.
		for start := round; !srv.Behind(); {
			if round-start == 2000 {
				t.Fatal("the client never fell behind")
			}
			push()
		}
		asked := srv.Stats().ViewChanges
		for i := range views {
			c.send(wire.View{ID: 1, Box: geo.BBox(-179, -89.9, -178+float64(i)/10, -89), Zoom: 10})
		}
		c.send(wire.Unview{ID: 1})
		// Still behind once the server has applied every request: their
		// replies were queued before the behind reset.
		servertest.Eventually(t, 5*time.Second, func() string {
			st := srv.Stats()
			if n := st.ViewChanges - asked; n < views {
				return fmt.Sprintf("the server applied %d of the %d views", n, views)
			}
			if st.Views != 1 { // the world view alone, once view 1 is dropped
				return fmt.Sprintf("%d view boxes, want 1 once the unview is applied", st.Views)
			}
			return ""
		})
		return srv.Behind()
	}
	var c *rawClient
	for attempt := 1; ; attempt++ {
		c = dialRaw(t, url)
		if behindWhileAsking(c) {
			break
		}
		if attempt == 10 {
			t.Fatal("the client caught up while the test sent its requests, 10 times")
		}
		c.ws.CloseNow()
		servertest.Eventually(t, 5*time.Second, func() string { // its outbox out of Behind's sight
			if n := srv.Stats().Connections; n != 0 {
				return fmt.Sprintf("%d connections still open", n)
			}
			return ""
		})
	}

	var replies []string
	resets, lastReset := 0, -1
	for {
		m, err := c.tryRecv(2 * time.Second)
		if err != nil {
			break // quiet: everything was read
		}
		switch m := m.(type) {
		case wire.ViewAck:
			replies = append(replies, fmt.Sprint("view_ack ", m.View.ID))
		case wire.UnviewAck:
			replies = append(replies, fmt.Sprint("unview_ack ", m.ID))
		case wire.Error:
			replies = append(replies, fmt.Sprint("error ", m.Message))
		case wire.Reset:
			if m.Flags&wire.FlagBehind == 0 {
				t.Fatalf("a reset without the behind flag: %v", m.Flags)
			}
			// An earlier fall may have been reset before the requests
			// were sent; the reset of the fall they met comes last.
			lastReset = len(replies)
			resets++
		}
	}
	want := []string{"view_ack 1", "view_ack 1", "view_ack 1", "view_ack 1", "view_ack 1", "unview_ack 1"}
	if fmt.Sprint(replies) != fmt.Sprint(want) {
		t.Errorf("replies %v, want one per request: %v", replies, want)
	}
	if resets == 0 || lastReset != views+1 {
		t.Errorf("%d behind resets, the last after %d replies; want the last after all %d", resets, lastReset, views+1)
	}
	t.Logf("fell behind after %d batches", round)
}
