package redisfeed_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// paris is the view of the test clients.
var paris = geo.BBox(2.2, 48.8, 2.5, 48.95)

// A fixture is a real redis-server and a pushmap server with its
// WebSocket endpoint at ws, fed by a Consumer that the test starts and
// stops.
type fixture struct {
	redis *redistest.Server
	srv   *server.Server
	ws    string
	logs  *servertest.Buffer

	cancel context.CancelFunc
	done   chan error
	c      *redisfeed.Consumer
}

func start(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t), logs: &servertest.Buffer{}}
	srv, err := server.New(&server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		f.stop(t)
		srv.Close()
		hs.Close()
	})
	f.srv = srv
	f.ws = "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	return f
}

// run starts a Consumer named "test" with opts (nil for the test's
// defaults).
func (f *fixture) run(t testing.TB, opts *redisfeed.Options) *redisfeed.Consumer {
	t.Helper()
	if f.c != nil {
		t.Fatal("a consumer is already running")
	}
	if opts == nil {
		opts = &redisfeed.Options{}
	}
	if opts.Consumer == "" {
		opts.Consumer = "test"
	}
	if opts.Block == 0 {
		opts.Block = 100 * time.Millisecond
	}
	opts.Logger = slog.New(&recorder{buf: f.logs})
	c, err := redisfeed.New(f.redis.URL, f.srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.c, f.cancel, f.done = c, cancel, make(chan error, 1)
	go func() { f.done <- c.Run(ctx) }()
	return c
}

// stop stops the running Consumer, if any, and checks that Run returned
// the context's error.
func (f *fixture) stop(t testing.TB) {
	t.Helper()
	if f.c == nil {
		return
	}
	f.cancel()
	select {
	case err := <-f.done:
		if err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context's end")
	}
	f.c = nil
	if os.Getenv("PUSHMAP_DEBUG") != "" {
		t.Logf("consumer logs:\n%s", f.logs.String())
	}
}

// xadd adds one entry with redis-cli.
func (f *fixture) xadd(t testing.TB, fields ...string) string {
	t.Helper()
	return f.redis.CLI(append([]string{"XADD", "pushmap:updates", "*"}, fields...)...)
}

// handled waits until the consumer has handled n entries in all.
func (f *fixture) handled(t testing.TB, c *redisfeed.Consumer, n int64) {
	t.Helper()
	servertest.Eventually(t, 10*time.Second, func() string {
		if st := c.Stats(); st.Entries < n {
			return "the consumer handled " + itoa(st.Entries) + " entries, want " + itoa(n)
		}
		return ""
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// nonePending fails the test if the group has pending entries.
func (f *fixture) nonePending(t testing.TB) {
	t.Helper()
	pending := f.redis.CLI("XPENDING", "pushmap:updates", "pushmap")
	if n, _, _ := strings.Cut(pending, "\n"); n != "0" {
		t.Fatalf("entries still pending: %q", pending)
	}
}

// snapshot returns every marker of the server, by id.
func (f *fixture) snapshot() map[string]wire.Marker {
	out := map[string]wire.Marker{}
	for _, m := range f.srv.MarkersIn(geo.World, nil) {
		out[m.ID] = m
	}
	return out
}

// watch connects a map client over box.
func (f *fixture) watch(t testing.TB, box geo.Box, zoom float64) *wasmclient.Client {
	t.Helper()
	c, err := wasmclient.Dial(context.Background(), f.ws, &wasmclient.Options{Throttle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SetView(ctx, 0, box, zoom); err != nil {
		t.Fatal(err)
	}
	return c
}

// sees waits until the client holds exactly the markers want.
func sees(t testing.TB, c *wasmclient.Client, want ...string) map[string]wire.Marker {
	t.Helper()
	sort.Strings(want)
	var got map[string]wire.Marker
	servertest.Eventually(t, 10*time.Second, func() string {
		got = c.Markers()
		if g := servertest.IDs(got); strings.Join(g, ",") != strings.Join(want, ",") {
			return "client holds [" + strings.Join(g, ",") + "], want [" + strings.Join(want, ",") + "]"
		}
		return ""
	})
	return got
}

// recorder is a slog.Handler writing each record to buf as one line,
// "LEVEL message key=value ...", values unquoted, so tests can look for
// reasons as they were written.
type recorder struct {
	buf   *servertest.Buffer
	attrs string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message + r.attrs)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	b.WriteByte('\n')
	r.buf.Write([]byte(b.String()))
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	n := &recorder{buf: r.buf, attrs: r.attrs}
	for _, a := range as {
		n.attrs += " " + a.Key + "=" + a.Value.String()
	}
	return n
}

func (r *recorder) WithGroup(string) slog.Handler { return r }
