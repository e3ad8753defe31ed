package micro

import (
	"strings"
	"testing"
)

// TestBatchTable: the batch table puts each fan-out's CPU and its clients'
// read times on one row, and compares the first reads of the two; Apply's
// time is apply-ns/op, or ns/op in an output from before it was timed
// apart.
func TestBatchTable(t *testing.T) {
	md := renderSample(t, "batch", `$ go test -bench . ./server
BenchmarkFanOutCPU/updates=3000/fanout=push-2   40   8390428 ns/op   8500000 cpu-ns/op   26.71 deliveries/update
BenchmarkFanOutCPU/updates=3000/fanout=pull-2   40   8390428 ns/op   8800000 cpu-ns/op   26.71 deliveries/update
BenchmarkApplyFeedBatch/updates=3000/fanout=push-2   20   1500000 ns/op   46000000 all-read-ns/op   26.71 deliveries/update   9000000 fanned-out-ns/op   10000000 first-read-ns/op
BenchmarkApplyFeedBatch/updates=3000/fanout=pull-2   20   1600000 ns/op   45000000 all-read-ns/op   26.71 deliveries/update   2500000 fanned-out-ns/op   3000000 first-read-ns/op
BenchmarkApplyFeedBatch/updates=1000/fanout=pull-2   30   36000000 ns/op   31000000 all-read-ns/op   400000 apply-ns/op   26.43 deliveries/update   1000000 fanned-out-ns/op   2900000 first-read-ns/op
`)
	for _, want := range []string{
		"| 3,000 | pushed: every op in its outbox, then the writers start | 8.50 ms | 1.50 ms | 10.0 ms | 46.0 ms | 26.71 |",
		"| 3,000 | pulled: the writers test the batch's cells against their views | 8.80 ms | 1.60 ms | 3.00 ms | 45.0 ms | 26.71 |",
		"| 1,000 | pushed: every op in its outbox, then the writers start | — | — | — | — | — |",
		// A newer output: Apply's time is apply-ns/op, ns/op the round.
		"| 1,000 | pulled: the writers test the batch's cells against their views | — | 400 µs | 2.90 ms | 31.0 ms | 26.43 |",
		"the first client reads the batch 3.00 ms after `Apply` is called when it is pulled, 0.30× the time",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the batch table lacks %q:\n%s", want, md)
		}
	}
}

// TestFrameCostSaving: when writing the frames one after another costs
// more than the server's own writers, the table says so rather than
// printing a negative saving.
func TestFrameCostSaving(t *testing.T) {
	md := renderSample(t, "framecost", `$ go test -bench FrameCost ./server
BenchmarkFrameCost/clients=2000/writers=goroutine-each-2   40   1 ns/op   9690 cpu-ns/frame
BenchmarkFrameCost/clients=2000/writers=inline-bound-2   40   1 ns/op   10760 cpu-ns/frame
BenchmarkFrameCost/clients=2000/floor=write-only-2   40   1 ns/op   8580 cpu-ns/frame
`)
	if want := "would save nothing (it costs 1.07 µs more)"; !strings.Contains(md, want) {
		t.Errorf("the frame cost table lacks %q:\n%s", want, md)
	}
}

// renderSample renders the table named name from a go test -bench output
// whose fields are separated by three spaces (tabs in a real one).
func renderSample(t *testing.T, name, output string) string {
	t.Helper()
	o, err := Parse(strings.NewReader(strings.ReplaceAll(output, "   ", "\t")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables {
		if tb.Name == name {
			return tb.Render(o, "x")
		}
	}
	t.Fatalf("no table %q", name)
	return ""
}
