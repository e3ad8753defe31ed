package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) {
	// The test binary run again as BenchmarkFeedPOST's feed.
	if url := os.Getenv(posterURLEnv); url != "" {
		os.Exit(runPoster(url, os.Getenv(posterBodiesEnv)))
	}
	leakcheck.Main(m)
}

const (
	feedKey = "feed-secret"
	readKey = "read-secret"
)

// paris is the view of the test clients; lyon and london are outside it.
var (
	paris  = geo.BBox(2.2, 48.8, 2.5, 48.95)
	inView = geo.Pt(2.3522, 48.8566)
	lyon   = geo.Pt(4.8357, 45.7640)
)

// A fixture is a pushmap server with its WebSocket endpoint at /ws and the
// feed endpoint at /feed, on 127.0.0.1.
type fixture struct {
	srv  *server.Server
	feed string // http://127.0.0.1:port/feed
	ws   string // ws://127.0.0.1:port/ws
	hs   *httptest.Server
}

func start(t testing.TB, opts *ingest.Options) *fixture {
	t.Helper()
	srv, err := server.New(&server.Options{Logger: servertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &ingest.Options{}
	}
	if opts.Keys == nil {
		opts.Keys = keys(feedKey)
	}
	if opts.Logger == nil {
		opts.Logger = servertest.Logger(t)
	}
	h, err := ingest.New(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/feed/", http.StripPrefix("/feed", h))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return &fixture{srv: srv, hs: hs, feed: hs.URL + "/feed", ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
}

// A reply is an HTTP answer, its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// problem decodes the body as a problem.
func (r reply) problem(t testing.TB) ingest.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p ingest.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.status {
		t.Fatalf("problem status %d, HTTP status %d", p.Status, r.status)
	}
	return p
}

// do sends a request to the feed endpoint; key "" sends no Authorization.
func (f *fixture) do(t testing.TB, method, path, contentType, key string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.feed+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return send(t, req)
}

func send(t testing.TB, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// post sends a body to POST /markers with the feed key and wants 200.
func (f *fixture) post(t testing.TB, contentType string, body []byte) {
	t.Helper()
	r := f.do(t, "POST", "/markers", contentType, feedKey, body)
	if r.status != http.StatusOK {
		t.Fatalf("POST /markers: %d %s", r.status, r.body)
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

// A watcher is a map client over a view, recording what it is sent.
type watcher struct {
	*wasmclient.Client
	mu    sync.Mutex
	tiles []wire.TileChange
}

func watch(t testing.TB, f *fixture, box geo.Box, zoom float64) *watcher {
	t.Helper()
	return watchWith(t, f, box, zoom, nil)
}

// watchWith is watch for a client of layers (nil: every layer).
func watchWith(t testing.TB, f *fixture, box geo.Box, zoom float64, layers []string) *watcher {
	t.Helper()
	w := &watcher{}
	c, err := wasmclient.Dial(context.Background(), f.ws, &wasmclient.Options{
		Layers:   layers,
		Throttle: time.Millisecond,
		OnChange: func(ch wasmclient.Change) {
			w.mu.Lock()
			w.tiles = append(w.tiles, ch.Tiles...)
			w.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w.Client = c
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SetView(ctx, 0, box, zoom); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *watcher) tileChanges() []wire.TileChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wire.TileChange(nil), w.tiles...)
}

// sees waits until the client holds exactly the markers want (ids), and
// returns them.
func (w *watcher) sees(t testing.TB, want ...string) map[string]wire.Marker {
	t.Helper()
	sort.Strings(want)
	var got map[string]wire.Marker
	servertest.Eventually(t, 5*time.Second, func() string {
		got = w.Markers()
		if g := servertest.IDs(got); strings.Join(g, ",") != strings.Join(want, ",") {
			return "client holds " + strings.Join(g, ",") + ", want " + strings.Join(want, ",")
		}
		return ""
	})
	return got
}

// keys returns keys of every layer with the secrets.
func keys(secrets ...string) []ingest.Key {
	out := make([]ingest.Key, len(secrets))
	for i, s := range secrets {
		out[i] = ingest.Key{Secret: s}
	}
	return out
}
