package ingest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/doctest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestCurlExample runs docs/examples/curl.sh against a live server: a
// client over Paris sees exactly the markers it should, and the tile
// invalidation reaches it.
func TestCurlExample(t *testing.T) {
	script := doctest.Example(t, "curl.sh")
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
	if all := servertest.IDs(f.snapshot()); strings.Join(all, " ") != "bus-42 tram-7" {
		t.Fatalf("server holds %v", all)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		for _, tc := range c.tileChanges() {
			if tc.Layer == "traffic" && tc.Z == 12 {
				return ""
			}
		}
		return "no traffic tile change reached the client"
	})
}

// TestPythonMsgpackExample runs docs/examples/feed_msgpack.py as
// docs/feeds.md says, with Debian's python3-msgpack, against a live server:
// its MessagePack batch and removal reach a client.
func TestPythonMsgpackExample(t *testing.T) {
	doctest.Example(t, "feed_msgpack.py")
	args := doctest.Command(t, "feed_msgpack.py")
	if err := exec.Command(args[0], "-c", "import msgpack").Run(); err != nil {
		msg := args[0] + " cannot import msgpack (apt-get install -y python3-msgpack)"
		if os.Getenv("PUSHMAP_REQUIRE_REDIS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	f := start(t, nil)
	c := watch(t, f, geo.BBox(2.25, 48.81, 2.42, 48.90), 12)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PUSHMAP_URL="+f.feed, "PUSHMAP_FEED_KEY="+feedKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != `{"applied":3} {"applied":1}` {
		t.Errorf("the example printed %q, want the two answers", out)
	}
	bus := c.sees(t, "bus-42")["bus-42"]
	if bus.Props["line"] != "42" || bus.Props["low_floor"] != true || bus.Time == 0 || bus.Version != uint64(bus.Time) {
		t.Fatalf("client holds %+v", bus)
	}
	if all := servertest.IDs(f.snapshot()); strings.Join(all, " ") != "bus-42 tram-7" {
		t.Fatalf("server holds %v", all)
	}
}
