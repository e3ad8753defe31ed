package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/outbox"
	"github.com/pushmap/pushmap/wire"
)

// TestWriteRunHandsOffBlockedWrites: the writers of a batch are a few
// workers, and clients that stop reading must not hold up the others. The
// batch's first connections are more stuck clients (their sockets fill up,
// and the write timeout is a minute) than the run has workers; the readers
// behind them must still get their frames, long before the watchdog ends
// the stuck writes.
func TestWriteRunHandsOffBlockedWrites(t *testing.T) {
	s, err := New(&Options{WriteTimeout: time.Minute, OutboxBytes: 64 << 20,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	defer s.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	const stuckClients, readers = 4, 40
	hello, _ := wire.Marshal(wire.Hello{Version: wire.Version})
	// dial connects a client and reads its Welcome: the server then has
	// it among its connections.
	dial := func() *websocket.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		if err := ws.Write(ctx, websocket.MessageBinary, hello); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("welcome: %v", err)
		}
		return ws
	}
	conns := func() map[*conn]bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		m := map[*conn]bool{}
		for c := range s.conns {
			m[c] = true
		}
		return m
	}
	stuckWS := make([]*websocket.Conn, stuckClients)
	for i := range stuckWS {
		stuckWS[i] = dial() // and never read again
	}
	stuck := conns()
	readerWS := make([]*websocket.Conn, readers)
	for i := range readerWS {
		readerWS[i] = dial()
	}
	var wake []*conn
	for c := range stuck {
		if c.sock == nil {
			t.Fatal("a loopback TCP connection has no sockWriter")
		}
		wake = append(wake, c)
	}
	for c := range conns() {
		if !stuck[c] {
			wake = append(wake, c)
		}
	}
	if len(wake) != stuckClients+readers {
		t.Fatalf("%d connections, want %d", len(wake), stuckClients+readers)
	}

	// 12 MB for each stuck client, more than loopback's socket buffers
	// hold; one marker for each reader.
	big := make([]byte, 60<<10)
	enc := wire.NewEncoder()
	op, err := enc.Upsert(&wire.Marker{ID: "r", Pos: geo.Pt(2.35, 48.85)})
	if err != nil {
		t.Fatal(err)
	}
	op = bytes.Clone(op)
	for i, c := range wake {
		if i >= stuckClients {
			c.out.Put(outbox.KeyOf("r"), op)
			continue
		}
		for k := range 200 {
			c.out.Put(outbox.KeyOf(strconv.Itoa(k)), big)
		}
	}

	got := make(chan error, readers)
	for _, ws := range readerWS {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, frame, err := ws.Read(ctx)
			if err == nil && !bytes.Contains(frame, []byte("r")) {
				err = fmt.Errorf("frame %x is not the reader's marker", frame)
			}
			got <- err
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.writeAll(wake)
	}()
	for i := range readers {
		if err := <-got; err != nil {
			t.Fatalf("reader %d of %d (behind %d stuck clients): %v", i+1, readers, stuckClients, err)
		}
	}
	if st := s.Stats(); st.TooSlow > 0 {
		t.Fatalf("the stuck clients' writes timed out before the readers were served: %+v", st)
	}
	// The stuck writes end when their clients go.
	for _, ws := range stuckWS {
		ws.CloseNow()
	}
}
