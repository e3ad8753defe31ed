//go:build js && wasm

package main

import "github.com/pushmap/pushmap/wasmclient"

func main() {
	wasmclient.RegisterJS()
	select {} // keep the Go runtime alive for JavaScript's calls
}
