//go:build !js

package wasmclient_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkWasmSize builds the browser client (as make wasm does) and the
// reference program sizeref (the smallest program using the same WebSocket
// and MessagePack libraries) for js/wasm, and reports their sizes raw,
// gzip -9 and brotli -q 11 (through Node's zlib). Sizes, not times: run it
// with -benchtime=1x.
func BenchmarkWasmSize(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is needed for brotli")
	}
	dir := b.TempDir()
	for _, tc := range []struct{ name, pkg string }{
		{"pushmap", "../wasmclient/cmd/pushmap-wasm"},
		{"reference", "../wasmclient/internal/sizeref"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			out := filepath.Join(dir, tc.name+".wasm")
			build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, tc.pkg)
			build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
			if msg, err := build.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, msg)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				b.Fatal(err)
			}
			var gz bytes.Buffer
			w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			w.Write(raw)
			w.Close()
			br, err := exec.Command("node", "-e", `
				const z = require('zlib'), fs = require('fs');
				const out = z.brotliCompressSync(fs.readFileSync(process.argv[1]),
					{params: {[z.constants.BROTLI_PARAM_QUALITY]: 11}});
				process.stdout.write(String(out.length));`, out).Output()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
			}
			b.ReportMetric(float64(len(raw)), "raw-bytes")
			b.ReportMetric(float64(gz.Len()), "gzip-bytes")
			b.ReportMetric(mustFloat(b, string(br)), "brotli-bytes")
		})
	}
}

func mustFloat(b *testing.B, s string) float64 {
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		b.Fatal(err)
	}
	return f
}
