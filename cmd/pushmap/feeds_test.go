package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/wasmclient"
)

// TestServeFeeds runs serve with the HTTP ingest, the Redis emitter and
// client tokens on, and checks a marker from each feed reaches a client.
func TestServeFeeds(t *testing.T) {
	rs := redistest.Start(t)
	dir := t.TempDir()
	writeFile(t, dir, "keys", "# feed keys\nfile-key\n\n")
	keys := filepath.Join(dir, "keys")
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", "flag-key", "--feed-keys-file", keys,
		"--client-tokens", "browser-token", "--redis", rs.URL, "--redis-stream", "test:updates")

	ctx := context.Background()
	if _, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), &wasmclient.Options{Token: "feed-key"}); err == nil {
		t.Fatal("a client without a valid token connected")
	}
	c, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), &wasmclient.Options{Token: "browser-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(ctx, 0, geo.BBox(0, 0, 10, 10), 5); err != nil {
		t.Fatal(err)
	}

	for i, key := range []string{"flag-key", "file-key", "wrong"} {
		body := fmt.Sprintf(`{"id": "http-%d", "layer": "a", "lon": 1, "lat": 1}`, i)
		req, _ := http.NewRequest("POST", r.url+"feed/markers", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := http.StatusOK
		if key == "wrong" {
			want = http.StatusForbidden
		}
		if res.StatusCode != want {
			t.Fatalf("POST /feed/markers with %q: %d, want %d", key, res.StatusCode, want)
		}
	}
	rs.CLI("XADD", "test:updates", "*", "id", "redis-0", "layer", "a", "lon", "2", "lat", "2")

	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := c.Markers()
		_, a := ms["http-0"]
		_, b := ms["http-1"]
		_, red := ms["redis-0"]
		_, wrong := ms["http-2"]
		if wrong {
			t.Fatal("a marker posted with a wrong key arrived")
		}
		if a && b && red {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client holds %v, want http-0, http-1 and redis-0", ms)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
