package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed/redistest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wasmclient"
	"github.com/pushmap/pushmap/wire"
)

// request sends method url with body and header, and returns the status,
// the response's headers and its body.
func request(t *testing.T, method, url, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

// sampleLine is one sample of the Prometheus text format.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)

// scrape fetches /metrics with header and returns its samples by name and
// labels ("pushmap_refusals_total{reason=\"origin\"}"), failing on a line
// that is not the text format or a sample whose family has no TYPE line.
func scrape(t *testing.T, base string, header http.Header) map[string]float64 {
	t.Helper()
	code, h, body := request(t, "GET", base+"metrics", "", header)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s: %s", code, h.Get("Content-Type"), body)
	}
	typed := map[string]bool{}
	out := map[string]float64{}
	for line := range strings.SplitSeq(strings.TrimSpace(body), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(f)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		name := m[1]
		if strings.HasPrefix(name, "pushmap_") {
			family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !typed[name] && !typed[family] {
				t.Errorf("sample %q has no TYPE line before it", line)
			}
		}
		out[name+m[2]] = v
	}
	return out
}

// TestMetricsFollowTraffic scrapes a real node's /metrics before and after
// real traffic: a client, a feed's posts (one refused), a client refused
// because the server is full.
func TestMetricsFollowTraffic(t *testing.T) {
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", "feed", "--max-connections", "1")
	before := scrape(t, r.url, nil)
	for _, name := range []string{"pushmap_connections", "pushmap_markers", "pushmap_deliveries_total", `pushmap_refusals_total{reason="server_full"}`, "go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s before any traffic", name)
		}
	}

	ctx := context.Background()
	c, err := wasmclient.Dial(ctx, wsURL(r.url, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetView(ctx, 0, geo.World, 1); err != nil {
		t.Fatal(err)
	}
	body := `[{"id": "a", "layer": "cars", "lon": 1, "lat": 1}, {"id": "b", "layer": "cars", "lon": 2, "lat": 2}, {"id": "c", "layer": "bikes", "lon": 3, "lat": 3}]`
	json := http.Header{"Content-Type": {"application/json"}}
	json.Set("Authorization", "Bearer feed")
	if code, _, b := request(t, "POST", r.url+"feed/markers", body, json); code != http.StatusOK {
		t.Fatalf("POST /feed/markers: %d %s", code, b)
	}
	if code, _, _ := request(t, "POST", r.url+"feed/markers", body, bearer("wrong")); code != http.StatusForbidden {
		t.Fatalf("POST /feed/markers with a wrong key: %d, want 403", code)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if n := len(c.Markers()); n != 3 {
			return fmt.Sprintf("client holds %d markers, want 3", n)
		}
		return ""
	})
	ws, _, err := websocket.Dial(ctx, wsURL(r.url, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Connections count against --max-connections at their hello.
	hello, err := wire.Marshal(wire.Hello{Version: wire.Version})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, hello); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("a second client with --max-connections 1: %v, want 1013", err)
	}
	ws.CloseNow()

	var after map[string]float64
	servertest.Eventually(t, 5*time.Second, func() string { // the refused connection is let go after its close
		if after = scrape(t, r.url, nil); after["pushmap_connections_pre_hello"] != 0 {
			return "the refused connection still counts as waiting for its hello"
		}
		return ""
	})
	want := map[string]float64{
		"pushmap_connections":                          1,
		"pushmap_views":                                1,
		"pushmap_markers":                              3,
		`pushmap_layer_markers{layer="cars"}`:          2,
		`pushmap_layer_markers{layer="bikes"}`:         1,
		`pushmap_refusals_total{reason="server_full"}`: 1,
		`pushmap_feed_requests_total{route="POST /feed/markers",status="200"}`: 1,
		`pushmap_feed_requests_total{route="POST /feed/markers",status="403"}`: 1,
		`pushmap_feed_request_seconds_count{route="POST /feed/markers"}`:       2,
		"pushmap_apply_seconds_count":                                          1,
		"pushmap_applied_updates_total":                                        3,
		"pushmap_deliveries_total":                                             before["pushmap_deliveries_total"] + 3,
		"pushmap_connections_accepted_total":                                   1, // the refused one is not
		"pushmap_connections_pre_hello":                                        0,
	}
	for name, v := range want {
		if after[name] != v {
			t.Errorf("%s = %v, want %v", name, after[name], v)
		}
	}
	for _, name := range []string{"pushmap_sent_frames_total", "pushmap_sent_bytes_total"} {
		if after[name] <= before[name] {
			t.Errorf("%s did not grow with traffic: %v, then %v", name, before[name], after[name])
		}
	}
	if after["pushmap_apply_seconds_sum"] <= 0 {
		t.Errorf("pushmap_apply_seconds_sum = %v", after["pushmap_apply_seconds_sum"])
	}
}

