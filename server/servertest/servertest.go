// Package servertest runs a pushmap server for tests, as net/http/httptest
// does for HTTP: a server on loopback that closes when the test ends, a
// logger into the test, and polling for a condition. pushmap's own tests
// use it; so can the tests of a program that embeds a server.
package servertest

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// Logger logs into the test at level debug when PUSHMAP_DEBUG is set, and
// nowhere otherwise.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("PUSHMAP_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// StartServer runs a pushmap server on 127.0.0.1 (with Logger when opts has
// none) and returns it with its WebSocket URL. Both close when the test
// ends.
func StartServer(t testing.TB, opts *server.Options) (*server.Server, string) {
	t.Helper()
	var o server.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = Logger(t)
	}
	srv, err := server.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http")
}

// Eventually calls check until it returns "" or within has passed; then it
// fails the test with check's last answer.
func Eventually(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// IDs returns the sorted ids of a marker map.
func IDs(ms map[string]wire.Marker) []string {
	out := make([]string, 0, len(ms))
	for id := range ms {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// A Buffer is a bytes.Buffer safe for concurrent use: for logs or output
// that a running server or command writes while the test reads them.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
