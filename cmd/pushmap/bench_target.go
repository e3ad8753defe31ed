package main

import (
	"context"
	"os"

	"github.com/pushmap/pushmap/cmd/pushmap/internal/target"
)

// benchTarget runs `pushmap bench-target`, a hidden command that 'pushmap
// bench' starts: a server under test in a process of its own.
func (x *cli) benchTarget(ctx context.Context, args []string) int {
	return target.Main(ctx, args, os.Stdin, x.stdout, x.stderr)
}
