package wire_test

import (
	"testing"

	"github.com/pushmap/pushmap/wire"
)

// TestExtraTrailingElements: every message docs/protocol.md says may grow
// trailing elements decodes with one more, which is skipped.
func TestExtraTrailingElements(t *testing.T) {
	for _, m := range []wire.Message{
		wire.Hello{Version: 1, Layers: []string{"a"}, MaxFrameBytes: 1 << 20}, // all four fields: the extra is the fifth
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
