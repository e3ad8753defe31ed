package feeditem

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestMsgpackKeysAndLayers: keys are read without keeping them, layers
// are given back when repeated; both must survive names of any length and
// layers that alternate.
func TestMsgpackKeysAndLayers(t *testing.T) {
	long := strings.Repeat("L", 40)
	layers := []string{"a", "bb", "a", long, long, "", "a"}
	var items []map[string]any
	for i, l := range layers {
		items = append(items, map[string]any{"id": fmt.Sprint(i), "layer": l, "lon": 1, "lat": 2})
	}
	body, _ := msgpack.Marshal(items)
	updates, err := DecodeMsgpack(body, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range updates {
		if u.Marker.Layer != layers[i] || u.Marker.ID != fmt.Sprint(i) {
			t.Fatalf("item %d: id %q layer %q, want %d and %q", i, u.Marker.ID, u.Marker.Layer, i, layers[i])
		}
	}
	key := strings.Repeat("k", 50)
	body, _ = msgpack.Marshal(map[string]any{"id": "x", "lon": 1, "lat": 2, key: 3})
	if _, err := DecodeMsgpack(body, 0); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("a long unknown key gave %v, want it named", err)
	}
}
