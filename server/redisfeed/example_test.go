package redisfeed_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/redisfeed"
)

// A server fed from the Redis stream pushmap:updates until interrupted.
// (Not run as a test: it needs a Redis; the package's tests start one.)
func Example() {
	srv, err := server.New(nil)
	if err != nil {
		slog.Error("server", "err", err)
		return
	}
	defer srv.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := redisfeed.New("redis://localhost:6379/0", srv, &redisfeed.Options{Consumer: "pushmap-1"})
	if err != nil {
		slog.Error("redis feed", "err", err) // a bad URL or option
		return
	}
	go c.Run(ctx) // reconnects by itself; returns when ctx ends

	// ... serve srv over HTTP; report c.Stats() as metrics.
	<-ctx.Done()
	st := c.Stats()
	slog.Info("redis feed stopped", "applied", st.Applied, "bad", st.Bad, "last", st.LastID)
}
