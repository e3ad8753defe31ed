package server_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// TestStoredAndSnapshot: Stored and Snapshot return each marker with the version
// the server gave it and the absolute time its TTL ends.
func TestStoredAndSnapshot(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	before := time.Now()
	err = srv.Apply([]server.Update{
		{Marker: wire.Marker{ID: "a", Pos: geo.Point{Lon: 1, Lat: 2}, Props: map[string]any{"k": "v"}}, TTL: time.Hour},
		{Marker: wire.Marker{ID: "b", Pos: geo.Point{Lon: 3, Lat: 4}, Version: 9}},
		{Marker: wire.Marker{ID: "a", Pos: geo.Point{Lon: 1, Lat: 2}}, TTL: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := srv.Stored("a")
	if !ok || a.Marker.Version != 2 || a.Expires.Before(before.Add(time.Hour)) || a.Expires.After(time.Now().Add(time.Hour)) {
		t.Errorf("Record(a) = %+v, %v; want version 2 expiring an hour after the apply", a, ok)
	}
	if _, ok := srv.Stored("nope"); ok {
		t.Error("Record of a missing marker says it exists")
	}
	got := map[string]server.StoredMarker{}
	for _, r := range srv.Snapshot() {
		got[r.Marker.ID] = r
	}
	if len(got) != 2 || got["b"].Marker.Version != 9 || !got["b"].Expires.IsZero() || !got["a"].Expires.Equal(a.Expires) {
		t.Errorf("Snapshot = %+v", got)
	}
}

// TestRestore: restored markers keep their versions and absolute expiry,
// records already expired are skipped, a connected client is told, and an
// invalid record restores nothing.
func TestRestore(t *testing.T) {
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := dialRecorder(t, "ws"+strings.TrimPrefix(hs.URL, "http"), "c")
	if err := c.SetView(context.Background(), 0, geo.Box{West: -10, South: -10, East: 10, North: 10}, 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client's view", func() bool { return srv.Stats().Views == 1 })

	soon := time.Now().Add(300 * time.Millisecond)
	err = srv.Restore([]server.StoredMarker{
		{Marker: wire.Marker{ID: "zero", Pos: geo.Point{Lon: 1, Lat: 1}, Version: 0}},
		{Marker: wire.Marker{ID: "v7", Pos: geo.Point{Lon: 2, Lat: 2}, Version: 7, Props: map[string]any{"n": int64(1)}}, Expires: time.Now().Add(time.Hour)},
		{Marker: wire.Marker{ID: "gone", Pos: geo.Point{Lon: 3, Lat: 3}, Version: 3}, Expires: time.Now().Add(-time.Second)},
		{Marker: wire.Marker{ID: "soon", Pos: geo.Point{Lon: 4, Lat: 4}, Version: 4}, Expires: soon},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := srv.Stored("zero"); !ok || r.Marker.Version != 0 {
		t.Errorf("zero = %+v, %v; want version 0", r, ok)
	}
	if r, ok := srv.Stored("v7"); !ok || r.Marker.Version != 7 || r.Marker.Props["n"] != int64(1) {
		t.Errorf("v7 = %+v, %v", r, ok)
	}
	if _, ok := srv.Stored("gone"); ok {
		t.Error("a record whose expiry had passed was restored")
	}
	if r, ok := srv.Stored("soon"); !ok || !r.Expires.Equal(soon) {
		t.Errorf("soon = %+v, %v; want it expiring at %v", r, ok, soon)
	}
	waitFor(t, "the client to get the restored markers", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.added) >= 3
	})
	waitFor(t, "soon to expire", func() bool { _, ok := srv.Stored("soon"); return !ok })

	// A version not above the stored one is skipped; an invalid record
	// restores nothing.
	if err := srv.Restore([]server.StoredMarker{{Marker: wire.Marker{ID: "v7", Pos: geo.Point{Lon: 5, Lat: 5}, Version: 7}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := srv.Stored("v7"); r.Marker.Pos.Lon != 2 {
		t.Errorf("an equal version replaced v7: %+v", r)
	}
	err = srv.Restore([]server.StoredMarker{
		{Marker: wire.Marker{ID: "new", Pos: geo.Point{Lon: 1, Lat: 1}}},
		{Marker: wire.Marker{ID: "bad", Pos: geo.Point{Lon: 500, Lat: 1}}},
	})
	if err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("Restore of an invalid record: err = %v, want one naming the second of 2", err)
	}
	if _, ok := srv.Stored("new"); ok {
		t.Error("a failed Restore restored a record")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
