package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// logBuffer is a JSON log the test reads back.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// refusals returns, per reason, the refusals the log logged one by one and
// those its summaries counted.
func (l *logBuffer) refusals(t *testing.T) (logged, summarized map[string]int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	logged, summarized = map[string]int{}, map[string]int{}
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if len(line) == 0 || json.Unmarshal(line, &m) != nil {
			continue
		}
		switch {
		case m["msg"] == "refused":
			logged[m["reason"].(string)]++
		case m["msg"] == "refused: and more, not logged":
			summarized[m["key"].(string)] += int(m["more"].(float64))
		}
	}
	return logged, summarized
}

// TestRefusalsCountedAndLogged refuses clients for each reason and checks
// Stats.Refusals counts each, and that the log has each one, a few lines
// per second at most.
func TestRefusalsCountedAndLogged(t *testing.T) {
	logs := new(logBuffer)
	srv, url := servertest.StartServer(t, &server.Options{
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		MaxConnections: 1,
		ViewRate:       0.001, ViewBurst: 1,
		HelloTimeout: 200 * time.Millisecond,
		Authorize: func(_ *http.Request, token string) (auth.Grant, error) {
			if token != "good" {
				return auth.Grant{}, errors.New("token refused")
			}
			return auth.Grant{}, nil
		},
	})
	ctx := context.Background()

	// The one connection allowed; it is then rate limited.
	c := dialRaw(t, url)
	c.send(wire.Hello{Version: wire.Version, Token: "good"})
	if _, ok := c.recv().(wire.Welcome); !ok {
		t.Fatal("no welcome")
	}
	c.send(wire.View{Box: geo.World})
	c.recv()
	c.send(wire.View{Box: geo.World})
	c.expectError(wire.CodeRateLimited)

	// A flood of clients while the server is full.
	const flood = 40
	start := time.Now()
	for range flood {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A full server refuses a client at its hello.
		hello, err := wire.Marshal(wire.Hello{Version: wire.Version, Token: "good"})
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Write(ctx, websocket.MessageBinary, hello); err != nil {
			t.Fatal(err)
		}
		_, _, err = ws.Read(ctx)
		if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
			t.Fatalf("a client over the limit: %v, want close 1013", err)
		}
		ws.CloseNow()
	}
	elapsed := time.Since(start)
	c.ws.Close(websocket.StatusNormalClosure, "")
	// idle waits until the server has freed the one slot.
	idle := func() {
		t.Helper()
		servertest.Eventually(t, 5*time.Second, func() string {
			if st := srv.Stats(); st.Connections+st.Pending != 0 {
				return fmt.Sprintf("%d connections and %d waiting for their hello still open", st.Connections, st.Pending)
			}
			return ""
		})
	}
	idle()

	// One of each other reason, now that there is room.
	bad := dialRaw(t, url)
	bad.send(wire.Hello{Version: wire.Version, Token: "bad"})
	bad.expectClose(wire.CloseUnauthorized)
	idle()
	silent := dialRaw(t, url) // sends no hello: closed after HelloTimeout
	if _, err := silent.tryRecv(10 * time.Second); err == nil {
		t.Fatal("a client without hello got a message")
	}
	idle()
	future := dialRaw(t, url)
	future.send(wire.Hello{Version: wire.Version + 1})
	future.expectClose(wire.CloseUnsupportedVersion)
	hdr := http.Header{"Origin": {"https://evil.example"}}
	if _, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr}); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign origin: %v, want 403", err)
	}

	want := map[string]int64{"server_full": flood, "rate_limited": 1, "bad_token": 1, "bad_hello": 2, "origin": 1}
	servertest.Eventually(t, 5*time.Second, func() string {
		st := srv.Stats()
		for _, reason := range server.RefusalReasons() {
			if st.Refusals[reason] != want[reason] {
				return fmt.Sprintf("Refusals %v, want %v", st.Refusals, want)
			}
		}
		return ""
	})
	srv.Close() // writes the summaries still waiting
	logged, summarized := logs.refusals(t)
	for reason, n := range want {
		if got := logged[reason] + summarized[reason]; int64(got) != n {
			t.Errorf("%s: the log has %d lines + %d in summaries, want %d in all", reason, logged[reason], summarized[reason], n)
		}
	}
	if windows := int(elapsed/time.Second) + 1; logged["server_full"] > 5*windows {
		t.Errorf("%d refusals for server_full logged one by one in %v, want at most 5 a second", logged["server_full"], elapsed)
	}
	if !strings.Contains(logs.b.String(), `"level":"WARN","msg":"refused","reason":"server_full"`) {
		t.Errorf("a full server is not logged at warn:\n%s", logs.b.String())
	}
}

// TestFramesAndBytesCounted: what the server writes to a client is counted.
func TestFramesAndBytesCounted(t *testing.T) {
	srv, url := servertest.StartServer(t, nil)
	if err := srv.Upsert(wire.Marker{ID: "a", Layer: "x", Pos: geo.Pt(1, 1)}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, url)
	c.hello()
	c.send(wire.View{Box: geo.World})
	c.recv()
	welcome, _ := wire.Marshal(wire.Welcome{Version: wire.Version, Budget: 5000, MaxViews: 4, ViewRate: 20, ViewBurst: 40, MaxFrameBytes: 16384, ClusterZoom: 14})
	servertest.Eventually(t, 5*time.Second, func() string {
		st := srv.Stats()
		if st.Frames != 2 || st.BytesWritten <= int64(len(welcome)) {
			return fmt.Sprintf("%d frames, %d bytes written; want 2 frames (welcome, view_ack), more than the welcome's %d bytes", st.Frames, st.BytesWritten, len(welcome))
		}
		return ""
	})
	if got := srv.MarkersPerLayer(); got["x"] != 1 || len(got) != 1 {
		t.Errorf("MarkersPerLayer %v, want x: 1", got)
	}
	srv.Remove("a")
	if got := srv.MarkersPerLayer(); got["x"] != 0 {
		t.Errorf("MarkersPerLayer %v after the removal, want x: 0", got)
	}
}
