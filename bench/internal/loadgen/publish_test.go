package loadgen

import (
	"math"
	"reflect"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// TestAppendItem checks the feed items against a MessagePack decoder: the
// ingest reads them as maps.
func TestAppendItem(t *testing.T) {
	b := msgp.AppendArrayHeader(nil, 2)
	b = appendItem(b, 12345, geo.Pt(2.3456789, -48.8), 7, 1700000000123)
	b = appendItem(b, math.MaxUint32-1, geo.Pt(-180, 90), math.MaxUint32, -1)
	var got []map[string]any
	if err := msgpack.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"id": "v12345", "layer": "fleet", "lon": 2.3456789, "lat": -48.8, "version": uint32(7), "time": int64(1700000000123)},
		{"id": "v4294967294", "layer": "fleet", "lon": -180.0, "lat": 90.0, "version": uint32(math.MaxUint32), "time": int64(-1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if n := len(msgp.AppendArrayHeader(nil, 5000)); n != 3 {
		t.Errorf("header of 5000 items: %d bytes", n)
	}
}
