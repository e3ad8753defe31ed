package server

import (
	"log/slog"
	"sync/atomic"

	"github.com/pushmap/pushmap/internal/lograte"
)

// A refusal is why the server turned a client, or one of its requests,
// away. Each is counted (Stats.Refusals) and logged through a rate limit,
// so that a flood of them cannot fill the disk.
type refusal int

const (
	refusedServerFull   refusal = iota // MaxConnections reached: close 1013
	refusedShuttingDown                // Shutdown began: 503 or close 1001
	refusedOrigin                      // the upgrade's Origin is not allowed: 403
	refusedBadHello                    // no valid hello in time, or a version the server does not speak: 4000, 4001
	refusedBadToken                    // Authorize refused the hello's credential: 4401
	refusedRateLimited                 // a view change over ViewRate: error rate_limited
	refusedViewFlood                   // too many of those: close 4003
	refusedBadMessages                 // too many refused messages: close 1008
	refusedPending                     // MaxPending connections wait for their hello: 503
	refusedPerIP                       // MaxConnectionsPerIP or MaxPendingPerIP from one address: 429
	// New reasons go here, with their name in refusalNames and their log
	// level in refusalLevels.
	numRefusals
)

// refusalNames are the reasons' names in Stats.Refusals, the metrics and
// the log.
var refusalNames = [numRefusals]string{
	refusedServerFull:   "server_full",
	refusedShuttingDown: "shutting_down",
	refusedOrigin:       "origin",
	refusedBadHello:     "bad_hello",
	refusedBadToken:     "bad_token",
	refusedRateLimited:  "rate_limited",
	refusedViewFlood:    "view_flood",
	refusedBadMessages:  "bad_messages",
	refusedPending:      "pending_full",
	refusedPerIP:        "per_ip",
}

// refusalLevels: a full server needs its operator; the rest is what
// clients do.
var refusalLevels = [numRefusals]slog.Level{
	refusedServerFull: slog.LevelWarn,
	refusedPending:    slog.LevelWarn,
}

// RefusalReasons returns the names of the reasons counted in
// Stats.Refusals, in a fixed order.
func RefusalReasons() []string { return append([]string(nil), refusalNames[:]...) }

// refusals counts and logs refusals.
type refusals struct {
	counts [numRefusals]atomic.Int64
	log    *lograte.Limiter
}

// refuse counts a refusal of why, and logs it (at most
// lograte.DefaultPerInterval lines per second per reason, then a summary)
// with the client's address and what was wrong.
func (s *Server) refuse(why refusal, remote, detail string) {
	s.refusals.counts[why].Add(1)
	if s.refusals.log == nil {
		return
	}
	s.refusals.log.Log(refusalLevels[why], refusalNames[why], "refused",
		"reason", refusalNames[why], "remote", remote, "detail", detail)
}

func (r *refusals) snapshot() (total int64, by map[string]int64) {
	by = make(map[string]int64, numRefusals)
	for i := range r.counts {
		n := r.counts[i].Load()
		by[refusalNames[i]] = n
		total += n
	}
	return total, by
}
