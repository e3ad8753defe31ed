package fleet

import "testing"

func BenchmarkPos(b *testing.B) {
	f, err := New(Options{}, []Stage{{Markers: 10000, Ticks: 10}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink float64
	for i := 0; b.Loop(); i++ {
		sink += f.Pos(uint32(i%10000), uint32(i%1000+1)).Lon
	}
	_ = sink
}
