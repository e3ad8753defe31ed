package micro

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A go test -bench output as make bench writes it: the command first.
const sample = `$ go test -run '^$' -bench . -benchmem -count 3 ./wire ./server
goos: linux
goarch: amd64
pkg: github.com/pushmap/pushmap/wire
cpu: AMD EPYC 7B13
BenchmarkEncodeUpsert/move-2         	18426870	        65.00 ns/op	        36.00 bytes	      48 B/op	       1 allocs/op
BenchmarkEncodeUpsert/move-2         	18426870	        70.00 ns/op	        36.00 bytes	      48 B/op	       1 allocs/op
BenchmarkEncodeUpsert/move-2         	18426870	        60.00 ns/op	        36.00 bytes	      48 B/op	       1 allocs/op
BenchmarkEncodeBaseline/msgpack-marshal-2   	 4563418	       260.0 ns/op	        82.00 bytes	     176 B/op	       3 allocs/op
BenchmarkDecodeBatch-2   	   44104	     27000 ns/op	 100.40 MB/s	   20000 B/op	     200 allocs/op
    bench_test.go:12: a log line of a benchmark
PASS
pkg: github.com/pushmap/pushmap/server
BenchmarkViewSearch/views=10000-2  	 6023490	       196.0 ns/op	         4.000 hits/op	       0 B/op	       0 allocs/op
BenchmarkDeliver/views=100-2       	  500000	      2380 ns/op	       100.0 deliveries/op	      61 B/op	       1 allocs/op
ok  	github.com/pushmap/pushmap/server	12.3s
`

