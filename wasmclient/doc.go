// Package wasmclient is pushmap's client: it connects to a pushmap server,
// tells it what its map shows, and keeps a local cache of exactly the
// markers inside its views, reconnecting by itself.
//
// One API, two builds: the package compiles natively (a Go program, a test
// or the load generator can be a client) and with GOOS=js GOARCH=wasm, where
// the browser's WebSocket carries the frames. Only two files differ: the
// transport (conn_native.go on coder/websocket, conn_js.go on the browser's
// WebSocket through syscall/js) and the JavaScript bindings (bindings_js.go,
// RegisterJS, which cmd/pushmap-wasm calls); everything else is shared.
//
// # Wasm
//
// In the browser, Dial uses the browser's WebSocket: dial options such as
// HTTP headers do not apply (the token travels in the Hello message), and
// callbacks run on the single JavaScript thread, so they must return quickly.
//
// The browser build is kept small (TestWasmSize holds it to a budget):
// nothing it links may import fmt, reflect, net/http or msgpack/v5
// (TestWasmLeavesOut), which is why wire, geo and this package build their
// error texts with strconv.
package wasmclient
