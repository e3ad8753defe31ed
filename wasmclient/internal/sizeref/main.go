// Command sizeref is the yardstick for the size of pushmap's .wasm: the
// smallest program that dials a WebSocket with coder/websocket and encodes
// MessagePack with msgpack/v5, the way the browser client was first built.
// BenchmarkWasmSize builds it beside pushmap-wasm and compares the two.
package main

import (
	"context"
	"os"

	"github.com/coder/websocket"
	"github.com/vmihailenco/msgpack/v5"
)

func main() {
	ws, _, err := websocket.Dial(context.Background(), os.Getenv("URL"), nil)
	if err != nil {
		return
	}
	b, _ := msgpack.Marshal([]any{1, "hello"})
	ws.Write(context.Background(), websocket.MessageBinary, b)
	ws.Close(websocket.StatusNormalClosure, "")
}
