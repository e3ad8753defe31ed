package target

import (
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestBrokerFeed checks that a baseline broker takes the ingest's upserts
// and refuses what it cannot do, rather than dropping it silently.
func TestBrokerFeed(t *testing.T) {
	var got []wire.Marker
	f := brokerFeed{func(ms []wire.Marker) error { got = append(got, ms...); return nil }}
	up := server.Update{Marker: wire.Marker{ID: "a", Pos: geo.Pt(1, 2), Version: 3}}
	if err := f.Apply([]server.Update{up}); err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("an upsert: %v, published %v", err, got)
	}
	for name, u := range map[string]server.Update{
		"remove": {Marker: wire.Marker{ID: "a"}, Remove: true},
		"ttl":    {Marker: up.Marker, TTL: time.Second},
	} {
		if err := f.Apply([]server.Update{up, u}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if len(got) != 1 {
		t.Errorf("a refused batch published %d markers", len(got)-1)
	}
	if f.InvalidateBox("x", geo.World) == nil || func() error { _, err := f.MarkersPage(server.MarkersQuery{Box: geo.World}); return err }() == nil {
		t.Error("tile invalidation or polling accepted by a broker")
	}
}
