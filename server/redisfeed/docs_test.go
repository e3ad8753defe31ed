package redisfeed_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/internal/doctest"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// need skips the test, or fails it under PUSHMAP_REQUIRE_REDIS=1, when a
// tool is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("PUSHMAP_REQUIRE_REDIS") == "1" {
		t.Fatal(what)
	}
	t.Skip(what)
}

// TestRedisCLIExample runs docs/examples/redis-cli.sh: a client over Paris
// sees exactly the markers in its view.
func TestRedisCLIExample(t *testing.T) {
	script := doctest.Example(t, "redis-cli.sh")
	_, err := exec.LookPath("redis-cli")
	need(t, err == nil, "redis-cli is not installed (apt-get install -y redis-tools)")
	f := start(t)
	c := f.run(t, nil)
	view := f.watch(t, paris, 12)
	run(t, exec.Command("sh", script), f.redis.URL)
	f.handled(t, c, 4)
	bus := sees(t, view, "bus-42")["bus-42"]
	if bus.Version != 1 || bus.Time != 1700000000000 || bus.Props["line"] != "42" {
		t.Fatalf("client holds %+v", bus)
	}
	if got := servertest.IDs(f.snapshot()); strings.Join(got, " ") != "bus-42 tram-7" {
		t.Fatalf("server holds %v", got)
	}
}

// TestPythonExample runs docs/examples/feed.py as docs/feeds.md says, with
// Debian's python3-redis:
// the client sees exactly the markers in its view, and the late retry with
// an older version changed nothing.
func TestPythonExample(t *testing.T) {
	doctest.Example(t, "feed.py")
	// The command the guide shows, run as shown: with a python3 first on
	// PATH that lacks the module, "python3 feed.py" fails.
	args := doctest.Command(t, "feed.py")
	need(t, exec.Command(args[0], "-c", "import redis").Run() == nil,
		args[0]+" cannot import redis (apt-get install -y python3-redis)")
	f := start(t)
	c := f.run(t, nil)
	view := f.watch(t, paris, 12)
	run(t, exec.Command(args[0], args[1:]...), f.redis.URL)
	f.handled(t, c, 12)
	bus := sees(t, view, "bus-12")["bus-12"]
	if bus.Pos != wire.Quantize(geo.Pt(2.3364, 48.8606)) || bus.Props["line"] != "12" || bus.Props["delay_s"] != int64(40) {
		t.Fatalf("client holds %+v", bus)
	}
	all := f.snapshot()
	if len(all) != 11 || all["sensor-9"].Layer != "sensors" {
		t.Fatalf("server holds %v", servertest.IDs(all))
	}
	if st := f.srv.Stats(); st.Stale != 1 {
		t.Fatalf("%d stale updates, want the late retry", st.Stale)
	}
}

func run(t *testing.T, cmd *exec.Cmd, redisURL string) {
	t.Helper()
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	t.Logf("%s", out)
}
