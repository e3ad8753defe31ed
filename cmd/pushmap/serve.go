package main

import (
	"context"
	"fmt"
)

const aboutServe = `Runs the pushmap server. Map clients connect to its WebSocket endpoint
(--ws-path); feeds inject markers through the Go API (package server), and
serve itself injects none. Besides the WebSocket it answers:

  GET /healthz  200 "ok"; 503 once shutting down
  GET /stats    the server's counters and uptime as JSON
  GET /...      the files of --web, when given

SIGINT or SIGTERM shuts it down gracefully: /healthz turns 503, every client
is closed with 1001 (going away) and the server waits up to 10s for them,
then exits 0; a second signal exits at once. A bad flag or environment
variable exits 2, a server that cannot run (address in use, ...) 1.
`

// serve runs the server alone.
func (x *cli) serve(ctx context.Context, args []string) int {
	n, code := x.newNode("serve", aboutServe, args)
	if n == nil {
		return code
	}
	if n.cfg.web != "" {
		page, err := staticRoot(n.cfg.web)
		if err != nil {
			fmt.Fprintf(x.stderr, "pushmap serve: --web: %v\n", err)
			n.close()
			return 1
		}
		n.page = page
	}
	return x.runNode(ctx, n)
}
