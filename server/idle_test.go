package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/wsframe"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// holdIdle opens a connection by hand (no goroutine on the client's side),
// says hello, sets a view of box and returns once the view is
// acknowledged, leaving the connection idle.
func holdIdle(t testing.TB, url string, box geo.Box) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(url, "ws://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	hello, _ := wire.Marshal(wire.Hello{Version: wire.Version})
	view, _ := wire.Marshal(wire.View{ID: 1, Box: box, Zoom: 14})
	br := bufio.NewReader(conn)
	if _, err := conn.Write([]byte(upgradeRequest(host))); err != nil {
		t.Fatal(err)
	}
	readUpgraded(t, br)
	if _, err := conn.Write(append(clientFrame(hello), clientFrame(view)...)); err != nil {
		t.Fatal(err)
	}
	for {
		_, payload := readServerFrame(t, br)
		msg, err := wire.Unmarshal(payload)
		if err != nil {
			t.Fatalf("frame %x: %v", payload, err)
		}
		if _, ok := msg.(wire.ViewAck); ok {
			conn.SetDeadline(time.Time{})
			return conn
		}
	}
}

// readUpgraded reads the server's answer to upgradeRequest and fails the
// test unless it switched protocols.
func readUpgraded(t testing.TB, br *bufio.Reader) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s", resp.Status)
	}
}

// readServerFrame reads one unmasked frame and returns its header and
// payload.
func readServerFrame(t testing.TB, br *bufio.Reader) (wsframe.Header, []byte) {
	t.Helper()
	h, err := wsframe.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, h.Size)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return h, payload
}

// TestIdleReaderStack: the reader of an idle connection, once it said
// hello and had a view of markers acknowledged, keeps a stack of at most
// 4 KiB. A goroutine's stack only shrinks while less than a quarter of it
// is in use, which a reader parked in a read never is: one call deeper
// than 4 KiB once, in the handshake or a view change, and the connection
// kept 8 KiB for life (it did: its read registered a context.AfterFunc
// from within the handshake's frame). See "Idle connection memory, again"
// in docs/design.md.
func TestIdleReaderStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's stacks are larger; this test measures the real ones")
	}
	const n = 400
	srv, url := servertest.StartServer(t, &server.Options{MaxConnectionsPerIP: 2 * n})
	box := geo.BBox(2.30, 48.84, 2.33, 48.86)
	markers := make([]wire.Marker, 200)
	for i := range markers {
		markers[i] = wire.Marker{ID: fmt.Sprint("m", i), Layer: "a", Props: map[string]any{"name": fmt.Sprint("vehicle ", i)},
			Pos: geo.Pt(2.30+0.03*float64(i)/float64(len(markers)), 48.84+0.02*float64(i%7)/7)}
	}
	if err := srv.Apply(server.Upserts(markers...)); err != nil {
		t.Fatal(err)
	}
	holdIdle(t, url, box) // the server's first connection starts what it keeps for all
	before := memAfterGC().StackInuse
	for range n {
		holdIdle(t, url, box)
	}
	servertest.Eventually(t, 10*time.Second, func() string {
		if st := srv.Stats(); st.Connections != n+1 || st.OutboxBytes != 0 {
			return fmt.Sprintf("%d connections, %d bytes in outboxes; want %d, 0", st.Connections, st.OutboxBytes, n+1)
		}
		return ""
	})
	per := float64(memAfterGC().StackInuse-before) / n
	t.Logf("%.0f bytes of stack per idle connection", per)
	if per > 5<<10 {
		t.Errorf("%.0f bytes of stack per idle connection, want at most 5 KiB (4 KiB for the reader)", per)
	}
}
