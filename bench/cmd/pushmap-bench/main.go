// Command pushmap-bench is pushmap's load benchmark: many real clients in
// this process against a server under test in a process of its own, for
// pushmap and for what users would pick instead (polling, broadcast, tile
// channels). docs/benchmarks.md describes the workload, the measures and
// the rules; `make bench` runs it and rewrites that page.
//
//	pushmap-bench [flags]          the benchmark (pushmap-bench -help lists the flags)
//	pushmap-bench -plot FILE       the tables and plots again from a results.json, running nothing
//
// It runs itself in two more roles, which only the benchmark starts:
// `pushmap-bench target` is a server under test (the real server package,
// or a baseline broker) and `pushmap-bench dial` holds idle connections.
// Exit status: 0 after a run, 1 when a run fails, 2 for a bad command line.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	x := &cli{stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(x.run(ctx, os.Args[1:]))
}

// A cli is one run of pushmap-bench with its output.
type cli struct {
	stdout, stderr io.Writer
}

// Roles the benchmark runs this program in, named by the first argument.
const (
	roleTarget = "target" // a server under test
	roleDial   = "dial"   // idle connections
)

// run runs the command line args (without the program name) and returns
// the exit status.
func (x *cli) run(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case roleTarget:
			return x.target(ctx, args[1:])
		case roleDial:
			return x.dial(ctx, args[1:])
		}
	}
	return x.bench(ctx, args)
}
