package wire_test

import (
	"testing"

	"github.com/pushmap/pushmap/wire"
)

// TestExtraTrailingElements: every message docs/protocol.md says may grow
// trailing elements decodes with one more, which is skipped.
func TestExtraTrailingElements(t *testing.T) {
	for _, m := range []wire.Message{
		wire.Hello{Version: 1, Layers: []string{"a"}, MaxFrameBytes: 1 << 20, Declutter: true}, // all five fields: the extra is the sixth
		wire.View{ID: 1, Zoom: 3},
		wire.Unview{ID: 2},
		wire.Layers{Layers: []string{"a", ""}},
		wire.Welcome{Version: 1, Budget: 5, MaxViews: 4, ViewRate: 20, ViewBurst: 40, MaxFrameBytes: 100, ClusterZoom: 14},
		wire.UnviewAck{ID: 3},
		wire.Error{Code: wire.CodeRateLimited, Message: "slow down"},
		wire.Refresh{Token: "t"},
		wire.RefreshAck{Expires: 1},
	} {
		frame, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if frame[0] < 0x90 || frame[0] >= 0x9f {
			t.Fatalf("%T: frame %x does not open with a fixarray", m, frame)
		}
		frame[0]++                            // one more element...
		frame = append(frame, 0xa2, 'n', 'w') // ...a string
		got, err := wire.Unmarshal(frame)
		if err != nil {
			t.Errorf("%T with an extra element: %v", m, err)
			continue
		}
		if got.Type() != m.Type() {
			t.Errorf("%T with an extra element decoded as %T", m, got)
		}
	}
}

// TestResetClusterZoom: a reset's view array in cluster mode carries the
// zoom of its clusters as its eighth element; without it (a server before
// it) the zoom is -1, unknown; elements after it are skipped.
func TestResetClusterZoom(t *testing.T) {
	view := []byte{0xcb, 0, 0, 0, 0, 0, 0, 0, 0} // float 0
	viewArray := func(n byte, flags byte, extra ...byte) []byte {
		b := []byte{0x90 | n, 0x03}
		for range 5 {
			b = append(b, view...)
		}
		b = append(b, flags)
		return append(b, extra...)
	}
	frame := func(v []byte) []byte { return append([]byte{0x93, 19, 0, 0x91}, v...) }
	cases := []struct {
		name      string
		frame     []byte
		clustered bool
		zoom      int
	}{
		{"marker mode", frame(viewArray(7, 0)), false, 0},
		{"cluster mode at zoom 9", frame(viewArray(8, 8, 9)), true, 9},
		{"cluster mode, zoom not said", frame(viewArray(7, 8)), true, -1},
		{"cluster mode, a later element", frame(viewArray(9, 8, 12, 0xa1, 'x')), true, 12},
		{"marker mode, a later element", frame(viewArray(8, 0, 0xa1, 'x')), false, 0},
	}
	for _, c := range cases {
		msg, err := wire.Unmarshal(c.frame)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		r := msg.(wire.Reset)
		if len(r.Views) != 1 || r.Views[0].ID != 3 {
			t.Errorf("%s: views %+v", c.name, r.Views)
		}
		clustered := len(r.Clustered) == 1 && r.Clustered[0]
		if clustered != c.clustered || clustered && r.ClusterZooms[0] != c.zoom {
			t.Errorf("%s: clustered %v, zooms %v; want %v at %d", c.name, r.Clustered, r.ClusterZooms, c.clustered, c.zoom)
		}
	}
	// Encoded: eight elements for a view in cluster mode, seven otherwise.
	b, err := wire.Marshal(wire.Reset{Views: []wire.View{{ID: 1}, {ID: 2}}, Clustered: []bool{false, true}, ClusterZooms: []int{0, 11}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := wire.Unmarshal(b)
	if r := msg.(wire.Reset); err != nil || r.Clustered[0] || !r.Clustered[1] || r.ClusterZooms[1] != 11 {
		t.Errorf("round trip: %+v, %v", msg, err)
	}
}
