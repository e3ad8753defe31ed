package feeditem

import (
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkDecodeMsgpack decodes a feed body of 7,000 markers as the load
// benchmark's feed sends them (id, layer, lon, lat, version, time): the
// work the ingest does before the server's lock, per feed batch.
func BenchmarkDecodeMsgpack(b *testing.B) {
	items := make([]map[string]any, 7000)
	for i := range items {
		items[i] = map[string]any{"id": fmt.Sprint("v", i), "layer": "fleet", "lon": 2.35 + float64(i)*1e-5,
			"lat": 48.85 - float64(i)*1e-5, "version": uint32(i + 1), "time": int64(1764000000000 + i)}
	}
	body, err := msgpack.Marshal(items)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMsgpack(body, 10000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(items)), "ns/item")
}
