package main

import (
	"context"
	"fmt"

	"github.com/pushmap/pushmap/cmd/pushmap/internal/synth"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

const aboutDemo = `Runs the pushmap server with a synthetic feed, aircraft flying between world
cities (layer flights) and vehicles driving city streets (layer vehicles), and
serves the demo page from --web at /. It prints the URL to open. The page is
built by 'make web'; 'make demo' builds it and runs this command.

Everything else is as for 'pushmap serve': /healthz, /stats, the WebSocket
endpoint and the graceful shutdown on SIGINT or SIGTERM. Exit status 1 when
the page is missing or the server cannot run, 2 for a bad flag or variable.
`

// demo runs the server, a synthetic feed and the demo page.
func (x *cli) demo(ctx context.Context, args []string) int {
	n, code := x.newNode("demo", aboutDemo, args)
	if n == nil {
		return code
	}
	if err := x.setUpDemo(n); err != nil {
		fmt.Fprintf(x.stderr, "pushmap demo: %v\n", err)
		n.close()
		return 1
	}
	return x.runNode(ctx, n)
}

// setUpDemo gives n the demo page and the synthetic feed, with the fleet's
// markers already in the server so the first clients see them all.
func (x *cli) setUpDemo(n *node) error {
	dir := n.cfg.web
	if err := hasIndex(dir); err != nil {
		return fmt.Errorf("the demo page is missing: %w\n"+
			"Run 'make demo' in the pushmap repository, which builds the web assets into web/dist\n"+
			"and starts the demo, or point --web at a directory holding a built page", err)
	}
	page, err := staticRoot(dir)
	if err != nil {
		return fmt.Errorf("--web: %w", err)
	}
	n.page = page

	fleet := synth.New(n.cfg.fleet())
	initial := fleet.Markers()
	if err := n.timed.Apply(server.Upserts(initial...)); err != nil {
		return fmt.Errorf("loading the fleet: %w", err)
	}
	n.srv.FlushDensity() // nobody watches yet: forget the loading's movement
	n.log.Info("demo feed", "flights", n.cfg.flights, "vehicles", n.cfg.vehicles,
		"markers", len(initial), "interval", n.cfg.interval, "seed", n.cfg.seed, "web", dir)
	n.feed = func(ctx context.Context) error {
		return synth.Run(ctx, fleet, n.cfg.interval, func(ms []wire.Marker) error { return n.timed.Apply(server.Upserts(ms...)) })
	}
	n.listening = func(url string) {
		fmt.Fprintf(x.stdout, "pushmap demo: open %s\n", url)
	}
	return nil
}
