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
