package wal_test

import (
	"fmt"
	"testing"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/wal"
	"github.com/pushmap/pushmap/wire"
)

// BenchmarkApply is a feed's batch of 1,000 moves of 10,000 markers applied
// to a server with no client: in memory, and through the log with each
// fsync policy. One op is one batch, the time an HTTP ingest request waits
// for it; the difference is what --data-dir adds per batch.
func BenchmarkApply(b *testing.B) {
	const markers, batch = 10000, 1000
	for _, mode := range []string{"memory", "fsync-always", "fsync-interval"} {
		b.Run(mode, func(b *testing.B) {
			srv, err := server.New(&server.Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			apply := srv.Apply
			if mode != "memory" {
				policy := wal.FsyncAlways
				if mode == "fsync-interval" {
					policy = wal.FsyncInterval
				}
				l, err := wal.Open(srv, wal.Options{Dir: b.TempDir(), Fsync: policy, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				apply = l.Apply
			}
			updates := make([]server.Update, batch)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := range updates {
					k := (i*batch + j) % markers
					updates[j] = server.Update{Marker: wire.Marker{ID: fmt.Sprintf("m%d", k), Layer: "fleet",
						Pos: at(2.2+float64(k%100)*1e-3+float64(i%50)*1e-5, 48.8+float64(k/100)*1e-3), Props: map[string]any{"line": "42"}}}
				}
				if err := apply(updates); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(batch) // "MB/s" reads as millions of updates per second
		})
	}
}
