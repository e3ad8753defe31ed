//go:build !js

package wasmclient_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// TestWasm runs TestAgainstServer compiled to WebAssembly in Node, against
// a real server started here: the client's code path in the browser build
// (conn_js.go on Node's WebSocket, as on the browser's) talks to the real server.
func TestWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tests for js/wasm")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Apply(server.Upserts(wire.Marker{ID: "in", Pos: geo.Pt(1, 1)}, wire.Marker{ID: "out", Pos: geo.Pt(50, 50)}))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	// Move "in" once the wasm client's view arrived.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for srv.Stats().ViewChanges == 0 {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		srv.Upsert(wire.Marker{ID: "in", Pos: geo.Pt(2, 2)})
	}()

	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	wasmDir := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm")
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestAgainstServer$", "-v",
		"-exec", filepath.Join(wasmDir, "go_js_wasm_exec"), ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm",
		"PATH="+wasmDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NODE_OPTIONS=--experimental-websocket",
		"PUSHMAP_TEST_URL=ws"+strings.TrimPrefix(hs.URL, "http"))
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("wasm test: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestAgainstServer") {
		t.Fatal("TestAgainstServer did not run and pass in wasm")
	}
}
