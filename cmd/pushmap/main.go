// Command pushmap runs a pushmap server: live maps whose clients are pushed
// the marker changes inside their view.
//
//	pushmap serve [flags]   the server: WebSocket endpoint, /healthz, /readyz, /stats, /metrics
//	pushmap demo [flags]    the server, a synthetic feed and the demo page
//	pushmap version         the version
//	pushmap help [command]  usage
//
// Every flag can also be set by an environment variable (PUSHMAP_ADDR for
// --addr, ...); `pushmap serve --help` lists them. SIGINT or SIGTERM shuts
// the server down gracefully. Exit status: 0 after a clean run or shutdown,
// 1 when the server cannot run, 2 for a bad command line or environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pushmap/pushmap/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the pushmap command line args (without the program name),
// writing to stdout and stderr, until it is done or ctx ends, and returns
// the exit status. A server shuts down gracefully when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	x := &cli{stdout: stdout, stderr: stderr, getenv: os.LookupEnv, listen: net.Listen}
	return x.run(ctx, args)
}

// A cli is one run of the pushmap command with what it talks to, which tests
// replace: its output, its environment, and how it listens.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(key string) (string, bool)
	listen         func(network, address string) (net.Listener, error)
}

// A command is a subcommand of pushmap.
type command struct {
	name, summary string
	run           func(x *cli, ctx context.Context, args []string) int
	help          func(w io.Writer) // full help; nil when the summary says it all
}

// commands are pushmap's subcommands, in the order the help lists them.
var commands = []command{
	{"serve", "run the server: the WebSocket endpoint, health checks, /stats and /metrics", (*cli).serve,
		func(w io.Writer) { flagUsage(w, "serve", aboutServe) }},
	{"demo", "run the server with a synthetic feed and the demo page", (*cli).demo,
		func(w io.Writer) { flagUsage(w, "demo", aboutDemo) }},
	{"version", "print the version", (*cli).version, nil},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func (x *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		usage(x.stderr)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(args) > 0 {
			c, ok := lookup(args[0])
			if !ok {
				fmt.Fprintf(x.stderr, "pushmap help: unknown command %q\n\n", args[0])
				usage(x.stderr)
				return 2
			}
			commandUsage(x.stdout, c)
			return 0
		}
		usage(x.stdout)
		return 0
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(x.stderr, "pushmap: unknown command %q\n\n", name)
		usage(x.stderr)
		return 2
	}
	return c.run(x, ctx, args)
}

// usage writes pushmap's help to w.
func usage(w io.Writer) {
	fmt.Fprint(w, `pushmap runs a live-map server: map clients tell it where they look, and it
pushes them the marker changes inside their view.

Usage:
  pushmap <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help      print this help, or a command's: pushmap help serve

Run 'pushmap <command> --help' for a command's flags. Every flag can also be
set by an environment variable, such as PUSHMAP_ADDR for --addr.
`)
}

// commandUsage writes the help of c to w.
func commandUsage(w io.Writer, c command) {
	if c.help != nil {
		c.help(w)
		return
	}
	fmt.Fprintf(w, "Usage: pushmap %s\n\n", c.name)
	wrap(w, "", 80, strings.ToUpper(c.summary[:1])+c.summary[1:]+".")
}

// flagUsage writes the help of command cmd, which takes the flags of
// parseConfig and does what about says.
func flagUsage(w io.Writer, cmd, about string) {
	fmt.Fprintf(w, "Usage: pushmap %s [flags]\n\n%s\n", cmd, about)
	printFlags(w, cmd)
}

// config parses the flags of command cmd, whose help says about. When it
// returns nil the command is over, with exit status code: help was asked
// for and printed, or the command line or environment is wrong.
func (x *cli) config(cmd, about string, args []string) (_ *config, code int) {
	c, err := parseConfig(cmd, args, x.getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		flagUsage(x.stdout, cmd, about)
		return nil, 0
	case err != nil:
		fmt.Fprintf(x.stderr, "pushmap %s: %v\nRun 'pushmap %s --help' for usage.\n", cmd, err, cmd)
		return nil, 2
	}
	return c, 0
}

func (x *cli) version(_ context.Context, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(x.stderr, "pushmap version: unexpected argument %q\n", args[0])
		return 2
	}
	fmt.Fprintln(x.stdout, buildinfo.Describe("pushmap"))
	return 0
}
