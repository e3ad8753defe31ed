package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wasmclient"
)

// wsURL returns the WebSocket URL of path on the server at base.
func wsURL(base, path string) string {
	return "ws" + strings.TrimPrefix(base, "http") + strings.TrimPrefix(path, "/")
}

// goingAway returns OnStatus and a channel closed when OnStatus reports a
// connection that ended with 1001 (going away).
func goingAway() (func(wasmclient.Status), <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func(s wasmclient.Status) {
		if s.Code == int(websocket.StatusGoingAway) {
			once.Do(func() { close(ch) })
		}
	}, ch
}

func TestServe(t *testing.T) {
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--log-level", "debug")

	if code, body := get(t, r.url+"healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz: %d %q, want 200 \"ok\"", code, body)
	}
	if code, _ := get(t, r.url); code != http.StatusNotFound {
		t.Errorf("GET / without --web: status %d, want 404", code)
	}

	onStatus, gone := goingAway()
	ctx := context.Background()
	c, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), &wasmclient.Options{OnStatus: onStatus})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(ctx, 0, geo.World, 1); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Markers()); n != 0 {
		t.Errorf("client holds %d markers, want 0: serve has no feed", n)
	}
	st := getStats(t, r.url)
	if st.Connections != 1 || st.Accepted != 1 || st.Views != 1 || st.Markers != 0 {
		t.Errorf("stats %+v, want 1 connection, 1 accepted, 1 view, no markers", st)
	}
	if st.UptimeSeconds < 0 {
		t.Errorf("uptime %v", st.UptimeSeconds)
	}

	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d after cancel, want 0", code)
	}
	<-gone // the server closed the client with 1001
	for _, s := range []string{"msg=listening", `msg="shutting down"`, "msg=stopped"} {
		if !strings.Contains(r.stderr.String(), s) {
			t.Errorf("log lacks %s", s)
		}
	}
}

func TestServeOptions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "hello.txt", "hello")
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--ws-path", "/live/ws", "--log-format", "json", "--web", dir)

	if code, body := get(t, r.url+"hello.txt"); code != http.StatusOK || body != "hello" {
		t.Errorf("GET /hello.txt: %d %q", code, body)
	}
	onStatus, gone := goingAway()
	ctx := context.Background()
	c, err := wasmclient.Dial(ctx, wsURL(r.url, "/live/ws"), &wasmclient.Options{OnStatus: onStatus})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The view's ack proves the server has registered the connection: a
	// client is welcomed before that, and a Shutdown at that moment would
	// not close it with 1001 (a server race, reported).
	if err := c.SetView(ctx, 0, geo.World, 1); err != nil {
		t.Fatal(err)
	}
	if st := getStats(t, r.url); st.Connections != 1 {
		t.Errorf("stats %+v, want 1 connection", st)
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	<-gone
	if !strings.Contains(r.stderr.String(), `"msg":"listening"`) {
		t.Errorf("log is not JSON:\n%s", r.stderr)
	}
}

func TestServeErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"web missing", []string{"serve", "--web", "/nonexistent/pushmap"}, 1, "--web"},
		{"web is a file", []string{"serve", "--web", "main.go"}, 1, "not a directory"},
		{"bad flag", []string{"serve", "--max-views", "0"}, 2, "-max-views"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _, stderr := testCLI(nil)
			if code := x.run(context.Background(), tt.args); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestServeAddrInUse(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	x, _, stderr := testCLI(nil)
	addr := strings.TrimPrefix(hs.URL, "http://")
	if code := x.run(context.Background(), []string{"serve", "--addr", addr}); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "cannot listen") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestHealthzWhileStopping(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep := &endpoints{srv: srv}
	for _, tt := range []struct {
		stopping bool
		code     int
		body     string
	}{{false, 200, "ok"}, {true, 503, "shutting down"}} {
		ep.stopping.Store(tt.stopping)
		w := httptest.NewRecorder()
		ep.healthz(w, httptest.NewRequest("GET", "/healthz", nil))
		if w.Code != tt.code || w.Body.String() != tt.body {
			t.Errorf("stopping %v: %d %q, want %d %q", tt.stopping, w.Code, w.Body, tt.code, tt.body)
		}
	}
}

// TestReadyzWhileStopping: a node shutting down is not ready.
func TestReadyzWhileStopping(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep := &endpoints{srv: srv}
	ep.stopping.Store(true)
	w := httptest.NewRecorder()
	ep.readyz(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || w.Body.String() != "shutting down" {
		t.Errorf("readyz while stopping: %d %q, want 503 \"shutting down\"", w.Code, w.Body)
	}
}

func TestStatsJSON(t *testing.T) {
	st := server.Stats{Connections: 2, TooSlow: 3, ViewChanges: 4}
	got := statsJSON(st, 1500*time.Millisecond)
	want := map[string]any{"connections": 2, "tooSlow": int64(3), "viewChanges": int64(4), "uptimeSeconds": 1.5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v (%T), want %v (%T)", k, got[k], got[k], v, v)
		}
	}
	if n := reflect.TypeFor[server.Stats]().NumField() + 1; len(got) != n {
		t.Errorf("%d keys, want %d: %v", len(got), n, got)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ asked, bound, want string }{
		{"localhost:8080", "127.0.0.1:8080", "http://localhost:8080/"},
		{"127.0.0.1:0", "127.0.0.1:41234", "http://127.0.0.1:41234/"},
		{":8080", "[::]:8080", "http://localhost:8080/"},
		{"0.0.0.0:0", "0.0.0.0:5000", "http://localhost:5000/"},
		{"[::1]:0", "[::1]:5000", "http://[::1]:5000/"},
		{"example.org:80", "192.0.2.1:80", "http://example.org:80/"},
	}
	for _, tt := range tests {
		addr := fakeAddr(tt.bound)
		if got := baseURL(tt.asked, addr); got != tt.want {
			t.Errorf("baseURL(%q, %s) = %q, want %q", tt.asked, tt.bound, got, tt.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
