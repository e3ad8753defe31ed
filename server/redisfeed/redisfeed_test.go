package redisfeed_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestRedisCLI: updates written with redis-cli reach exactly the clients
// that see them.
func TestRedisCLI(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	inParis := f.watch(t, paris, 12)
	inLyon := f.watch(t, geo.BBox(4.7, 45.7, 4.9, 45.8), 12)
	f.xadd(t, "id", "bus-42", "layer", "vehicles", "lon", "2.3522", "lat", "48.8566",
		"version", "7", "time", "1700000000000", "ttl", "300", "props", `{"line": "42", "low_floor": true}`)
	f.xadd(t, "id", "tram-7", "layer", "vehicles", "lon", "4.8357", "lat", "45.7640")
	f.xadd(t, "json", `[{"id": "taxi-9", "lon": 2.2945, "lat": 48.8584}, {"id": "boat-1", "lon": -0.1, "lat": 51.5}]`)
	f.xadd(t, "id", "gone", "lon", "2.3", "lat", "48.85")
	f.xadd(t, "id", "gone", "op", "remove")
	f.handled(t, c, 5)

	got := sees(t, inParis, "bus-42", "taxi-9")["bus-42"]
	want := wire.Marker{ID: "bus-42", Layer: "vehicles", Pos: wire.Quantize(geo.Pt(2.3522, 48.8566)), Version: 7,
		Time: 1700000000000, Props: map[string]any{"line": "42", "low_floor": true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("client got %+v\nwant %+v", got, want)
	}
	sees(t, inLyon, "tram-7")
	if got := servertest.IDs(f.snapshot()); strings.Join(got, " ") != "boat-1 bus-42 taxi-9 tram-7" {
		t.Fatalf("server holds %v", got)
	}
	st := c.Stats()
	if st.Applied != 6 || st.Bad != 0 || st.Entries != 5 || st.LastID == "" {
		t.Fatalf("stats %+v", st)
	}
}

// TestDownAndBack: updates written while the consumer is stopped are
// applied when it comes back.
func TestDownAndBack(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	view := f.watch(t, paris, 12)
	f.xadd(t, "id", "a", "lon", "2.30", "lat", "48.85")
	sees(t, view, "a")
	f.handled(t, c, 1)
	f.stop(t)

	// Written while nobody reads.
	f.xadd(t, "id", "b", "lon", "2.31", "lat", "48.86")
	f.xadd(t, "id", "a", "lon", "4.83", "lat", "45.76") // leaves the view
	f.xadd(t, "id", "c", "lon", "4.84", "lat", "45.77")
	time.Sleep(100 * time.Millisecond)
	if got := servertest.IDs(view.Markers()); len(got) != 1 || got[0] != "a" {
		t.Fatalf("while stopped, the client holds %v", got)
	}

	c = f.run(t, nil)
	sees(t, view, "b")
	f.handled(t, c, 3)
	if got := f.snapshot(); len(got) != 3 || got["a"].Pos != wire.Quantize(geo.Pt(4.83, 45.76)) {
		t.Fatalf("server holds %v", got)
	}
	if st := c.Stats(); st.Redelivered != 0 || st.Entries != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPoison: bad entries are logged with their id and reason, counted and
// acknowledged, and the good ones around them applied.
func TestPoison(t *testing.T) {
	f := start(t)
	view := f.watch(t, paris, 12)
	bad := []struct {
		fields []string
		reason string
	}{
		{[]string{"layer", "x", "lon", "2.3", "lat", "48.8"}, "missing id"},
		{[]string{"id", "far", "lon", "181", "lat", "0"}, "lon 181 is outside [-180, 180]"},
		{[]string{"id", "nan", "lon", "2.3", "lat", "NaN"}, "lat NaN is not a number"},
		{[]string{"id", "word", "lon", "east", "lat", "1"}, `lon "east": want a number of degrees`},
		{[]string{"id", "nopos"}, "missing lon and lat"},
		{[]string{"id", "typo", "lng", "2.3", "lat", "48.8"}, `unknown field "lng"`},
		{[]string{"id", "op", "lon", "2.3", "lat", "48.8", "op", "move"}, `op "move": want "upsert" or "remove"`},
		{[]string{"id", "ttl", "lon", "2.3", "lat", "48.8", "ttl", "-1"}, "ttl -1 is not a number of seconds"},
		{[]string{"id", "ver", "lon", "2.3", "lat", "48.8", "version", "-3"}, `version "-3": want an integer ≥ 0`},
		{[]string{"id", "props", "lon", "2.3", "lat", "48.8", "props", "[1]"}, "props"},
		{[]string{"json", `{"id": "j", "lon": 2.3}`}, "json: 1 item is invalid"},
		{[]string{"json", `{"id": `}, "json: malformed JSON"},
		{[]string{"json", `{"id": "j", "lon": 2.3, "lat": 48.8}`, "id", "k"}, "json field must have no other field"},
	}
	f.xadd(t, "id", "first", "lon", "2.30", "lat", "48.85")
	for _, b := range bad {
		f.xadd(t, b.fields...)
	}
	f.xadd(t, "id", "last", "lon", "2.31", "lat", "48.85")
	c := f.run(t, &redisfeed.Options{Batch: 5})
	sees(t, view, "first", "last")
	f.handled(t, c, int64(len(bad)+2))
	if st := c.Stats(); st.Bad != int64(len(bad)) || st.Applied != 2 {
		t.Fatalf("stats %+v, want %d bad and 2 applied", st, len(bad))
	}
	f.nonePending(t)
	logs := f.logs.String()
	for _, b := range bad {
		if !strings.Contains(logs, b.reason) {
			t.Errorf("the logs do not say %q:\n%s", b.reason, logs)
		}
	}
}

// TestPoisonFlood: a batch full of bad entries logs a few and counts all.
func TestPoisonFlood(t *testing.T) {
	f := start(t)
	var script strings.Builder
	for i := range 30 {
		fmt.Fprintf(&script, "XADD pushmap:updates * id bad-%d\n", i)
	}
	script.WriteString("XADD pushmap:updates * id good lon 1 lat 1\n")
	f.redis.CLIInput(script.String())
	c := f.run(t, nil)
	f.handled(t, c, 31)
	if st := c.Stats(); st.Bad != 30 || st.Applied != 1 {
		t.Fatalf("stats %+v", st)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "bad entry acknowledged and skipped"); n != 10 {
		t.Errorf("%d bad entries logged, want 10, the cap per batch", n)
	}
	if !strings.Contains(logs, "more bad entries in this batch were not logged") || !strings.Contains(logs, "bad=30 logged=10") {
		t.Errorf("no summary of the bad entries not logged:\n%s", logs)
	}
	f.nonePending(t)
}

// TestRedelivery: entries read but not acknowledged before a crash are
// applied when the consumer comes back; applying them twice is harmless
// thanks to versions.
func TestRedelivery(t *testing.T) {
	f := start(t)
	view := f.watch(t, paris, 12)
	f.redis.CLI("XGROUP", "CREATE", "pushmap:updates", "pushmap", "0", "MKSTREAM")
	f.xadd(t, "id", "bus", "lon", "2.30", "lat", "48.85", "version", "1")
	f.xadd(t, "id", "bus", "lon", "2.31", "lat", "48.85", "version", "2")
	f.xadd(t, "id", "car", "lon", "2.32", "lat", "48.85")
	// A consumer named "test" reads them (they become its pending
	// entries), applies them, and crashes before XACK.
	f.redis.CLI("XREADGROUP", "GROUP", "pushmap", "test", "COUNT", "10", "STREAMS", "pushmap:updates", ">")
	err := f.srv.Apply([]server.Update{
		{Marker: wire.Marker{ID: "bus", Pos: geo.Pt(2.30, 48.85), Version: 1}},
		{Marker: wire.Marker{ID: "bus", Pos: geo.Pt(2.31, 48.85), Version: 2}},
		{Marker: wire.Marker{ID: "car", Pos: geo.Pt(2.32, 48.85)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sees(t, view, "bus", "car")
	f.xadd(t, "id", "bus", "lon", "2.33", "lat", "48.85", "version", "3")

	c := f.run(t, nil)
	f.handled(t, c, 4)
	st := c.Stats()
	if st.Redelivered != 3 || st.Entries != 4 {
		t.Fatalf("stats %+v, want 3 redelivered of 4", st)
	}
	bus, _ := f.srv.Marker("bus")
	if bus.Pos != wire.Quantize(geo.Pt(2.33, 48.85)) || bus.Version != 3 {
		t.Fatalf("bus at %v version %d", bus.Pos, bus.Version)
	}
	if stale := f.srv.Stats().Stale; stale != 2 {
		t.Fatalf("%d stale updates, want the 2 versioned duplicates", stale)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if m := view.Markers()["bus"]; m.Version != 3 {
			return "the client holds bus version " + itoa(int64(m.Version))
		}
		return ""
	})
	f.nonePending(t)
}

// TestRedisRestart: when Redis goes away and comes back (empty), the
// consumer reconnects, recreates its group and goes on.
func TestRedisRestart(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	view := f.watch(t, paris, 12)
	f.xadd(t, "id", "a", "lon", "2.30", "lat", "48.85")
	sees(t, view, "a")
	f.redis.Restart()
	servertest.Eventually(t, 10*time.Second, func() string {
		if c.Stats().Errors == 0 {
			return "no Redis error seen"
		}
		return ""
	})
	// The new Redis is empty: the consumer recreates the group, from 0,
	// so this entry is applied even if it comes first.
	servertest.Eventually(t, 10*time.Second, func() string {
		if strings.Contains(f.redis.CLI("EXISTS", "pushmap:updates"), "1") {
			return ""
		}
		return "the group was not recreated"
	})
	f.xadd(t, "id", "b", "lon", "2.31", "lat", "48.85")
	sees(t, view, "a", "b")
}

// TestBatches: entries are applied in batches of Options.Batch, in stream
// order.
func TestBatches(t *testing.T) {
	f := start(t)
	args := []string{}
	for i := range 25 {
		args = append(args, "XADD", "pushmap:updates", "*", "id", "bus", "lon", "2.3", "lat", itoa(int64(i)))
	}
	// One redis-cli call per entry would be slow; send them in one go.
	var script strings.Builder
	for i := 0; i < len(args); i += 9 {
		script.WriteString(strings.Join(args[i:i+9], " ") + "\n")
	}
	f.redis.CLIInput(script.String())
	c := f.run(t, &redisfeed.Options{Batch: 10})
	f.handled(t, c, 25)
	if m, _ := f.srv.Marker("bus"); m.Pos.Lat != 24 || m.Version != 25 {
		t.Fatalf("bus at %v version %d, want lat 24 version 25", m.Pos, m.Version)
	}
	if n := strings.Count(f.logs.String(), "redisfeed: applied"); n != 3 {
		t.Fatalf("%d batches, want 3", n)
	}
}

func TestNew(t *testing.T) {
	srv, _ := server.New(nil)
	defer srv.Close()
	for _, tc := range []struct {
		name string
		url  string
		f    redisfeed.Applier
		opts *redisfeed.Options
		want string
	}{
		{"bad scheme", "http://localhost:6379", srv, nil, "invalid URL scheme"},
		{"bad url", "redis://[::1", srv, nil, "Redis URL"},
		{"nil applier", "redis://localhost:6379", nil, nil, "Applier is nil"},
		{"negative batch", "redis://localhost:6379", srv, &redisfeed.Options{Batch: -1}, "Batch"},
		{"negative block", "redis://localhost:6379", srv, &redisfeed.Options{Block: -time.Second}, "Block"},
	} {
		_, err := redisfeed.New(tc.url, tc.f, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err := redisfeed.Run(context.Background(), tc.url, tc.f, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run returned %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestRunOnce: Run refuses to run twice at once, and returns when its
// context ends even when Redis is unreachable.
func TestRunOnce(t *testing.T) {
	f := start(t)
	c := f.run(t, nil)
	f.handled(t, c, 0)
	servertest.Eventually(t, 5*time.Second, func() string {
		if f.redis.CLI("EXISTS", "pushmap:updates") != "1" {
			return "no stream yet"
		}
		return ""
	})
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run: %v", err)
	}
	f.stop(t)

	srv, _ := server.New(nil)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Port 1 on 127.0.0.1: nothing listens there.
	logs := &servertest.Buffer{}
	err := redisfeed.Run(ctx, "redis://127.0.0.1:1", srv, &redisfeed.Options{Consumer: "x", Logger: slog.New(&recorder{buf: logs})})
	if err != context.DeadlineExceeded {
		t.Fatalf("Run against no Redis returned %v, want the context's error", err)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Fatalf("the logs do not say why:\n%s", logs)
	}
}
