package micro

import (
	"strings"
	"testing"
)

// TestRenderFeedPost: the feedpost table gives each case's mean, median
// and 90th percentile over the runs, and the ratio of the medians with
// 2,000 clients and without; and when the clients had the batch, in
// memory and with --data-dir.
func TestRenderFeedPost(t *testing.T) {
	o, err := Parse(strings.NewReader(`$ go test -run '^$' -bench FeedPOST -benchtime 60x -count 5 ./server/ingest
cpu: AMD EPYC
BenchmarkFeedPOST/clients=0-2         	      60	   1200000 ns/op	         0 deliveries/update	   1000000 p50-ns	   1500000 p90-ns
BenchmarkFeedPOST/clients=0-2         	      60	   1400000 ns/op	         0 deliveries/update	   1100000 p50-ns	   1700000 p90-ns
BenchmarkFeedPOST/clients=0-2         	      60	   1300000 ns/op	         0 deliveries/update	    900000 p50-ns	   1600000 p90-ns
BenchmarkFeedPOST/clients=2000-2      	      60	   3000000 ns/op	  20000000 delivered-p50-ns	  30000000 delivered-p90-ns	        26.43 deliveries/update	   2500000 p50-ns	   4000000 p90-ns
BenchmarkFeedPOST/clients=2000/durable-2 	      60	   5000000 ns/op	  22000000 delivered-p50-ns	  33000000 delivered-p90-ns	        26.43 deliveries/update	   4500000 p50-ns	   7000000 p90-ns
`))
	if err != nil {
		t.Fatal(err)
	}
	var feedpost Table
	for _, tb := range Tables {
		if tb.Name == "feedpost" {
			feedpost = tb
		}
	}
	if feedpost.Name == "" {
		t.Fatal("no feedpost table")
	}
	md := feedpost.Render(o, "docs/bench/micro/feedpost.txt")
	wantLines(t, md, "the feedpost table",
		"| in memory, no client: the floor (HTTP, decoding, the store) | 0 | 1.30 ms | 1.00 ms | 1.60 ms | 0 | "+missing+" |  |",
		"| in memory | 2,000 | 3.00 ms | 2.50 ms | 4.00 ms | 26 | 20.0 ms | ≤ 5 ms when a core is free (issue 13) |",
		"| `--data-dir`, fsync always: answered after the fsync | 2,000 | 5.00 ms | 4.50 ms | 7.00 ms | 26 | 22.0 ms |  |",
		"the median POST takes 2.50× the floor's",
		"The clients have a batch 20.0 ms after the POST starts in memory, 22.0 ms with `--data-dir` (1.10×).",
	)
}
