package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

// send makes a request with an optional bearer credential and returns its
// status.
func send(t *testing.T, method, url, bearer, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestServeReadPathsNeedCredential: with --client-tokens, GET /feed/markers
// and the density tiles need a credential (before, both were public:
// ?bbox=-180,-90,180,90 returned every marker of every layer); density
// tiles past the cluster zoom are refused; a feed key limited to a layer
// (--feed-keys secret:layer, in the file too) writes only that layer.
func TestServeReadPathsNeedCredential(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "keys", "# scoped\nfile-bus-key:buses\n")
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", "all-key,bus-key:buses+trams",
		"--feed-keys-file", filepath.Join(dir, "keys"), "--client-tokens", "browser-token", "--density-layer", "density")
	markers := r.url + "feed/markers"
	json := "application/json"
	if code := send(t, "POST", markers, "all-key", json, `{"id": "secret", "layer": "private", "lon": 2.35, "lat": 48.85}`); code != 200 {
		t.Fatalf("POST with a feed key of every layer: %d", code)
	}
	world := markers + "?bbox=-180,-90,180,90"
	tile := r.url + "tiles/density/" + geo.TileOf(geo.Pt(2.35, 48.85), 10).String() + ".png"
	for _, tc := range []struct {
		name, url, bearer string
		want              int
	}{
		{"markers without a credential", world, "", 401},
		{"markers with a wrong token", world, "nope", 403},
		{"markers with a client token", world, "browser-token", 200},
		{"markers with the token as a query parameter", world + "&access_token=browser-token", "", 200},
		{"density without a credential", tile, "", 401},
		{"density with a client token", tile, "browser-token", 200},
		{"density with the token as a query parameter", tile + "?access_token=browser-token", "", 200},
		{"density past the cluster zoom", r.url + "tiles/density/" + geo.TileOf(geo.Pt(2.35, 48.85), 24).String() + ".png", "browser-token", 404},
	} {
		if code := send(t, "GET", tc.url, tc.bearer, "", ""); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	for _, tc := range []struct {
		key, body string
		want      int
	}{
		{"bus-key", `{"id": "b1", "layer": "buses", "lon": 1, "lat": 1}`, 200},
		{"bus-key", `{"id": "t1", "layer": "trams", "lon": 1, "lat": 1}`, 200},
		{"bus-key", `{"id": "x", "layer": "private", "lon": 1, "lat": 1}`, 403},
		{"bus-key", `{"id": "secret", "remove": true}`, 403},
		{"file-bus-key", `{"id": "b2", "layer": "buses", "lon": 1, "lat": 1}`, 200},
		{"file-bus-key", `{"id": "t2", "layer": "trams", "lon": 1, "lat": 1}`, 403},
	} {
		if code := send(t, "POST", markers, tc.key, json, tc.body); code != tc.want {
			t.Errorf("POST %s with %s: %d, want %d", tc.body, tc.key, code, tc.want)
		}
	}
	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestServeBadKeys: a feed key that does not parse stops serve with status
// 2, naming the flag and the key's place, not the secret.
func TestServeBadKeys(t *testing.T) {
	for _, args := range [][]string{
		{"--feed-keys", "good,:buses"},
		{"--feed-keys", "k", "--read-keys", "r:" + strings.Repeat("x", 65)},
	} {
		x, _, stderr := testCLI(nil)
		if code := x.run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)); code != 2 {
			t.Errorf("%v: exit status %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "key ") || strings.Contains(stderr.String(), "good") {
			t.Errorf("%v: stderr %s", args, stderr)
		}
	}
}
