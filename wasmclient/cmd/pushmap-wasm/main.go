//go:build !(js && wasm)

// Command pushmap-wasm is the pushmap client compiled to WebAssembly for
// browsers: build it with GOOS=js GOARCH=wasm (make wasm) and load it with
// web/pushmap.js, which wraps the globalThis.__pushmap object it registers.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "pushmap-wasm runs in a browser: build it with GOOS=js GOARCH=wasm (make wasm)")
	os.Exit(2)
}
