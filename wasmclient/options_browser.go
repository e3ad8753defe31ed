//go:build pushmap_browser

package wasmclient

import "github.com/pushmap/pushmap/wire"

// Options configures a Client of the browser's .wasm: the fields of the Go
// API's Options (api.go, where each is documented), with durations in
// nanoseconds and a TokenFunc that takes the core's signal, as the
// bindings (bindings_js.go) fill them.
type Options struct {
	Token     string
	TokenFunc func(ctx signal) (string, error)
	Layers    []string
	URLs      []string

	Throttle               dur
	Margin                 float64
	Declutter              bool
	MinBackoff, MaxBackoff dur
	StableAfter            dur

	OnChange func(Change)
	OnStatus func(Status)
	OnError  func(wire.Error)

	Logger Logger
}
