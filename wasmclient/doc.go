// Package wasmclient is pushmap's client: it connects to a pushmap server,
// tells it what its map shows, and keeps a local cache of exactly the
// markers inside its views, reconnecting by itself.
//
// One API, two builds: the package compiles natively (a Go program, a test
// or the load generator can be a client) and with GOOS=js GOARCH=wasm, where
// the browser's WebSocket carries the frames. The JavaScript bindings live in
// the js&&wasm build of cmd/pushmap-wasm; everything else is shared.
//
// # Wasm
//
// In the browser, Dial uses the browser's WebSocket: dial options such as
// HTTP headers do not apply (the token travels in the Hello message), and
// callbacks run on the single JavaScript thread, so they must return quickly.
package wasmclient
