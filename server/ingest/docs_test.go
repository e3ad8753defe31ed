package ingest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// docExample returns the text of docs/examples/name after checking that
// docs/feeds.md shows it verbatim, so the guide never drifts from what the
// tests run.
func docExample(t *testing.T, name string) string {
	t.Helper()
	docs := filepath.Join("..", "..", "docs")
	example, err := os.ReadFile(filepath.Join(docs, "examples", name))
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
	return filepath.Join(docs, "examples", name)
}

// TestCurlExample runs docs/examples/curl.sh against a live server: a
// client over Paris sees exactly the markers it should, and the tile
// invalidation reaches it.
func TestCurlExample(t *testing.T) {
	script := docExample(t, "curl.sh")
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
	if all := ids(f.snapshot()); strings.Join(all, " ") != "bus-42 tram-7" {
		t.Fatalf("server holds %v", all)
	}
	eventually(t, 5*time.Second, func() string {
		for _, tc := range c.tileChanges() {
			if tc.Layer == "traffic" && tc.Z == 12 {
				return ""
			}
		}
		return "no traffic tile change reached the client"
	})
}
