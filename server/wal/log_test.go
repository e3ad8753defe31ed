package wal_test

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/wal"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens a Log in dir over a new server, closed when the test ends.
func open(t *testing.T, dir string, opts wal.Options) (*server.Server, *wal.Log) {
	t.Helper()
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	opts.Dir, opts.Logger = dir, quiet
	l, err := wal.Open(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return srv, l
}

// dump returns every marker of srv by id.
func dump(srv *server.Server) map[string]server.StoredMarker {
	out := map[string]server.StoredMarker{}
	for _, r := range srv.Snapshot() {
		out[r.Marker.ID] = r
	}
	return out
}

func same(t *testing.T, got, want map[string]server.StoredMarker) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d markers restored, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("marker %q is missing", id)
		}
		if !reflect.DeepEqual(g.Marker, w.Marker) || !g.Expires.Equal(w.Expires) {
			t.Fatalf("marker %q restored as\n%+v\nwant\n%+v", id, g, w)
		}
	}
}

func at(lon, lat float64) geo.Point { return geo.Point{Lon: lon, Lat: lat} }

// TestRestart: after Close and Open the markers are back with the versions
// the server gave them, their props, and their absolute expiry; removed
// markers stay removed; a ttl that ran out during the downtime is gone.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	srv, l := open(t, dir, wal.Options{})
	steps := [][]server.Update{
		{{Marker: wire.Marker{ID: "a", Layer: "bus", Pos: at(1.5, 2.25), Props: map[string]any{"line": "42", "n": int64(-3), "f": 1.5, "ok": true}}}},
		{{Marker: wire.Marker{ID: "a", Layer: "bus", Pos: at(1.6, 2.25), Time: 1700000000000}}, {Marker: wire.Marker{ID: "b", Pos: at(3, 4), Version: 41}}},
		{{Marker: wire.Marker{ID: "c", Pos: at(5, 6)}, TTL: time.Hour}, {Marker: wire.Marker{ID: "zero", Pos: at(5, 6)}, HasVersion: true}},
		{{Marker: wire.Marker{ID: "d", Pos: at(7, 8)}}, {Marker: wire.Marker{ID: "d"}, Remove: true}},
		{{Marker: wire.Marker{ID: "short", Pos: at(9, 9)}, TTL: 100 * time.Millisecond}},
		{{Marker: wire.Marker{ID: "b", Pos: at(0, 0), Version: 40}}}, // stale: ignored
	}
	for _, s := range steps {
		if err := l.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(srv)
	delete(want, "short")
	if want["a"].Marker.Version != 2 || want["b"].Marker.Version != 41 || want["b"].Marker.Pos.Lon != 3 {
		t.Fatalf("the server did not apply the version rules the test expects: %+v", want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(steps[0]); err != wal.ErrClosed {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	time.Sleep(150 * time.Millisecond) // "short" expires while nothing runs

	srv2, l2 := open(t, dir, wal.Options{})
	same(t, dump(srv2), want)
	if st := l2.Stats(); st.Restored != len(want) {
		t.Errorf("Stats.Restored = %d, want %d", st.Restored, len(want))
	}
	// The restored server goes on with the same versions.
	if err := l2.Apply([]server.Update{{Marker: wire.Marker{ID: "a", Pos: at(1, 1)}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := srv2.Stored("a"); r.Marker.Version != 3 {
		t.Errorf("a's next version after the restart is %d, want 3", r.Marker.Version)
	}
}

// TestTornTail: a record cut short at the end of the log (a crash while it
// was written) is dropped at Open, which restores everything before it and
// goes on; a CRC mismatch there is the same. Damage before the end of the
// log is an error.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		wantErr string
	}{
		{"cut header", func(b []byte) []byte { return append(b, 9, 0, 0) }, ""},
		{"cut body", func(b []byte) []byte { return append(b, 200, 0, 0, 0, 1, 2, 3, 4, 5, 6) }, ""},
		{"bad CRC at the end", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			srv, l := open(t, dir, wal.Options{})
			for i := range 5 {
				if err := l.Apply([]server.Update{{Marker: wire.Marker{ID: fmt.Sprint("m", i), Pos: at(float64(i), 0)}}}); err != nil {
					t.Fatal(err)
				}
			}
			want := dump(srv)
			delete(want, "m4") // the last record, damaged below when its CRC is
			if !strings.Contains(tc.name, "CRC") {
				want = dump(srv)
			}
			l.Close()
			seg := lastSegment(t, dir)
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			srv2, l2 := open(t, dir, wal.Options{})
			same(t, dump(srv2), want)
			// It appends after the truncation, and opens again.
			if err := l2.Apply([]server.Update{{Marker: wire.Marker{ID: "after", Pos: at(1, 1)}}}); err != nil {
				t.Fatal(err)
			}
			want = dump(srv2)
			l2.Close()
			srv3, _ := open(t, dir, wal.Options{})
			same(t, dump(srv3), want)
		})
	}

	t.Run("damage before the end", func(t *testing.T) {
		dir := t.TempDir()
		_, l := open(t, dir, wal.Options{})
		for i := range 3 {
			if err := l.Apply([]server.Update{{Marker: wire.Marker{ID: fmt.Sprint("m", i), Pos: at(1, 1)}}}); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		seg := lastSegment(t, dir)
		b, _ := os.ReadFile(seg)
		b[10] ^= 0xff // inside the first record
		os.WriteFile(seg, b, 0o600)
		// A later segment makes the damaged one not the last.
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("wal-%020d.log", 1<<40)), nil, 0o600)
		srv, err := server.New(&server.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		_, err = wal.Open(srv, wal.Options{Dir: dir, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "CRC") {
			t.Fatalf("Open of a log damaged before its end: err = %v, want one saying it is damaged", err)
		}
	})
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	var last string
	for _, s := range segs {
		if st, _ := os.Stat(s); st.Size() > 0 {
			last = s
		}
	}
	if last == "" {
		t.Fatalf("no segment with records in %s", dir)
	}
	return last
}

// TestSnapshotsBoundTheLog: with small SnapshotBytes, snapshots are taken
// while feeds write concurrently, old segments are deleted, and a restart
// restores exactly what the server held, removals included.
func TestSnapshotsBoundTheLog(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	srv, l := open(t, dir, wal.Options{SnapshotBytes: 16 << 10})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for range 300 {
				batch := make([]server.Update, 1+rng.IntN(20))
				for i := range batch {
					id := fmt.Sprint("m", rng.IntN(200))
					if rng.IntN(10) == 0 {
						batch[i] = server.Update{Marker: wire.Marker{ID: id}, Remove: true}
						continue
					}
					batch[i] = server.Update{Marker: wire.Marker{ID: id, Pos: at(rng.Float64()*360-180, rng.Float64()*170-85),
						Props: map[string]any{"g": int64(g)}}}
					if rng.IntN(5) == 0 {
						batch[i].TTL = time.Hour
					}
				}
				if err := l.Apply(batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if err := l.Snapshot(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	want := dump(srv)
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Snapshots < 4 || st.Syncs == 0 || st.Syncs > st.Batches {
		t.Errorf("stats %+v: want at least 4 snapshots and fewer fsyncs than batches", st)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
	if len(snaps) != 1 || len(segs) > 2 {
		t.Errorf("after snapshots: %d snapshots and %d segments remain, want 1 and at most 2", len(snaps), len(segs))
	}
	srv2, _ := open(t, dir, wal.Options{})
	same(t, dump(srv2), want)
}

// TestIntervalSurvivesClose: with FsyncInterval an acknowledged write is
// in the log at once (a process crash keeps it); Close syncs it.
func TestIntervalSurvivesClose(t *testing.T) {
	dir := t.TempDir()
	srv, l := open(t, dir, wal.Options{Fsync: wal.FsyncInterval, Interval: 10 * time.Millisecond})
	for i := range 50 {
		if err := l.Apply([]server.Update{{Marker: wire.Marker{ID: fmt.Sprint("m", i%7), Pos: at(float64(i), 0)}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(srv)
	// Read the log while l is open, as a restart after kill -9 would.
	srv2, l2 := open(t, copyDir(t, dir), wal.Options{})
	same(t, dump(srv2), want)
	l2.Close()
	l.Close()
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(to, e.Name()), b, 0o600)
	}
	return to
}

// TestRefusedBatchIsNotLogged: an invalid batch or one outside the feed's
// layers is refused by the server and leaves no trace in the log.
func TestRefusedBatchIsNotLogged(t *testing.T) {
	dir := t.TempDir()
	_, l := open(t, dir, wal.Options{})
	if err := l.Apply([]server.Update{{Marker: wire.Marker{ID: "x", Pos: at(500, 0)}}}); err == nil {
		t.Fatal("an invalid marker was accepted")
	}
	if err := l.ApplyLayers([]string{"a"}, []server.Update{{Marker: wire.Marker{ID: "x", Layer: "b", Pos: at(1, 0)}}}); err == nil {
		t.Fatal("a marker outside the feed's layers was accepted")
	}
	if st := l.Stats(); st.Batches != 0 || st.Bytes != 0 {
		t.Errorf("refused batches were logged: %+v", st)
	}
}

func TestParseFsync(t *testing.T) {
	for in, want := range map[string]wal.Fsync{"always": wal.FsyncAlways, "interval": wal.FsyncInterval} {
		if got, err := wal.ParseFsync(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseFsync(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := wal.ParseFsync("sometimes"); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("ParseFsync(sometimes): err = %v, want one naming the value", err)
	}
}

// TestOneLogPerDir: a second Open of a directory in use fails, naming it,
// and succeeds once the first Log is closed.
func TestOneLogPerDir(t *testing.T) {
	dir := t.TempDir()
	_, l := open(t, dir, wal.Options{})
	srv, err := server.New(&server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if l2, err := wal.Open(srv, wal.Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "in use") {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("a second Open of %s: err = %v, want one saying it is in use", dir, err)
	}
	l.Close()
	l2, err := wal.Open(srv, wal.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l2.Close()
}
