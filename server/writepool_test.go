package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
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
	s, stuckWS, wake, readerWS := startWriteRun(t, 64<<20)
	// 12 MB for each stuck client, more than loopback's socket buffers
	// hold.
	big := make([]byte, 60<<10)
	for _, c := range wake[:len(stuckWS)] {
		for k := range 200 {
			c.out.Put(outbox.KeyOf(strconv.Itoa(k)), big)
		}
	}
	got := readOne(readerWS)
	goWriteAll(s, wake)
	for i := range readerWS {
		if err := <-got; err != nil {
			t.Fatalf("reader %d of %d (behind %d stuck clients): %v", i+1, len(readerWS), len(stuckWS), err)
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

// TestWriteRunHandsOffResets: a worker whose client fell behind waits for
// the server lock to queue its reset, which a batch being applied may
// hold; the connections behind it in the run must not wait with it.
func TestWriteRunHandsOffResets(t *testing.T) {
	const limit = 64 << 10
	s, behindWS, wake, readerWS := startWriteRun(t, limit)
	big := make([]byte, limit/4)
	for _, c := range wake[:len(behindWS)] {
		for k := range 8 {
			c.out.Put(outbox.KeyOf(strconv.Itoa(k)), big)
		}
		if !c.out.Behind() {
			t.Fatal("the outbox did not fall behind")
		}
	}
	got := readOne(readerWS)
	s.mu.Lock() // as a batch being applied does
	goWriteAll(s, wake)
	for i := range readerWS {
		if err := <-got; err != nil {
			s.mu.Unlock()
			t.Fatalf("reader %d of %d (behind %d resets waiting for the lock): %v", i+1, len(readerWS), len(behindWS), err)
		}
	}
	s.mu.Unlock()
}

// TestWriteRunHandsOffTooSlowCloses: a worker that closes a client as too
// slow waits for the closing handshake (up to 5 s when the client does not
// read); the connections behind it in the run must not wait with it. The
// run's first connections, one per worker, are silent clients whose
// unread replies passed the outbox limit; the readers behind them must
// have their frames while those closes still wait.
func TestWriteRunHandsOffTooSlowCloses(t *testing.T) {
	const limit = 64 << 10
	s, silentWS, wake, readerWS := startWriteRun(t, limit)
	reply := make([]byte, limit/2)
	for _, c := range wake[:len(silentWS)] {
		for range 5 {
			c.out.Reply(reply)
		}
	}
	got := readOne(readerWS)
	goWriteAll(s, wake)
	for i := range readerWS {
		if err := <-got; err != nil {
			t.Fatalf("reader %d of %d (behind %d clients being closed): %v", i+1, len(readerWS), len(silentWS), err)
		}
	}
	// The silent clients' closes begin at once, on the workers.
	deadline := time.Now().Add(time.Second)
	for s.Stats().TooSlow < int64(len(silentWS)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := s.Stats()
	if st.TooSlow != int64(len(silentWS)) {
		t.Fatalf("%d clients closed as too slow, want the %d silent ones", st.TooSlow, len(silentWS))
	}
	if want := len(silentWS) + len(readerWS); st.Connections != want {
		t.Fatalf("%d connections once the readers had their frames, want %d: the readers waited for the silent clients' closes", st.Connections, want)
	}
}

// TestWriteRunWritesWhileGiven: a pulled batch is given to its
// connections one by one under the server lock, and their writers must
// not wait for the last one: the connections added to an open run are
// written by the workers it starts while the lock is still held and the
// list still open.
func TestWriteRunWritesWhileGiven(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: the giver is the only worker")
	}
	s, _, wake, readerWS := startWriteRun(t, 64<<20)
	readers := wake[len(wake)-len(readerWS):]
	if len(readers) < 2*writeRunShare {
		t.Fatalf("%d readers start no worker beside the giver", len(readers))
	}
	got := readOne(readerWS)
	s.mu.Lock() // as the batch being given holds it
	r := s.openWriteRun(nil)
	s.wg.Add(1) // as finishBatch is counted
	r.addAll(readers)
	for i := range readerWS {
		if err := <-got; err != nil {
			s.mu.Unlock()
			t.Fatalf("reader %d of %d, written while the batch is given: %v", i+1, len(readerWS), err)
		}
	}
	s.mu.Unlock()
	r.finish() // nothing left for the giver
	s.wg.Done()
	// The worker that waited for more stops once the list is closed.
	for deadline := time.Now().Add(10 * time.Second); r.running.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running 10 s after the list was closed", r.running.Load())
		}
	}
}

// startWriteRun starts a server with the given outbox limit and a write
// timeout of a minute, and connects 4 clients that never read after their
// Welcome, then 40 that do. It returns the connections of all of them, the
// first 4's first, each with a marker waiting in its outbox (marked as
// having a writer, which writeAll stands for).
func startWriteRun(t *testing.T, limit int) (s *Server, silent []*websocket.Conn, wake []*conn, readers []*websocket.Conn) {
	s, err := New(&Options{WriteTimeout: time.Minute, OutboxBytes: limit,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	const silentClients, readerClients = 4, 40
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
	silent = make([]*websocket.Conn, silentClients)
	for i := range silent {
		silent[i] = dial()
	}
	first := conns()
	readers = make([]*websocket.Conn, readerClients)
	for i := range readers {
		readers[i] = dial()
	}
	for c := range first {
		wake = append(wake, c)
	}
	for c := range conns() {
		if !first[c] {
			wake = append(wake, c)
		}
	}
	if len(wake) != silentClients+readerClients {
		t.Fatalf("%d connections, want %d", len(wake), silentClients+readerClients)
	}
	enc := wire.NewEncoder()
	op, err := enc.Upsert(&wire.Marker{ID: "r", Pos: geo.Pt(2.35, 48.85)})
	if err != nil {
		t.Fatal(err)
	}
	op = bytes.Clone(op)
	for _, c := range wake {
		if c.sock == nil {
			t.Fatal("a loopback TCP connection has no sockWriter")
		}
		c.out.Put(outbox.KeyOf("r"), op)
	}
	return s, silent, wake, readers
}

// goWriteAll writes wake's outboxes on a goroutine the server waits for
// at Close, as the end of a batch does.
func goWriteAll(s *Server, wake []*conn) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.writeAll(wake)
	}()
}

// readOne reads one frame on each of readers, within 30 s, and sends what
// came of it: nil when it holds the marker startWriteRun put.
func readOne(readers []*websocket.Conn) <-chan error {
	got := make(chan error, len(readers))
	for _, ws := range readers {
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
	return got
}
