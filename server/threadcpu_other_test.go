//go:build !linux

package server

// threadCPU is 0 off Linux (no per-thread CPU clock): the metrics built
// on it read 0.
func threadCPU() int64 { return 0 }
