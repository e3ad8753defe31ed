package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pushmap/pushmap/cmd/pushmap/internal/synth"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wasmclient"
)

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mover records, per layer, whether a marker was seen to move: an update
// with a version above the first.
type mover struct {
	mu    sync.Mutex
	moved map[string]bool
	both  chan struct{} // closed once both synth layers moved
}

func (m *mover) onChange(ch wasmclient.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mk := range ch.Updated {
		if mk.Version > 1 {
			m.moved[mk.Layer] = true
		}
	}
	if m.both != nil && m.moved[synth.LayerFlights] && m.moved[synth.LayerVehicles] {
		close(m.both)
		m.both = nil
	}
}

func TestDemo(t *testing.T) {
	const page = "<!doctype html><title>pushmap test page</title>"
	dir := t.TempDir()
	writeFile(t, dir, "index.html", page)
	r := start(t, "demo", "--addr", "127.0.0.1:0", "--web", dir,
		"--flights", "20", "--vehicles", "20", "--interval", "50ms", "--seed", "3")

	if code, body := get(t, r.url); code != http.StatusOK || body != page {
		t.Errorf("GET /: %d %q, want 200 and index.html", code, body)
	}
	if code, body := get(t, r.url+"healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz: %d %q", code, body)
	}
	if want := "pushmap demo: open " + r.url + "\n"; r.stdout.String() != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}

	both := make(chan struct{})
	m := &mover{moved: map[string]bool{}, both: both}
	onStatus, gone := goingAway()
	ctx := context.Background()
	c, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), &wasmclient.Options{OnChange: m.onChange, OnStatus: onStatus})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(ctx, 0, geo.World, 1); err != nil {
		t.Fatal(err)
	}
	<-both // markers of both layers moved

	layers := map[string]int{}
	for _, mk := range c.Markers() {
		layers[mk.Layer]++
	}
	if layers[synth.LayerFlights] != 20 || layers[synth.LayerVehicles] != 20 || len(layers) != 2 {
		t.Errorf("markers per layer %v, want 20 flights and 20 vehicles", layers)
	}
	if st := getStats(t, r.url); st.Markers != 40 || st.Connections != 1 || st.Delivered == 0 {
		t.Errorf("stats %+v, want 40 markers, 1 connection, some delivered", st)
	}

	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	<-gone
}

func TestDemoWithoutPage(t *testing.T) {
	empty := t.TempDir()
	indexDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(indexDir, "index.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, dir string }{
		{"missing directory", filepath.Join(empty, "dist")},
		{"no index.html", empty},
		{"index.html is a directory", indexDir},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, stdout, stderr := testCLI(map[string]string{"PUSHMAP_WEB": tt.dir})
			x.listen = nil // must not be called
			if code := x.run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0"}); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			for _, s := range []string{"demo page is missing", "index.html", "make demo"} {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}
