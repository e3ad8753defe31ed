package main

import (
	"context"
	"os"

	"github.com/pushmap/pushmap/bench/internal/target"
)

// target runs `pushmap-bench target`, which the benchmark starts: a server
// under test in a process of its own.
func (x *cli) target(ctx context.Context, args []string) int {
	return target.Main(ctx, args, os.Stdin, x.stdout, x.stderr)
}