// TestOpsAuth checks who may read /stats and /metrics under each rule of
// --ops-keys, and that /healthz and /readyz stay public.
func TestOpsAuth(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		header http.Header
		code   int
		want   string // in the body of a refusal
	}{
		{"no auth anywhere: public", nil, nil, 200, ""},
		{"client tokens, no ops keys: refused", []string{"--client-tokens", "tok"}, nil, 403, "--ops-keys"},
		{"client tokens, no ops keys, a client token: refused", []string{"--client-tokens", "tok"}, bearer("tok"), 403, "--ops-keys"},
		{"ops keys, no key sent", []string{"--ops-keys", "op1,op2"}, nil, 401, "needs an ops key"},
		{"ops keys, a wrong key", []string{"--ops-keys", "op1,op2"}, bearer("op3"), 403, "not one of --ops-keys"},
		{"ops keys, not bearer", []string{"--ops-keys", "op1"}, http.Header{"Authorization": {"Basic b3Ax"}}, 401, "needs an ops key"},
		{"ops keys, a right key", []string{"--ops-keys", "op1,op2"}, bearer("op2"), 200, ""},
		{"ops keys and client tokens, a client token", []string{"--ops-keys", "op1", "--client-tokens", "tok"}, bearer("tok"), 403, "not one of --ops-keys"},
		{"ops keys and client tokens, a right key", []string{"--ops-keys", "op1", "--client-tokens", "tok"}, bearer("op1"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
			for _, path := range []string{"stats", "metrics"} {
				code, h, body := request(t, "GET", r.url+path, "", tt.header)
				if code != tt.code {
					t.Errorf("GET /%s: %d, want %d: %s", path, code, tt.code, body)
				}
				if tt.code != 200 && (!strings.Contains(body, tt.want) || strings.Contains(body, "pushmap_") || strings.Contains(body, "connections")) {
					t.Errorf("GET /%s refused with %q, want it to say %q and reveal nothing", path, body, tt.want)
				}
				if (tt.code == 401) != (h.Get("WWW-Authenticate") != "") {
					t.Errorf("GET /%s: %d with WWW-Authenticate %q", path, code, h.Get("WWW-Authenticate"))
				}
			}
			for path, want := range map[string]string{"healthz": "ok", "readyz": "ready"} {
				if code, _, body := request(t, "GET", r.url+path, "", nil); code != 200 || body != want {
					t.Errorf("GET /%s: %d %q, want 200 %q", path, code, body, want)
				}
			}
		})
	}
}

// TestReadyzFollowsRedis: with --redis, /readyz is 503 while Redis is
// down, and 200 again once it is back; /healthz stays 200.
func TestReadyzFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--redis", rs.URL)
	ready := func(want int, body string) {
		t.Helper()
		servertest.Eventually(t, 20*time.Second, func() string {
			if code, _, b := request(t, "GET", r.url+"readyz", "", nil); code != want || b != body {
				return fmt.Sprintf("GET /readyz: %d %q, want %d %q", code, b, want, body)
			}
			return ""
		})
	}
	ready(200, "ready")
	rs.Stop()
	ready(503, "redis unreachable")
	if code, _, _ := request(t, "GET", r.url+"healthz", "", nil); code != 200 {
		t.Errorf("GET /healthz with Redis down: %d, want 200 (alive)", code)
	}
	rs.Restart()
	ready(200, "ready")
	if code := r.stop(); code != 0 {
		t.Errorf("exit status %d", code)
	}
	log := r.stderr.String()
	if !strings.Contains(log, `msg="not ready" reason="redis unreachable"`) || !strings.Contains(log, `msg="ready again"`) {
		t.Errorf("the log does not tell the changes of readiness:\n%s", log)
	}
}

// TestOperationsDoc checks docs/operations.md against the binary: every
// flag of serve and demo is in it, and its metrics table lists exactly the
// pushmap_ metrics a node with every feed exports.
func TestOperationsDoc(t *testing.T) {
	doc := readDoc(t, "operations.md")
	for _, cmd := range []string{"serve", "demo"} {
		for _, d := range new(config).flags(cmd) {
			if !strings.Contains(doc, "`--"+d.name+"`") {
				t.Errorf("docs/operations.md does not mention `--%s` (pushmap %s)", d.name, cmd)
			}
		}
	}

	rs := redistest.Start(t)
	r := start(t, "serve", "--addr", "127.0.0.1:0", "--feed-keys", "feed", "--redis", rs.URL)
	rs.CLI("XADD", "pushmap:updates", "*", "id", "a", "lon", "1", "lat", "1")
	if code, _, b := request(t, "POST", r.url+"feed/markers", `{"id": "b", "lon": 1, "lat": 1}`,
		http.Header{"Authorization": {"Bearer feed"}, "Content-Type": {"application/json"}}); code != 200 {
		t.Fatalf("POST /feed/markers: %d %s", code, b)
	}
	exported := map[string]bool{}
	servertest.Eventually(t, 10*time.Second, func() string {
		for name := range scrape(t, r.url, nil) {
			name, _, _ = strings.Cut(name, "{")
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if strings.HasSuffix(name, "_seconds"+suffix) {
					name = strings.TrimSuffix(name, suffix)
				}
			}
			if strings.HasPrefix(name, "pushmap_") {
				exported[name] = true
			}
		}
		if !exported["pushmap_redis_delay_seconds"] {
			return "the Redis entry was not applied"
		}
		if !exported["pushmap_redis_lag_entries"] { // asked for after the entries are applied
			return "the consumer group's lag was not read yet"
		}
		return ""
	})
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(pushmap_[a-z_]+)` \\|").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	for name := range exported {
		if !documented[name] {
			t.Errorf("%s is exported but not in the metrics table of docs/operations.md", name)
		}
	}
	for name := range documented {
		if !exported[name] {
			t.Errorf("docs/operations.md lists %s, which the node does not export", name)
		}
	}
}

// readDoc returns docs/name, read from the repository's docs directory.
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
