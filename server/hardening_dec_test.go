package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestDeepHelloRefused: a hello of 8 million nested arrays in a field the
// decoder skips, sent to a server taking 9 MiB frames, once overflowed the
// stack before the token was even checked, ending the process. Now the
// connection is closed with 4000 and a reason naming the limit; the
// server keeps its markers and greets the next client.
func TestDeepHelloRefused(t *testing.T) {
	srv, url := servertest.StartServer(t, &server.Options{MaxFrameBytes: 9 << 20})
	if err := srv.Upsert(wire.Marker{ID: "kept", Pos: geo.Pt(1, 1)}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, url)
	frame := append([]byte{0x97, 0x01, 0x01, 0xa0, 0x90, 0x00, 0x00}, bytes.Repeat([]byte{0x91}, 8<<20)...)
	c.sendRaw(websocket.MessageBinary, append(frame, 0xc0))
	if reason := c.expectClose(wire.CloseHelloRequired); !strings.Contains(reason, "nested deeper than 32 levels") {
		t.Fatalf("close reason %q does not name the limit", reason)
	}
	if _, ok := srv.Marker("kept"); !ok {
		t.Fatal("the server lost its markers")
	}
	dialRaw(t, url).hello()
}

// TestClientFrameErrors: what a client sends wrong is reported right: a
// server-to-client type is unknown_type even when its fields are
// malformed, a uint64 view id is reported with its value, and a layer name
// that is not UTF-8 is refused.
func TestClientFrameErrors(t *testing.T) {
	_, url := servertest.StartServer(t, nil)
	c := dialRaw(t, url)
	c.hello()
	c.sendRaw(websocket.MessageBinary, []byte{0x92, 0x14, 0x05}) // a batch of a bad op
	if e := c.expectError(wire.CodeUnknownType); !strings.Contains(e.Message, "sent by servers") {
		t.Fatalf("batch from a client: %q", e.Message)
	}
	c.sendRaw(websocket.MessageBinary, []byte{0x92, 0x03, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if e := c.expectError(wire.CodeMalformed); !strings.Contains(e.Message, "18446744073709551615 is outside") {
		t.Fatalf("uint64 view id: %q", e.Message)
	}
	c.sendRaw(websocket.MessageBinary, []byte{0x92, 0x04, 0x91, 0xa2, 0xff, 'x'})
	if e := c.expectError(wire.CodeMalformed); !strings.Contains(e.Message, "not valid UTF-8") {
		t.Fatalf("layer not UTF-8: %q", e.Message)
	}
}
