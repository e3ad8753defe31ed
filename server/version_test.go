package server_test

import (
	"math"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/servertest"
	"github.com/pushmap/pushmap/wire"
)

func apply(t *testing.T, srv *server.Server, us ...server.Update) {
	t.Helper()
	if err := srv.Apply(us); err != nil {
		t.Fatal(err)
	}
}

func versioned(id string, v uint64, p geo.Point, ttl time.Duration) server.Update {
	return server.Update{Marker: wire.Marker{ID: id, Pos: p, Version: v}, HasVersion: true, TTL: ttl}
}

// waitExpired waits until the marker probe, given a TTL at the same time as
// the update under test, has expired: every expiry due by then has run.
func waitExpired(t *testing.T, srv *server.Server, probe string) {
	t.Helper()
	servertest.Eventually(t, 5*time.Second, func() string {
		if _, ok := srv.Marker(probe); ok {
			return probe + " did not expire"
		}
		return ""
	})
}

// TestStaleUpdateKeepsExpiry: an ignored (stale) update changes nothing,
// not even the expiry. A late v9 with a short TTL must not delete the
// live v10; a late v9 without TTL must not make v10 (which has a TTL)
// permanent. Both through Apply, and the second through Upserts too.
func TestStaleUpdateKeepsExpiry(t *testing.T) {
	srv, _ := servertest.StartServer(t, nil)
	const short = 50 * time.Millisecond

	apply(t, srv, versioned("live", 10, geo.Pt(1, 1), 0))
	apply(t, srv, versioned("live", 9, geo.Pt(2, 2), short), versioned("probe", 1, geo.Pt(3, 3), short))
	waitExpired(t, srv, "probe")
	if m, ok := srv.Marker("live"); !ok || m.Version != 10 || m.Pos != geo.Pt(1, 1) {
		t.Fatalf("after a stale v9 with ttl: live is %+v, %v; want v10 at (1, 1), kept", m, ok)
	}

	apply(t, srv, versioned("mortal", 10, geo.Pt(1, 1), short))
	apply(t, srv, versioned("mortal", 9, geo.Pt(2, 2), 0))
	if err := srv.Apply(server.Upserts(wire.Marker{ID: "mortal", Pos: geo.Pt(2, 2), Version: 8})); err != nil {
		t.Fatal(err)
	}
	waitExpired(t, srv, "mortal")
	if st := srv.Stats(); st.Stale != 3 {
		t.Fatalf("stale %d, want 3", st.Stale)
	}
}

// TestVersionZero: version 0 is a version, not its absence. The issue's
// sequence: v0 at A, v1 at B, a late duplicate v0 at A, then v2 at C ends
// at C with version 2.
func TestVersionZero(t *testing.T) {
	srv, _ := servertest.StartServer(t, nil)
	a, b, c := geo.Pt(1, 1), geo.Pt(2, 2), geo.Pt(3, 3)
	apply(t, srv, versioned("m", 0, a, 0))
	if m, _ := srv.Marker("m"); m.Version != 0 || m.Pos != a {
		t.Fatalf("after v0: %+v, want v0 at A", m)
	}
	apply(t, srv, versioned("m", 1, b, 0))
	apply(t, srv, versioned("m", 0, a, 0))
	apply(t, srv, versioned("m", 2, c, 0))
	if m, _ := srv.Marker("m"); m.Version != 2 || m.Pos != c {
		t.Fatalf("got %+v, want version 2 at C", m)
	}
	if st := srv.Stats(); st.Stale != 1 {
		t.Fatalf("stale %d, want 1 (the late v0)", st.Stale)
	}
	// Without a version (the zero Update, or Upsert of a zero Version):
	// the next version.
	apply(t, srv, server.Update{Marker: wire.Marker{ID: "m", Pos: a}})
	if err := srv.Upsert(wire.Marker{ID: "m", Pos: b}); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Marker("m"); m.Version != 4 || m.Pos != b {
		t.Fatalf("got %+v, want version 4 at B", m)
	}
	apply(t, srv, server.Update{Marker: wire.Marker{ID: "new", Pos: a}})
	if m, _ := srv.Marker("new"); m.Version != 1 {
		t.Fatalf("a new marker without version: %+v, want version 1", m)
	}
}

// TestHighestVersion: a marker at version 2^64-1 does not wrap to 0 on
// an unversioned update: nothing is newer, so the update is stale, as any
// versioned one is. Removing the marker starts it over.
func TestHighestVersion(t *testing.T) {
	srv, _ := servertest.StartServer(t, nil)
	apply(t, srv, versioned("m", math.MaxUint64, geo.Pt(1, 1), 0))
	apply(t, srv, server.Update{Marker: wire.Marker{ID: "m", Pos: geo.Pt(2, 2)}})
	apply(t, srv, versioned("m", math.MaxUint64, geo.Pt(2, 2), 0))
	if m, _ := srv.Marker("m"); m.Version != math.MaxUint64 || m.Pos != geo.Pt(1, 1) {
		t.Fatalf("got %+v, want the marker unchanged at version 2^64-1", m)
	}
	if st := srv.Stats(); st.Stale != 2 {
		t.Fatalf("stale %d, want 2", st.Stale)
	}
	apply(t, srv, server.Update{Marker: wire.Marker{ID: "m"}, Remove: true}, server.Update{Marker: wire.Marker{ID: "m", Pos: geo.Pt(2, 2)}})
	if m, _ := srv.Marker("m"); m.Version != 1 || m.Pos != geo.Pt(2, 2) {
		t.Fatalf("after remove and upsert: %+v, want version 1", m)
	}
}
