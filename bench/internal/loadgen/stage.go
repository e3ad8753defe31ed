package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/pushmap/pushmap/bench/internal/audit"
)

// A snapshot is the run's counters at one instant.
type snapshot struct {
	at                  time.Time
	server, self        Proc
	nodes               []Proc        // a cluster: each node (server is their sum)
	redis               Proc          // a cluster: redis-server
	machine             time.Duration // CPU time of every process
	bytesIn, bytesOut   int64
	delivered, requests int64
	frames              int64
}

func (r *run) snap() (snapshot, error) {
	s := snapshot{at: time.Now(), bytesIn: r.bytesIn.Load(), bytesOut: r.bytesOut.Load(),
		delivered: r.delivered.Load(), requests: r.requests.Load(), frames: r.frames.Load()}
	for _, p := range r.nodes {
		pr, err := ReadProc(p.PID)
		if err != nil {
			return s, err
		}
		s.nodes = append(s.nodes, pr)
		s.server.CPU += pr.CPU
		s.server.RSS += pr.RSS
	}
	var err error
	if r.redis != nil {
		if s.redis, err = ReadProc(r.redis.PID); err != nil {
			return s, err
		}
	}
	if s.self, err = ReadProc(0); err != nil {
		return s, err
	}
	s.machine, err = MachineBusy()
	return s, err
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// stage runs stage i: connects its clients, publishes its ticks on
// schedule, measures its window and judges it.
func (r *run) stage(ctx context.Context, i int) (StageResult, error) {
	s := r.sc
	st := s.Stages[i]
	res := StageResult{Stage: st}
	if i == 0 {
		res.StartBusy = r.startBusy
	}
	r.env.logf("%s: stage %d: %d markers, %d clients", s.Name, i, st.Markers, st.Clients)
	if err := r.connect(ctx, st.Clients); err != nil {
		return res, err
	}
	tick := s.Fleet.Tick
	from, end := r.fl.StageStart(i), r.fl.StageStart(i+1)
	winFrom := end - ticksOf(s.Window, s.Fleet)
	r.winTo.Store(end)
	r.forgetLatencies() // the previous stage's late arrivals
	r.resets.Swap(0)
	r.errs.Swap(0)
	r.disconnects.Swap(0)

	// The stage measures from its start; once the warm-up is over, the
	// window starts afresh. A stage overloaded before its window is judged
	// on its warm-up.
	r.winFrom.Store(from)
	start := time.Now()
	w0, err := r.snap()
	if err != nil {
		return res, err
	}
	w0at := r.now()
	r.inWindow.Store(true)
	var lagMax, feedMax time.Duration
	last := end // the first tick not published
	for t := from; t < end; t++ {
		due := start.Add(time.Duration(t-from) * tick)
		if err := sleepUntil(ctx, due); err != nil {
			return res, err
		}
		lag := time.Since(due)
		if lag > s.MaxLag {
			// The server takes updates slower than they come: the stage
			// would last many times its length. Stop it here.
			res.Overloaded = true
			lagMax, last = lag, t
			break
		}
		if t == winFrom {
			r.winFrom.Store(winFrom)
			r.forgetLatencies() // the warm-up's
			if w0, err = r.snap(); err != nil {
				return res, err
			}
			w0at = r.now()
			lagMax, feedMax = 0, 0
		}
		lagMax = max(lagMax, lag)
		t0 := time.Now()
		if err := r.publish(ctx, t); err != nil {
			return res, err
		}
		feedMax = max(feedMax, time.Since(t0))
		r.feedHist.add(int(t), time.Since(t0), 1)
	}
	if last <= winFrom {
		winFrom = from
	}
	if !res.Overloaded {
		if err := sleepUntil(ctx, start.Add(time.Duration(end-from)*tick)); err != nil {
			return res, err
		}
	}
	r.inWindow.Store(false)
	w1, err := r.snap()
	if err != nil {
		return res, err
	}
	w1at := r.now()
	if err := sleepUntil(ctx, time.Now().Add(s.Grace)); err != nil {
		return res, err
	}
	res.Latency = r.hist.summary()
	res.FeedLatency = r.feedHist.summary()
	if len(r.nodes) > 1 {
		feedNode, others := r.histFeed.summary(), r.histOther.summary()
		res.LatencyFeedNode, res.LatencyOtherNodes = &feedNode, &others
	}

	w := audit.Window{From: winFrom, To: last, Cut: r.now(), StaleClients: s.StaleClients,
		Region: s.Fleet.Region, Cell: s.View, Misses: 5}
	// Sample instants at random within each StaleEvery: regular ones
	// would keep the same phase to the ticks and see always the same part
	// of a delivery's life.
	rng := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	for at := w0at; at < w1at; at += int64(s.StaleEvery) {
		if t := at + rng.Int64N(int64(s.StaleEvery)); t < w1at {
			w.Samples = append(w.Samples, t)
		}
	}
	r.ackWG.Wait() // a cluster: every node applied every tick
	evalStart := time.Now()
	a := audit.Evaluate(r.fl, r.j, w, r.audited)
	r.env.logf("  audit of %d clients took %v", len(r.audited), time.Since(evalStart).Round(time.Millisecond))
	if a.Superseded > 0 {
		r.env.logf("  superseded: %d of %d in-view updates received only as a newer version (coalesced)", a.Superseded, a.InView+a.Leaves)
	}
	for _, m := range a.Missed {
		r.env.logf("  missed: client %d marker %d version %d (leave %v) tick %d", m.Client, m.M, m.V, m.Leave, r.fl.Tick(m.M, m.V))
	}

	sec := w1.at.Sub(w0.at).Seconds()
	clients := float64(st.Clients)
	var updates int64
	for t := winFrom; t < last; t++ {
		r.fl.Due(t, func(_, _ uint32) { updates++ })
	}
	delivered := float64(w1.delivered - w0.delivered)
	in := float64(w1.bytesIn - w0.bytesIn)
	res.WindowSec = sec
	res.UpdatesPerSec = float64(updates) / sec
	res.DeliveredPerSec = delivered / sec
	res.OpsPerFrame = div(delivered, float64(w1.frames-w0.frames))
	res.FramesPerSec = float64(w1.frames-w0.frames) / sec
	res.BatchesPerSec = float64(last-winFrom) / sec
	res.FramesPerClientBatch = div(res.FramesPerSec, clients*res.BatchesPerSec)
	res.Precision = a.Precision()
	res.Recall = a.Recall()
	inView := delivered * res.Precision
	res.InViewPerSec = inView / sec
	res.BytesPerClientSec = in / clients / sec
	res.SentBytesPerClientSec = float64(w1.bytesOut-w0.bytesOut) / clients / sec
	res.BytesPerDelivery = div(in, delivered)
	res.BytesPerInView = div(in, inView)
	res.RequestsPerClientSec = float64(w1.requests-w0.requests) / clients / sec
	cpu := (w1.server.CPU - w0.server.CPU).Seconds()
	res.ServerCPU = cpu / sec
	res.CPUPerMillion = div(cpu, inView/1e6)
	res.GeneratorCPU = (w1.self.CPU - w0.self.CPU).Seconds() / sec
	res.OtherCPU = max(0, (w1.machine-w0.machine).Seconds()/sec-res.ServerCPU-res.GeneratorCPU)
	res.ServerRSS = w1.server.RSS
	if len(r.nodes) > 1 {
		for i := range w1.nodes {
			res.NodeCPU = append(res.NodeCPU, (w1.nodes[i].CPU-w0.nodes[i].CPU).Seconds()/sec)
		}
	}
	if r.redis != nil {
		res.RedisCPU = (w1.redis.CPU - w0.redis.CPU).Seconds() / sec
		res.RedisRSS = w1.redis.RSS
		res.OtherCPU = max(0, res.OtherCPU-res.RedisCPU)
	}
	res.RSSPerConn = float64(w1.server.RSS-r.rss0) / clients
	res.Audited = len(r.audited)
	res.InViewUpdates = a.InView + a.Leaves
	res.Missed = res.InViewUpdates - a.InViewDelivered - a.LeavesDelivered
	res.Ambiguous = a.Ambiguous
	res.Superseded = a.Superseded
	res.StalenessMs = a.Staleness() / 1e6
	res.StalenessMaxMs = float64(a.StaleMax) / 1e6
	res.PublishLagMaxMs = float64(lagMax) / 1e6
	res.FeedMaxMs = float64(feedMax) / 1e6
	res.Resets = r.resets.Load()
	res.Errors = r.errs.Load()
	res.Disconnects = r.disconnects.Load()
	res.PositionErrors = a.WrongPositions

	var why []string
	if res.Overloaded {
		why = append(why, fmt.Sprintf("overloaded: publishing fell %.1f s behind schedule", lagMax.Seconds()))
	}
	if res.Missed > 0 {
		why = append(why, fmt.Sprintf("%d of %d in-view updates missed", res.Missed, res.InViewUpdates))
	}
	if p99 := time.Duration(res.Latency.P99 * 1e6); p99 >= s.MaxP99 {
		why = append(why, fmt.Sprintf("p99 %.1f ms ≥ %v", res.Latency.P99, s.MaxP99))
	}
	if lagMax >= tick {
		why = append(why, fmt.Sprintf("a tick published %.0f ms late", res.PublishLagMaxMs))
	}
	for _, c := range []struct {
		n    int64
		what string
	}{{res.Resets, "resets"}, {res.Disconnects, "disconnects"}, {res.PositionErrors, "wrong positions"}, {res.Errors, "errors"}} {
		if c.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	res.Pass = len(why) == 0
	res.Why = strings.Join(why, "; ")
	return res, nil
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// forgetLatencies clears the latency histograms.
func (r *run) forgetLatencies() {
	r.hist.summary()
	r.histFeed.summary()
	r.histOther.summary()
	r.feedHist.summary()
}
