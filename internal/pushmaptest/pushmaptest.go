// Package pushmaptest holds what pushmap's own tests share, as httptest
// does for HTTP: a server on loopback, a logger into the test, polling for
// a condition, and the examples of the docs.
package pushmaptest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// DocExample returns the path of docs/examples/name after checking that
// docs/feeds.md shows the file verbatim in a fenced block, so the guide
// never drifts from what the tests run.
func DocExample(t testing.TB, name string) string {
	t.Helper()
	docs := filepath.Join(repoRoot(t), "docs")
	path := filepath.Join(docs, "examples", name)
	example, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join(docs, "feeds.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), "\n"+string(example)+"```\n") {
		t.Fatalf("docs/feeds.md does not show docs/examples/%s verbatim in a fenced block; paste it again", name)
	}
	return path
}

// DocCommand returns the command that docs/feeds.md shows, in a fenced
// block, for running docs/examples/name — "VAR=value ... /usr/bin/python3
// docs/examples/name" — without the variable assignments and with the
// example's path made absolute: what the test must run, so that the guide
// never shows a command that fails.
func DocCommand(t testing.TB, name string) []string {
	t.Helper()
	guide, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "feeds.md"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(guide), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[len(fields)-1] != "docs/examples/"+name {
			continue
		}
		for len(fields) > 0 && strings.Contains(fields[0], "=") {
			fields = fields[1:]
		}
		if len(fields) < 2 {
			break
		}
		fields[len(fields)-1] = filepath.Join(repoRoot(t), "docs", "examples", name)
		return fields
	}
	t.Fatalf("docs/feeds.md shows no command line ending in docs/examples/%s", name)
	return nil
}

// repoRoot finds the directory holding go.mod above the test's directory.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(fmt.Errorf("no go.mod above the test's directory"))
		}
		dir = parent
	}
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
