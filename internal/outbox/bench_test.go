package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkWrite compares a write bounded by the Watchdog with one bounded
// by a context per write (what the server did before), over a real
// loopback WebSocket whose client reads everything.
func BenchmarkWrite(b *testing.B) {
	ws, client := wsPair(b)
	go func() {
		for {
			if _, _, err := client.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	frame := make([]byte, 300) // a batch of about 8 ops
	frame[0] = 0x90

	b.Run("watchdog", func(b *testing.B) {
		w := NewWatchdog(10 * time.Second).NewWriter(ws)
		defer w.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := w.Write(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("context-per-write", func(b *testing.B) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, 10*time.Second)
			err := ws.Write(ctx, websocket.MessageBinary, frame)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDrainSmall measures Drain's own cost around the write of one
// small frame, the common case of a fan-out (issue 13: a frame of two ops
// per client per batch): taking the ops, coalescing them, building the
// batch frame and stopping; the write itself does nothing here.
func BenchmarkDrainSmall(b *testing.B) {
	var o Outbox
	o.Limit = 1 << 20
	keys := []Key{KeyOf("a"), KeyOf("b")}
	op := make([]byte, 20)
	write := func([]byte) error { return nil }
	for b.Loop() {
		for _, k := range keys {
			o.Put(k, op)
		}
		if err := o.Drain(write, 64<<10, nil); err != nil {
			b.Fatal(err)
		}
	}
}
