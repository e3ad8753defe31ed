// Package wire is pushmap's protocol: the message types exchanged over the
// WebSocket and their MessagePack codec, shared by the server and the client.
//
// Every WebSocket message is one binary frame holding one MessagePack array
// whose first element is a small integer type code. docs/protocol.md describes
// every message byte by byte; this package is its reference implementation.
//
// The package carries no build tags: it compiles unchanged for the server and
// for GOOS=js GOARCH=wasm.
package wire
