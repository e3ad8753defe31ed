// Package logengine measures the candidates for pushmap's write-ahead log
// (--data-dir) at the rate, 60,000 updates/s in batches of 1,000:
// a plain append-only file, go.etcd.io/bbolt and cockroachdb/pebble, each
// making every batch durable (fsync) before the next. It lives in the bench
// module so that the engines that lose stay out of pushmap's go.mod.
//
//	cd bench && go test -run '^$' -bench . -benchtime 300x ./internal/logengine
//
// One op is one batch: its ns/op is the latency a feed's acknowledgement
// waits for the log; 16.7 ms/op is the most that sustains 60 batches/s.
package logengine

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble"
	bolt "go.etcd.io/bbolt"
)

const (
	batchSize = 1000
	markers   = 100_000 // ids updates are drawn from
)

// record is one update as the log would hold it: id, position, version,
// expiry and a small props map, about 70 bytes encoded.
func record(rng *rand.Rand, seq uint64) (key, val []byte) {
	id := fmt.Sprintf("vehicle-%06d", rng.IntN(markers))
	val = binary.AppendUvarint(nil, seq)
	val = binary.LittleEndian.AppendUint64(val, rng.Uint64()) // lon, lat
	val = binary.LittleEndian.AppendUint64(val, uint64(1e18)) // expiry
	val = append(val, `{"speed":42,"route":"7"}`...)
	return []byte(id), val
}

// batch returns one batch of batchSize records, keys and values.
func batch(rng *rand.Rand, seq *uint64) (keys, vals [][]byte, framed []byte) {
	keys, vals = make([][]byte, batchSize), make([][]byte, batchSize)
	var body []byte
	for i := range batchSize {
		*seq++
		keys[i], vals[i] = record(rng, *seq)
		body = binary.AppendUvarint(body, uint64(len(keys[i])))
		body = append(body, keys[i]...)
		body = binary.AppendUvarint(body, uint64(len(vals[i])))
		body = append(body, vals[i]...)
	}
	framed = binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	framed = binary.LittleEndian.AppendUint32(framed, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return keys, vals, append(framed, body...)
}

func prepared(b *testing.B) (keys, vals, framed [][][]byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	var seq uint64
	const n = 64 // distinct batches, reused round-robin
	for range n {
		k, v, f := batch(rng, &seq)
		keys, vals, framed = append(keys, k), append(vals, v), append(framed, [][]byte{f})
	}
	b.SetBytes(int64(len(framed[0][0])))
	return keys, vals, framed
}

// BenchmarkFile appends each batch as one framed record (length, CRC-32C,
// body) to a plain file with one write, then fsyncs (sync) or fdatasyncs
// (datasync) it.
func BenchmarkFile(b *testing.B) {
	for _, mode := range []string{"sync", "datasync"} {
		b.Run(mode, func(b *testing.B) {
			_, _, framed := prepared(b)
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "wal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.Write(framed[i%len(framed)][0]); err != nil {
					b.Fatal(err)
				}
				if mode == "sync" {
					err = f.Sync()
				} else {
					err = syscall.Fdatasync(int(f.Fd()))
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBolt commits each batch in one bbolt transaction (bbolt fsyncs
// every commit): as one value under the batch's sequence number (the log
// use), or as batchSize puts of id → record (the store use: the engine
// holding every marker, no snapshots needed).
func BenchmarkBolt(b *testing.B) {
	for _, mode := range []string{"batch-value", "per-marker"} {
		b.Run(mode, func(b *testing.B) {
			keys, vals, framed := prepared(b)
			db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			bucket := []byte("log")
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				err := db.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists(bucket)
					if err != nil {
						return err
					}
					if mode == "batch-value" {
						return bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), framed[i%len(framed)][0])
					}
					j := i % len(keys)
					for k := range keys[j] {
						if err := bk.Put(keys[j][k], vals[j][k]); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPebble commits each batch in one pebble batch with pebble.Sync
// (its own WAL, fsynced): as one value, or as batchSize sets.
func BenchmarkPebble(b *testing.B) {
	for _, mode := range []string{"batch-value", "per-marker"} {
		b.Run(mode, func(b *testing.B) {
			keys, vals, framed := prepared(b)
			db, err := pebble.Open(filepath.Join(b.TempDir(), "pebble"), &pebble.Options{Logger: quiet{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				bt := db.NewBatch()
				if mode == "batch-value" {
					bt.Set(binary.BigEndian.AppendUint64(nil, uint64(i)), framed[i%len(framed)][0], nil)
				} else {
					j := i % len(keys)
					for k := range keys[j] {
						bt.Set(keys[j][k], vals[j][k], nil)
					}
				}
				if err := bt.Commit(pebble.Sync); err != nil {
					b.Fatal(err)
				}
				bt.Close()
			}
		})
	}
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
