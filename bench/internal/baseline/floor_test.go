package baseline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// floorFrame is a frame of the floor, decoded by the wire package: its
// type, flags (a ViewAck's) and ops as "id" (an upsert) or "-id" (a
// removal), sorted.
type floorFrame struct {
	typ   wire.Type
	flags wire.Flags
	ops   []string
}

func (c *testClient) nextFloor() floorFrame {
	c.t.Helper()
	b, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	msg, err := wire.NewClientDecoder().Decode(b)
	if err != nil {
		c.t.Fatalf("frame %x: %v", b, err)
	}
	f := floorFrame{typ: msg.Type()}
	var ops []wire.Op
	switch m := msg.(type) {
	case wire.ViewAck:
		f.flags, ops = m.Flags, m.Ops
	case wire.Batch:
		ops = m.Ops
	default:
		c.t.Fatalf("unexpected %T", msg)
	}
	for _, op := range ops {
		if op.Remove {
			f.ops = append(f.ops, "-"+op.Marker.ID)
		} else {
			f.ops = append(f.ops, op.Marker.ID)
		}
	}
	slices.Sort(f.ops)
	return f
}

func (c *testClient) send(m wire.Message) {
	c.t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, b); err != nil {
		c.t.Fatal(err)
	}
}

// TestFloor checks the floor against a real WebSocket client library: the
// first view is acknowledged with its markers and the snapshot flag, a
// pan with only the markers new to it; a batch brings each client the
// markers in its view and removals of those that left it, in one frame,
// and nothing to a client whose view it missed.
func TestFloor(t *testing.T) {
	f := NewFloor()
	defer f.Close()
	hs := httptest.NewServer(f)
	defer hs.Close()
	left, right := geo.BBox(2.0, 48.0, 2.1, 48.1), geo.BBox(2.2, 48.0, 2.3, 48.1)
	in, out := geo.Pt(2.05, 48.05), geo.Pt(2.25, 48.05)
	if err := f.Publish([]wire.Marker{marker("a", in, 1), marker("b", out, 1)}); err != nil {
		t.Fatal(err)
	}

	c, d := dial(t, hs.URL), dial(t, hs.URL)
	c.send(wire.Hello{Version: wire.Version})
	c.send(wire.View{Box: left, Zoom: 14})
	if got := c.nextFloor(); got.typ != wire.TypeViewAck || got.flags != wire.FlagSnapshot || !slices.Equal(got.ops, []string{"a"}) {
		t.Fatalf("first view acknowledged with %+v, want a ViewAck, the snapshot flag and marker a", got)
	}
	d.send(wire.View{Box: right, Zoom: 14})
	if got := d.nextFloor(); !slices.Equal(got.ops, []string{"b"}) {
		t.Fatalf("second client's view acknowledged with %+v, want marker b", got)
	}

	// a moves within left, b leaves right for left, c appears in right:
	// one frame each.
	if err := f.Publish([]wire.Marker{marker("a", geo.Pt(2.06, 48.05), 2), marker("b", geo.Pt(2.07, 48.05), 2), marker("c", out, 1)}); err != nil {
		t.Fatal(err)
	}
	if got := c.nextFloor(); got.typ != wire.TypeBatch || !slices.Equal(got.ops, []string{"a", "b"}) {
		t.Errorf("left got %+v, want a batch of a and b", got)
	}
	if got := d.nextFloor(); !slices.Equal(got.ops, []string{"-b", "c"}) {
		t.Errorf("right got %+v, want b's removal and c", got)
	}
	// Far away: nobody hears of it.
	f.Publish([]wire.Marker{marker("z", geo.Pt(-70, 10), 1)})
	c.quiet()
	d.quiet()

	// A pan to a box overlapping left brings only what was in none of it.
	c.send(wire.View{Box: geo.BBox(2.055, 48.0, 2.26, 48.1), Zoom: 14})
	if got := c.nextFloor(); got.typ != wire.TypeViewAck || got.flags != 0 || !slices.Equal(got.ops, []string{"c"}) {
		t.Errorf("pan acknowledged with %+v, want a ViewAck without flags bringing c", got)
	}
}

// TestFloorRefusesPlainHTTP: a request that is no WebSocket upgrade gets
// 400 and a reason.
func TestFloorRefusesPlainHTTP(t *testing.T) {
	f := NewFloor()
	defer f.Close()
	hs := httptest.NewServer(f)
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 200)
	n, _ := resp.Body.Read(b)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b[:n]), "WebSocket upgrade") {
		t.Errorf("plain GET: %s %q, want 400 naming the upgrade", resp.Status, b[:n])
	}
}
