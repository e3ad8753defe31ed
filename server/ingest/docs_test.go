package ingest_test

import (
	"github.com/pushmap/pushmap/internal/pushmaptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// TestCurlExample runs docs/examples/curl.sh against a live server: a
// client over Paris sees exactly the markers it should, and the tile
// invalidation reaches it.
func TestCurlExample(t *testing.T) {
	script := pushmaptest.DocExample(t, "curl.sh")
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_REDIS") == "1" {
			t.Fatal("curl is not installed (apt-get install -y curl)")
		}
		t.Skip("curl is not installed (apt-get install -y curl)")
	}
	f := start(t, nil)
	c := watch(t, f, geo.BBox(2.25, 48.81, 2.42, 48.90), 12)
	cmd := exec.Command("sh", script)
	cmd.Env = append(os.Environ(), "PUSHMAP_URL="+f.feed, "PUSHMAP_FEED_KEY="+feedKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	t.Logf("%s", out)
	for _, want := range []string{`{"applied":2}`, `"viewers":1}]`, `[{"id":"bus-42","layer":"vehicles","lon":2.3522,"lat":48.8566,"version":1,"props":{"line":"42"}}]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output does not show %s", want)
		}
	}
	got := c.sees(t, "bus-42")["bus-42"]
	if got.Props["line"] != "42" || got.Pos != wire.Quantize(inView) {
		t.Fatalf("client holds %+v", got)
	}
	if all := pushmaptest.IDs(f.snapshot()); strings.Join(all, " ") != "bus-42 tram-7" {
		t.Fatalf("server holds %v", all)
	}
	pushmaptest.Eventually(t, 5*time.Second, func() string {
		for _, tc := range c.tileChanges() {
			if tc.Layer == "traffic" && tc.Z == 12 {
				return ""
			}
		}
		return "no traffic tile change reached the client"
	})
}
