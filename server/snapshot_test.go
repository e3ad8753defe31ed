package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

// TestSnapshotRestore: Snapshot lists every marker with its version, props
// and absolute expiry; Restore on another server puts them back exactly, and a client of that server sees them. A marker
// whose expiry passed between the two is not restored, and one restored
// with an expiry ends at the same wall time as the original.
func TestSnapshotRestore(t *testing.T) {
	from, _ := servertest.StartServer(t, nil)
	apply(t, from,
		server.Update{Marker: wire.Marker{ID: "bus", Layer: "transit", Pos: geo.Pt(2.35, 48.85), Version: 7, Props: map[string]any{"line": "42"}}},
		server.Update{Marker: wire.Marker{ID: "sensor", Pos: geo.Pt(2.3, 48.8)}, TTL: time.Hour},
		server.Update{Marker: wire.Marker{ID: "v0", Pos: geo.Pt(2.4, 48.9)}, HasVersion: true},
		server.Update{Marker: wire.Marker{ID: "brief", Pos: geo.Pt(2.5, 48.9)}, TTL: 300 * time.Millisecond},
	)
	snap := from.Snapshot()
	if len(snap) != 4 {
		t.Fatalf("snapshot of %d markers, want 4", len(snap))
	}
	byID := map[string]server.StoredMarker{}
	for _, sm := range snap {
		byID[sm.Marker.ID] = sm
	}
	if sm := byID["sensor"]; sm.Expires.Before(time.Now().Add(59*time.Minute)) || sm.Expires.After(time.Now().Add(time.Hour)) {
		t.Errorf("sensor expires at %v, want in an hour", sm.Expires)
	}
	if sm := byID["bus"]; sm.Marker.Version != 7 || sm.Marker.Props["line"] != "42" || !sm.Expires.IsZero() {
		t.Errorf("bus: %+v", sm)
	}

	time.Sleep(400 * time.Millisecond) // brief's expiry passes while "stored"
	to, url := servertest.StartServer(t, nil)
	if err := to.Restore(snap); err != nil {
		t.Fatal(err)
	}
	got := to.Snapshot()
	ids := make([]string, 0, len(got))
	for _, sm := range got {
		ids = append(ids, sm.Marker.ID)
		want := byID[sm.Marker.ID]
		if sm.Marker.Version != want.Marker.Version || sm.Marker.Pos != want.Marker.Pos || !sm.Expires.Equal(want.Expires) {
			t.Errorf("%s restored as %+v, want %+v", sm.Marker.ID, sm, want)
		}
	}
	slices.Sort(ids)
	if strings.Join(ids, " ") != "bus sensor v0" {
		t.Errorf("restored %v, want bus sensor v0 (brief expired meanwhile)", ids)
	}
	if st := to.Stats(); st.Expired != 0 || st.Markers != 3 {
		t.Errorf("restoring server: %d expired, %d markers; want 0 and 3", st.Expired, st.Markers)
	}
	// Restored again: every update is stale, nothing changes.
	if err := to.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if st := to.Stats(); st.Stale != 3 {
		t.Errorf("restoring twice: %d stale, want 3", st.Stale)
	}

	r := dialRecorder(t, url, "client")
	if err := r.SetView(context.Background(), 0, geo.BBox(2, 48, 3, 49), 10); err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, 5*time.Second, func() string {
		if ids := servertest.IDs(r.Markers()); strings.Join(ids, " ") != "bus sensor v0" {
			return "the client holds " + strings.Join(ids, " ")
		}
		return ""
	})
}

// TestRestoreExpiry: a restored marker expires at its absolute time; one
// already expired removes the marker it would update (counted in
// Stats.Expired) unless it is stale, and restores nothing.
func TestRestoreExpiry(t *testing.T) {
	srv, _ := servertest.StartServer(t, nil)
	restore := func(m wire.Marker, expires time.Time) {
		t.Helper()
		if err := srv.Restore([]server.StoredMarker{{Marker: m, Expires: expires}}); err != nil {
			t.Fatal(err)
		}
	}
	restore(wire.Marker{ID: "soon", Pos: geo.Pt(1, 1)}, time.Now().Add(100*time.Millisecond))
	waitExpired(t, srv, "soon")

	apply(t, srv, server.Update{Marker: wire.Marker{ID: "m", Pos: geo.Pt(1, 1), Version: 3}})
	restore(wire.Marker{ID: "m", Pos: geo.Pt(2, 2), Version: 2}, time.Now().Add(-time.Second))
	if _, ok := srv.Marker("m"); !ok {
		t.Fatal("a stale expired marker removed m")
	}
	restore(wire.Marker{ID: "m", Pos: geo.Pt(2, 2), Version: 4}, time.Now().Add(-time.Second))
	if _, ok := srv.Marker("m"); ok {
		t.Fatal("m, restored already expired, is still there")
	}
	restore(wire.Marker{ID: "never", Pos: geo.Pt(2, 2)}, time.Now().Add(-time.Second))
	if _, ok := srv.Marker("never"); ok {
		t.Fatal("a marker restored already expired is there")
	}
	if st := srv.Stats(); st.Expired != 2 || st.Markers != 0 {
		t.Errorf("Stats: %d expired, %d markers; want 2 and 0", st.Expired, st.Markers)
	}
	if err := srv.Restore([]server.StoredMarker{{Marker: wire.Marker{ID: "", Pos: geo.Pt(1, 1)}}}); err == nil {
		t.Error("a marker without an id was restored")
	}
}