func TestParse(t *testing.T) {
	o, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if o.Command != `go test -run '^$' -bench . -benchmem -count 3 ./wire ./server` || o.CPU != "AMD EPYC 7B13" {
		t.Errorf("command %q, cpu %q", o.Command, o.CPU)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"EncodeUpsert/move", "ns/op", 65}, {"EncodeUpsert/move", "bytes", 36}, {"DecodeBatch", "MB/s", 100.4},
		{"ViewSearch/views=10000", "hits/op", 4}, {"Deliver/views=100", "deliveries/op", 100},
	} {
		if got, ok := o.Median(c.name, c.unit); !ok || got != c.want {
			t.Errorf("median %s %s: %v %v, want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if n := o.Runs("EncodeUpsert/move"); n != 3 {
		t.Errorf("%d runs of EncodeUpsert/move, want 3", n)
	}
	if _, ok := o.Median("Nope", "ns/op"); ok {
		t.Error("a median of a benchmark not run")
	}
	if _, err := Parse(strings.NewReader("BenchmarkX-2\t10\tabc ns/op\n")); err == nil {
		t.Error("a result with a value that is not a number was taken")
	}
}

func TestRender(t *testing.T) {
	o, _ := Parse(strings.NewReader(sample))
	var encode, deliver Table
	for _, tb := range Tables {
		switch tb.Name {
		case "encode":
			encode = tb
		case "deliver":
			deliver = tb
		}
	}
	md := encode.Render(o, "docs/bench/micro/core.txt")
	wantLines(t, md, "the encode table",
		"from docs/bench/micro/core.txt; do not edit by hand",
		"Measured by `go test -run '^$' -bench . -benchmem -count 3 ./wire ./server` (AMD EPYC 7B13)",
		"| `BenchmarkEncodeUpsert/move` (id, layer, position, version, time) | 65.0 ns | 36 | 1 |",
		"| `BenchmarkEncodeUpsert/props` (plus two properties) | — | — | — |",
		"4.0× as fast, 44% of its size",
	)
	if md := deliver.Render(o, "x"); !strings.Contains(md, "| 100 | 2.38 µs | 23.8 ns | 1 | 61 |") {
		t.Errorf("the deliver table lacks the per-delivery figure:\n%s", md)
	}
	if md := deliver.Render(nil, "docs/bench/micro/core.txt"); !strings.Contains(md, "Not measured yet: `make bench` writes [docs/bench/micro/core.txt](docs/bench/micro/core.txt)") {
		t.Errorf("a table without its output:\n%s", md)
	}
}

func TestWriteDocs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "core.txt"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	outs, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	page.WriteString("# Benchmarks\n\nprose\n")
	for _, tb := range Tables {
		page.WriteString("\n" + Begin(tb.Name) + "\nold figures\n" + End(tb.Name) + "\nmore prose\n")
	}
	path := filepath.Join(dir, "benchmarks.md")
	os.WriteFile(path, []byte(page.String()), 0o644)
	if err := WriteDocs(path, outs, "bench/micro"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if strings.Contains(got, "old figures") || strings.Count(got, "more prose") != len(Tables) || !strings.HasPrefix(got, "# Benchmarks\n\nprose\n") {
		t.Errorf("the page after WriteDocs:\n%s", got)
	}
	if !strings.Contains(got, "| `BenchmarkViewSearch` (which views hold a point) | 10,000 | 196 ns | 4 | 0 | 0 |") {
		t.Errorf("the index table is not on the page:\n%s", got)
	}
	if !strings.Contains(got, "Not measured yet: `make bench` writes [bench/micro/wasm.txt](bench/micro/wasm.txt)") {
		t.Errorf("the wasm table, without output, does not say so:\n%s", got)
	}
	// A page without a table's markers is an error, not a silent skip.
	os.WriteFile(path, []byte("# no markers\n"), 0o644)
	if err := WriteDocs(path, outs, "bench/micro"); err == nil || !strings.Contains(err.Error(), Begin("index")) {
		t.Errorf("a page without markers: %v", err)
	}
}

// TestRenderClusterAndMemory: the memory and cluster tables read their
// benchmarks' custom units, and say "—" for a figure the output lacks.
func TestRenderClusterAndMemory(t *testing.T) {
	out := "$ go test -bench Cluster ./server/redisfeed\n" +
		"BenchmarkMemoryPerMarker/props=typical-2 \t 1\t 9000000000 ns/op\t 802.1 B/marker\n" +
		"BenchmarkClusterStream/nodes=3/feeders=8-2 \t 44\t 0 ns/op\t 19.77 nodes-us/update\t 110.6 redis-B/update\t 2.015 redis-us/update\t 20361 updates/s\n" +
		"BenchmarkClusterHop/appendfsync=always-2 \t 200\t 6000000 ns/op\t 5900000 hop-p50-ns\t 12000000 hop-p90-ns\n"
	o, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	for _, tb := range Tables {
		if tb.Name == "memory" || tb.Name == "cluster" {
			md.WriteString(tb.Render(o, "x.txt"))
		}
	}
	wantLines(t, md.String(), "the memory and cluster tables",
		"| plus typical properties: a name, a route, a speed, a heading | 802 B |",
		"| id, layer, position, version, time | — |",
		"| 3 nodes, 8 feeders at once | 20,361 | 2.02 µs | 19.8 µs | 111 B |",
		"| Redis with `appendfsync always` | 5.90 ms | 12.0 ms |",
		"| Redis with `appendfsync everysec` | — | — |",
		"| one snapshot, during which the node's tail applies nothing | — |",
	)
}

// TestRenderMergedClusters: the clusters table carries issue 14's figures
// (the upkeep per move, the world view, the ops per client) from their
// benchmarks' units, "—" for what the output lacks.
func TestRenderMergedClusters(t *testing.T) {
	out := "$ go test -bench . ./server ./server/internal/store\n" +
		"BenchmarkMergedClusterMove/100-views/shared-2 \t 300000\t 4000 ns/move\t 990.0 flush-cpu-ns/move\t 0 ns/op\n" +
		"BenchmarkMergedClustersWorld/z2-2 \t 200\t 4630000 ns/op\t 100 B/op\t 3 allocs/op\n" +
		"BenchmarkClusterOpsPerClient/merged-2 \t 1\t 1500000000 ns/op\t 595.9 ops/client/s\n" +
		"BenchmarkClusterOpsPerClient/tiles-2 \t 1\t 5000000000 ns/op\t 828.4 ops/client/s\n"
	o, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var md string
	for _, tb := range Tables {
		if tb.Name == "clusters" {
			md = tb.Render(o, "x.txt")
		}
	}
	wantLines(t, md, "the clusters table",
		"as the server runs | 990 ns | ≤ 1 µs |",
		"each set walking its own cells | — |  |",
		"at zoom 2 over 1M markers world-wide | 4.63 ms | ≤ 5 ms |",
		"| 596 / 828 | merged ≤ tiles |",
	)
}

// wantLines fails t for each of wants that got (the rendering of what)
// lacks.
func wantLines(t *testing.T, got, what string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, got)
		}
	}
}
