// Package loadgen is pushmap's load generator: it starts a server under
// test in a process of its own, publishes the fleet workload to it over
// HTTP, runs many real clients against it from this process — WebSocket
// clients of pushmap, of a tile-channel broker or of a broadcast server,
// or HTTP polling clients — and measures what they receive: throughput,
// latency, bytes, server CPU and memory, and (through package audit)
// precision, recall and staleness.
//
// A run goes through stages, each adding markers or clients; a stage
// publishes its ticks on schedule, warms up, then measures over a window.
// Between stages publishing pauses while the stage is judged.
//
// Everything a run does is bounded: it talks only to the target process it
// started on 127.0.0.1, and ends after its stages.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushmap/pushmap/bench/internal/audit"
	"github.com/pushmap/pushmap/bench/internal/fleet"
	"github.com/pushmap/pushmap/bench/internal/target"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/tinylib/msgp/msgp"
)

// An Approach is a way of keeping map clients up to date.
type Approach string

// The approaches a Scenario can measure.
const (
	Pushmap   Approach = "pushmap"   // pushmap's viewport push
	Tiles     Approach = "tiles"     // a tile-channel broker
	Broadcast Approach = "broadcast" // every update to every client
	Poll      Approach = "poll"      // HTTP polling of the view's whole box (pushmap's GET /feed/markers, plain JSON)
	// PollSince: HTTP polling of the changes in the view's box since the
	// last answer, conditional and gzipped (baseline.Poll).
	PollSince Approach = "poll-since"
	// Floor: the leanest server pushmap's clients accept (baseline.Floor),
	// not shippable: the floor under pushmap's latency and CPU. Its
	// clients are pushmap's.
	Floor Approach = "floor"
)

// polls reports whether a is one of the polling approaches.
func (a Approach) polls() bool { return a == Poll || a == PollSince }

// A Stage of a Scenario: from its start, Markers markers move and Clients
// clients watch (both at least the previous stage's).
type Stage struct {
	Markers int `json:"markers"`
	Clients int `json:"clients"`
}

// A Scenario is one run: one approach, one target process, its stages.
type Scenario struct {
	Name      string        `json:"name"`
	Approach  Approach      `json:"approach"`
	PollEvery time.Duration `json:"pollEvery,omitempty"` // Poll, PollSince: time between two polls of a client
	TileZoom  int           `json:"tileZoom,omitempty"`  // Tiles: zoom of the channels' tiles
	// Margin (Pushmap): a client widens the view it sends by this fraction
	// of its width and height on each side, as the JavaScript client's
	// margin option does; the audit judges deliveries against the view
	// itself, the box the map shows.
	Margin float64 `json:"margin,omitempty"`

	Fleet  fleet.Options `json:"-"`
	Stages []Stage       `json:"stages"`

	View [2]float64    `json:"view"` // a client's view: width and height in degrees
	Zoom float64       `json:"zoom"` // the zoom a view is sent with
	Pan  time.Duration `json:"pan"`  // mean time between two pans of a client (each 0.5 to 1.5 times it)

	Warmup time.Duration `json:"warmup"` // per stage, before the window
	Window time.Duration `json:"window"` // per stage, measured
	Grace  time.Duration `json:"grace"`  // after a stage, for the last deliveries

	Audit        int           `json:"audit"`        // clients audited (precision, recall); 0 for all
	StaleClients int           `json:"staleClients"` // of those, sampled for staleness
	StaleEvery   time.Duration `json:"staleEvery"`   // between two staleness samples

	MaxP99     time.Duration `json:"maxP99"`     // a stage passes with p99 below it (and recall 1)
	StopOnFail bool          `json:"stopOnFail"` // end the run at the first stage that fails
	// RunThrough (with StopOnFail): a failing stage ends the run only once
	// a stage of at least RunThrough markers has run, so that a goal's
	// stage is measured even past the first failure (an overloaded stage
	// still ends it). 0: the first failure ends it.
	RunThrough int `json:"runThrough,omitempty"`
	// MaxLag is how far publishing may fall behind schedule before a stage
	// is cut short as overloaded. Default 2s.
	MaxLag time.Duration `json:"maxLag"`
	// StopAbove ends the run after a stage whose p99 reaches it, or that
	// misses updates, resets or loses clients (0: never).
	StopAbove time.Duration `json:"stopAbove,omitempty"`
	Seed      uint64        `json:"seed"`
	// DataDir makes the pushmap target durable: every batch goes through
	// the write-ahead log (pushmap serve --data-dir, fsync always) in a
	// temporary directory removed after the run.
	DataDir bool `json:"dataDir,omitempty"`
	// Nodes > 0 (Pushmap) runs a cluster: that many pushmap targets in
	// --redis-mode cluster on one redis-server the run starts (appendonly
	// yes, appendfsync always, in a temporary directory removed after the
	// run). The feed goes into node 0; client i connects to node i mod
	// Nodes. Server CPU and RSS are the nodes' sum; Redis's are apart.
	// For the audit, a tick counts as applied once every node applied it
	// (each node's count of stream entries applied, target.PathApplied):
	// a node other than the fed one applies it after the feed's answer.
	Nodes int `json:"nodes,omitempty"`
}

// An Env is what a run needs from its caller.
type Env struct {
	// Target returns the command that runs a benchmark target of kind
	// (target.KindPushmap, ...) given extra flags: `pushmap-bench target -kind
	// kind args...`. It must print "listening host:port" and end when its
	// standard input closes.
	Target func(kind string, args ...string) *exec.Cmd
	// Log receives progress lines and the target's standard error.
	Log io.Writer
	// Sources are local addresses clients dial from, in turn
	// (127.0.0.x); empty means the system's choice.
	Sources []net.IP
	// QuietWait is how long a run waits at most, before its processes
	// start, for the machine to be quiet (WaitQuiet); 0: it does not wait.
	QuietWait time.Duration
}

// waitQuiet waits at most e.QuietWait for the machine to be quiet, says
// in the log when it waited long or gave up, and returns the cores busy in
// the last sample (0 when it does not wait).
func (e *Env) waitQuiet(ctx context.Context) (busy float64, err error) {
	if e.QuietWait <= 0 {
		return 0, nil
	}
	from := time.Now()
	busy, err = WaitQuiet(ctx, e.QuietWait)
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, err
	case err != nil:
		e.logf("  cannot tell whether the machine is quiet: %v", err)
	case busy >= quietCores:
		e.logf("  the machine is still busy after %s (%.2f cores): starting anyway", e.QuietWait, busy)
	case time.Since(from) > time.Second:
		e.logf("  waited %.1f s for the machine to be quiet (%.2f cores busy)", time.Since(from).Seconds(), busy)
	}
	return busy, nil
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// A Report is the outcome of a Scenario.
type Report struct {
	Scenario Scenario      `json:"scenario"`
	Asked    int           `json:"asked,omitempty"` // clients asked for, when more than a process can hold
	Stages   []StageResult `json:"stages"`
	// Windows holds every window of a stage measured several times (see
	// KeepMedian); Stages then holds the median one.
	Windows []StageResult `json:"windows,omitempty"`
	// InTurns: the windows were measured in runs of their own (processes
	// of their own), in turns with the other approaches of the same part:
	// round k ran the k-th window of each approach (see MergeWindows).
	// Without it, they ran one after the other in the same processes.
	InTurns bool `json:"inTurns,omitempty"`
	// Disturbed holds the windows measured again because other processes
	// (the host's too: steal) took DisturbedCores or more during them
	// (WasDisturbed); they are in neither Stages nor Windows.
	Disturbed []StageResult `json:"disturbed,omitempty"`
}

// DisturbedCores is the CPU, in cores, that other processes may take
// during a window measured in turns before it is measured again: a
// window that shares the machine with them measures them too. On the
// machine of 2026-12-04 (AMD) the first round after the browser's
// benchmarks had 0.28–0.41 cores of others in its first three windows,
// against at most 0.16 in all but one of the rest, and both pushmap's
// and the floor's p99 doubled there.
const DisturbedCores = 0.25

// WasDisturbed reports whether other processes took DisturbedCores or
// more during a window of r.
func (r *Report) WasDisturbed() bool {
	return slices.ContainsFunc(r.Stages, func(s StageResult) bool { return s.OtherCPU >= DisturbedCores })
}

// MergeWindows returns one report of the windows of one scenario measured
// in runs of their own, each report a run of one stage, in the order of
// reps: its Scenario is the first's with a stage per window, its Stages
// every window (KeepMedian then keeps the median one), InTurns set. It
// returns nil for no report.
func MergeWindows(reps []*Report) *Report {
	if len(reps) == 0 {
		return nil
	}
	m := &Report{Scenario: reps[0].Scenario, Asked: reps[0].Asked, InTurns: true}
	m.Scenario.Stages = nil
	for _, r := range reps {
		m.Scenario.Stages = append(m.Scenario.Stages, r.Scenario.Stages...)
		m.Stages = append(m.Stages, r.Stages...)
		m.Disturbed = append(m.Disturbed, r.Disturbed...)
	}
	return m
}

// KeepMedian turns a report whose stages all repeat one stage into one
// stage, the window of median server CPU per million in-view deliveries,
// and keeps every window in Windows: on a shared machine one window can
// be disturbed, and the median of a few is steadier than any one.
func (r *Report) KeepMedian() {
	if len(r.Stages) < 2 {
		return
	}
	r.Windows = r.Stages
	sorted := slices.Clone(r.Stages)
	slices.SortStableFunc(sorted, func(a, b StageResult) int { return cmp.Compare(a.CPUPerMillion, b.CPUPerMillion) })
	r.Stages = []StageResult{sorted[(len(sorted)-1)/2]}
}

// AllPass reports whether the stage passed in every window.
func (r *Report) AllPass() bool {
	windows := r.Windows
	if len(windows) == 0 {
		windows = r.Stages
	}
	for _, w := range windows {
		if !w.Pass {
			return false
		}
	}
	return len(windows) > 0
}

// A StageResult is what a stage measured over its window.
type StageResult struct {
	Stage
	WindowSec     float64 `json:"windowSec"`
	UpdatesPerSec float64 `json:"updatesPerSec"` // published

	DeliveredPerSec float64 `json:"deliveredPerSec"` // marker ops (or polled markers) received, all clients
	OpsPerFrame     float64 `json:"opsPerFrame"`     // deliveries per frame (or poll answer) that carried any
	FramesPerSec    float64 `json:"framesPerSec"`    // frames (or poll answers) that carried deliveries, all clients
	BatchesPerSec   float64 `json:"batchesPerSec"`   // feed batches (ticks) published
	// FramesPerClientBatch is FramesPerSec / Clients / BatchesPerSec: how
	// many frames a client gets per feed batch (1 when every client gets
	// each batch in one frame).
	FramesPerClientBatch float64 `json:"framesPerClientBatch"`
	InViewPerSec         float64 `json:"inViewPerSec"` // of those, news in view: DeliveredPerSec × Precision
	Latency              Latency `json:"latency"`      // publish to receipt, of the window's updates
	// FeedLatency: the feed requests of the window, from start to answer
	// (a cluster node answers once Redis has the entry and its own tail
	// applied it).
	FeedLatency Latency `json:"feedLatency,omitzero"`
	// A cluster (Nodes > 1): the latency of the clients on the node the
	// feed goes into, and of those on the other nodes.
	LatencyFeedNode   *Latency `json:"latencyFeedNode,omitempty"`
	LatencyOtherNodes *Latency `json:"latencyOtherNodes,omitempty"`

	BytesPerClientSec     float64 `json:"bytesPerClientSec"`     // received, TCP payload
	SentBytesPerClientSec float64 `json:"sentBytesPerClientSec"` // sent by clients (views, requests)
	BytesPerDelivery      float64 `json:"bytesPerDelivery"`      // received bytes per delivered op
	BytesPerInView        float64 `json:"bytesPerInView"`        // received bytes per in-view delivery
	RequestsPerClientSec  float64 `json:"requestsPerClientSec,omitempty"`

	ServerCPU     float64 `json:"serverCpu"`     // cores: server CPU seconds per second
	CPUPerMillion float64 `json:"cpuPerMillion"` // server CPU seconds per million in-view deliveries
	GeneratorCPU  float64 `json:"generatorCpu"`  // cores used by this process
	OtherCPU      float64 `json:"otherCpu"`      // cores used by every other process of the machine
	ServerRSS     int64   `json:"serverRss"`     // bytes, at the window's end
	// StartBusy: the cores the machine was busy just before the run's
	// processes started (WaitQuiet), on a run's first stage.
	StartBusy float64 `json:"startBusy,omitempty"`
	// A cluster: each node's CPU (cores), and Redis's CPU (cores) and RSS.
	NodeCPU    []float64 `json:"nodeCpu,omitempty"`
	RedisCPU   float64   `json:"redisCpu,omitempty"`
	RedisRSS   int64     `json:"redisRss,omitempty"`
	RSSPerConn float64   `json:"rssPerConn"` // (RSS - RSS before any client) / clients

	Audited       int     `json:"audited"`
	Precision     float64 `json:"precision"`
	Recall        float64 `json:"recall"`
	InViewUpdates int64   `json:"inViewUpdates"` // audited clients' in-view updates and leaves
	Missed        int64   `json:"missed"`
	// Superseded: of the in-view updates counted received, those received
	// only as a newer version of the marker (coalesced away while the
	// client's writer was behind); see package audit.
	Superseded     int64   `json:"superseded"`
	Ambiguous      int64   `json:"ambiguous"`
	StalenessMs    float64 `json:"stalenessMs"`
	StalenessMaxMs float64 `json:"stalenessMaxMs"`

	PublishLagMaxMs float64 `json:"publishLagMaxMs"` // how late the latest tick was sent
	FeedMaxMs       float64 `json:"feedMaxMs"`       // longest feed request
	Resets          int64   `json:"resets"`
	Errors          int64   `json:"errors"`
	Disconnects     int64   `json:"disconnects"`
	PositionErrors  int64   `json:"positionErrors"` // delivered positions unlike the published ones

	// Overloaded: publishing fell more than MaxLag behind schedule and the
	// stage was cut short (judged on what it published; on its warm-up if
	// its window had not begun). A run ends after such a stage.
	Overloaded bool `json:"overloaded,omitempty"`

	Pass bool   `json:"pass"`
	Why  string `json:"why,omitempty"` // why it failed
}

func (sc *Scenario) withDefaults() (Scenario, error) {
	s := *sc
	s.View = cmp.Or(s.View, [2]float64{0.03, 0.02})
	s.Zoom = cmp.Or(s.Zoom, 14)
	s.Pan = cmp.Or(s.Pan, 5*time.Second)
	s.Warmup = cmp.Or(s.Warmup, 5*time.Second)
	s.Window = cmp.Or(s.Window, 15*time.Second)
	s.Grace = cmp.Or(s.Grace, time.Second)
	s.StaleEvery = cmp.Or(s.StaleEvery, 250*time.Millisecond)
	s.MaxLag = cmp.Or(s.MaxLag, 2*time.Second)
	s.MaxP99 = cmp.Or(s.MaxP99, 50*time.Millisecond)
	s.TileZoom = cmp.Or(s.TileZoom, 14)
	s.PollEvery = cmp.Or(s.PollEvery, time.Second)
	s.Fleet.Region = cmp.Or(s.Fleet.Region, fleet.Paris)
	switch {
	case len(s.Stages) == 0:
		return s, errors.New("loadgen: no stage")
	case s.View[0] <= 0 || s.View[1] <= 0 || s.View[0] > s.Fleet.Region.East-s.Fleet.Region.West ||
		s.View[1] > s.Fleet.Region.North-s.Fleet.Region.South:
		return s, fmt.Errorf("loadgen: view %v° does not fit in the region %v", s.View, s.Fleet.Region)
	}
	prev := Stage{}
	for i, st := range s.Stages {
		if st.Markers < prev.Markers || st.Clients < prev.Clients || st.Clients < 1 {
			return s, fmt.Errorf("loadgen: stage %d (%+v) shrinks or has no client", i, st)
		}
		prev = st
	}
	return s, nil
}

// ticksOf returns d in ticks of f, rounded up to whole periods.
func ticksOf(d time.Duration, o fleet.Options) int64 {
	p := int64(o.Period / o.Tick)
	n := int64((d + o.Tick - 1) / o.Tick)
	return max((n+p-1)/p*p, p)
}

// Run runs sc and returns its report. It stops early, with what it has,
// when ctx ends.
func Run(ctx context.Context, env *Env, sc *Scenario) (*Report, error) {
	s, err := sc.withDefaults()
	if err != nil {
		return nil, err
	}
	o := s.Fleet
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.Period == 0 {
		o.Period = time.Second
	}
	stages := make([]fleet.Stage, len(s.Stages))
	for i, st := range s.Stages {
		stages[i] = fleet.Stage{Markers: st.Markers, Ticks: ticksOf(s.Warmup, o) + ticksOf(s.Window, o)}
	}
	fl, err := fleet.New(o, stages)
	if err != nil {
		return nil, err
	}
	s.Fleet = fl.Options()
	busy, err := env.waitQuiet(ctx)
	if err != nil {
		return nil, err
	}
	r := &run{env: env, sc: &s, fl: fl, j: audit.NewJournal(fl.End()), epoch: time.Now(), startBusy: busy}
	defer r.close()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Scenario: s}
	for i := range s.Stages {
		res, err := r.stage(ctx, i)
		if err != nil {
			return rep, err
		}
		rep.Stages = append(rep.Stages, res)
		env.logf("  %s", res.line())
		if !res.Pass && s.StopOnFail && res.Markers >= s.RunThrough || res.Overloaded {
			break
		}
		if s.StopAbove > 0 && (res.Latency.P99 >= float64(s.StopAbove)/1e6 || res.Missed > 0 || res.Resets > 0 || res.Disconnects > 0) {
			break
		}
	}
	return rep, nil
}

// line is a one-line summary of r for progress logs.
func (r *StageResult) line() string {
	verdict := "pass"
	if !r.Pass {
		verdict = "FAIL: " + r.Why
	}
	return fmt.Sprintf("M=%d C=%d: %.0f upd/s, %.0f deliveries/s (%.0f in view, %.1f per frame), p50 %.1f ms p99 %.1f ms p99.9 %.1f ms, "+
		"%.0f B/client/s, cpu %.2f cores (%.2f s/M), generator %.2f cores, others %.2f cores, rss/conn %.1f KB, precision %.4f recall %.4f, stale %.1f ms, lag %.0f ms, feed max %.0f ms — %s",
		r.Markers, r.Clients, r.UpdatesPerSec, r.DeliveredPerSec, r.InViewPerSec, r.OpsPerFrame, r.Latency.P50, r.Latency.P99, r.Latency.P999,
		r.BytesPerClientSec, r.ServerCPU, r.CPUPerMillion, r.GeneratorCPU, r.OtherCPU, r.RSSPerConn/1024, r.Precision, r.Recall, r.StalenessMs,
		r.PublishLagMaxMs, r.FeedMaxMs, verdict)
}

// A run is a Scenario running.
type run struct {
	env   *Env
	sc    *Scenario
	fl    *fleet.Fleet
	j     *audit.Journal
	epoch time.Time
	// startBusy: the cores busy before the run started (WaitQuiet).
	startBusy float64

	target  *Process   // the target the feed goes into: nodes[0]
	nodes   []*Process // every target (one unless a cluster)
	bases   []string   // http://host:port of each node
	redis   *redisServer
	dataDir string // the target's --data-dir, removed at the end; "" without
	base    string // http://host:port of target
	feed    *http.Client
	rss0    int64 // target RSS before any client
	body    []byte
	pending []uint64

	clients []*client
	audited []*audit.Client
	wg      sync.WaitGroup // client goroutines
	ctx     context.Context
	cancel  context.CancelFunc

	wsDials   []func(ctx context.Context, network, addr string) (net.Conn, error) // for WebSocket dials, one per source address
	nextSrc   atomic.Int64
	hist      histogram
	histFeed  histogram // a cluster: clients on the node fed
	histOther histogram // a cluster: clients on the other nodes
	feedHist  histogram // feed requests

	// A cluster: the feed requests sent (one stream entry each), and the
	// ticks waiting for every node to apply them (ackLoop).
	posts     int64
	acks      chan tickEntries
	ackWG     sync.WaitGroup
	ackHTTP   *http.Client
	winFrom   atomic.Int64 // ticks whose latencies count: [winFrom, winTo)
	winTo     atomic.Int64
	inWindow  atomic.Bool // deliveries count while set
	delivered atomic.Int64
	frames    atomic.Int64 // frames (or poll answers) carrying deliveries, while inWindow
	requests  atomic.Int64
	bytesIn   atomic.Int64
	bytesOut  atomic.Int64

	resets, errs, disconnects atomic.Int64
	pans                      panQueue // guarded by panMu
	panStop                   chan struct{}
	panDone                   chan struct{}
}

// now returns the time since the run began, the clock of the audit.
func (r *run) now() int64 { return int64(time.Since(r.epoch)) }

func (r *run) start(ctx context.Context) error {
	s := r.sc
	kind := target.KindPushmap
	switch s.Approach {
	case Tiles:
		kind = target.KindTiles
	case Broadcast:
		kind = target.KindBroadcast
	case PollSince:
		kind = target.KindPoll
	case Floor:
		kind = target.KindFloor
	case Pushmap, Poll:
	default:
		return fmt.Errorf("loadgen: unknown approach %q", s.Approach)
	}
	maxConns := s.Stages[len(s.Stages)-1].Clients + 100
	args := []string{"-max-connections", fmt.Sprint(maxConns), "-tile-zoom", fmt.Sprint(s.TileZoom)}
	if s.Margin != 0 && s.Approach != Pushmap {
		return fmt.Errorf("loadgen: Margin is pushmap's, not %s's", s.Approach)
	}
	if s.DataDir {
		if kind != target.KindPushmap {
			return fmt.Errorf("loadgen: DataDir is pushmap's, not %s's", kind)
		}
		dir, err := os.MkdirTemp("", "pushmap-bench-data-")
		if err != nil {
			return err
		}
		r.dataDir = dir
		args = append(args, "-data-dir", dir)
	}
	nodes := 1
	if s.Nodes > 0 {
		if kind != target.KindPushmap || s.DataDir {
			return fmt.Errorf("loadgen: Nodes is in-memory pushmap's, not %s's", kind)
		}
		rs, err := startRedis(logWriter(r.env))
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		r.redis = rs
		args = append(args, "-redis", rs.URL)
		nodes = s.Nodes
	}
	for i := range nodes {
		cmd := r.env.Target(kind, args...)
		p, err := StartProcess(cmd, "listening", logWriter(r.env), 30*time.Second)
		if err != nil {
			return fmt.Errorf("loadgen: starting target %d: %w", i, err)
		}
		r.nodes = append(r.nodes, p)
		r.bases = append(r.bases, "http://"+p.Addr)
	}
	r.target, r.base = r.nodes[0], r.bases[0]
	if len(r.nodes) > 1 {
		r.acks = make(chan tickEntries, 1<<16)
		r.ackHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
		go r.ackLoop()
	}
	r.feed = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	srcs := r.env.Sources
	if len(srcs) == 0 {
		srcs = []net.IP{nil}
	}
	for _, ip := range srcs {
		r.wsDials = append(r.wsDials, r.dialFrom(ip))
	}
	// Tick 0: the first stage's markers.
	if err := r.publish(ctx, 0); err != nil {
		return err
	}
	if len(r.nodes) > 1 {
		// Every node applies tick 0 before the clients come.
		if err := r.waitMarkers(ctx, s.Stages[0].Markers); err != nil {
			return err
		}
	}
	r.gc()
	for _, p := range r.nodes {
		pr, err := ReadProc(p.PID)
		if err != nil {
			return err
		}
		r.rss0 += pr.RSS
	}
	r.panStop, r.panDone = make(chan struct{}), make(chan struct{})
	go r.panLoop()
	return nil
}

func logWriter(env *Env) io.Writer {
	if env.Log == nil {
		return io.Discard
	}
	return env.Log
}

// gc asks the target to collect garbage and return memory to the system,
// so that RSS figures are not the garbage collector's timing.
func (r *run) gc() {
	for _, base := range r.bases {
		resp, err := r.feed.Post(base+target.PathGC, "", nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// waitMarkers waits until every node holds n markers (its /bench/stats),
// for up to 30s.
func (r *run) waitMarkers(ctx context.Context, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for i, base := range r.bases {
		for {
			var st struct {
				Markers int `json:"markers"`
			}
			resp, err := r.feed.Get(base + target.PathStats)
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
			}
			if err == nil && st.Markers >= n {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("loadgen: node %d holds %d of the %d markers fed after 30s (%v)", i, st.Markers, n, err)
			}
			if err := sleepUntil(ctx, time.Now().Add(20*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeBase returns the URL of the node client idx connects to.
func (r *run) nodeBase(idx int) string { return r.bases[idx%len(r.bases)] }

// record counts n latencies of d of client idx.
func (r *run) record(idx int, d time.Duration, n int) {
	r.hist.add(idx, d, n)
	if len(r.bases) > 1 {
		if idx%len(r.bases) == 0 {
			r.histFeed.add(idx, d, n)
		} else {
			r.histOther.add(idx, d, n)
		}
	}
}

// transport returns an HTTP transport dialling from ip that counts bytes
// into the run's counters; perHost caps its idle connections (0: default).
// With gzip it asks for gzip and decompresses answers, as browsers do.
func (r *run) transport(ip net.IP, perHost int, gzip bool) *http.Transport {
	return &http.Transport{
		DialContext:         r.dialFrom(ip),
		MaxIdleConnsPerHost: perHost,
		DisableCompression:  !gzip,
		ForceAttemptHTTP2:   false,
	}
}

// dialFrom returns a dial function dialling from ip whose connections
// count bytes into the run's counters.
func (r *run) dialFrom(ip net.IP) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := newDialer(ip)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, in: &r.bytesIn, out: &r.bytesOut}, nil
	}
}

// A countingConn counts the bytes read and written through it.
type countingConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// publishChunk caps the markers of one feed request (tick 0 may hold
// many): as many as the ingest takes, so that a tick is one request, one
// batch applied, one frame per client, up to 100,000 updates a second.
const publishChunk = ingest.DefaultMaxBatch

// appendItem appends the MessagePack item of the ingest that upserts
// version v of marker m at p: {"id", "layer", "lon", "lat", "version",
// "time"}.
func appendItem(b []byte, m uint32, p geo.Point, v uint32, unixMs int64) []byte {
	b = append(b, 0x86)
	b = msgp.AppendString(b, "id")
	n := len(b)
	b = fleet.AppendID(append(b, 0), m)
	b[n] = 0xa0 | byte(len(b)-n-1) // a fixstr: ids are at most 11 bytes
	b = msgp.AppendString(msgp.AppendString(b, "layer"), fleet.Layer)
	b = msgp.AppendFloat64(msgp.AppendString(b, "lon"), p.Lon)
	b = msgp.AppendFloat64(msgp.AppendString(b, "lat"), p.Lat)
	b = append(msgp.AppendString(b, "version"), 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	b = msgp.AppendString(b, "time")
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(unixMs))
}

// publish sends tick t to the target, recording it in the journal.
func (r *run) publish(ctx context.Context, t int64) error {
	r.pending = r.pending[:0]
	r.fl.Due(t, func(m, v uint32) { r.pending = append(r.pending, uint64(m)<<32|uint64(v)) })
	unixMs := time.Now().UnixMilli()
	for first := true; first || len(r.pending) > 0; first = false {
		n := min(len(r.pending), publishChunk)
		r.body = msgp.AppendArrayHeader(r.body[:0], uint32(n))
		for _, kv := range r.pending[:n] {
			m, v := uint32(kv>>32), uint32(kv)
			r.body = appendItem(r.body, m, r.fl.Pos(m, v), v, unixMs)
		}
		r.pending = r.pending[n:]
		if first {
			// The tick is published when its first request starts: what
			// the feed does before (computing positions, encoding them)
			// is not the server's time.
			r.j.Sent(t, r.now())
		}
		if err := r.post(ctx); err != nil {
			return fmt.Errorf("loadgen: publishing tick %d: %w", t, err)
		}
	}
	r.j.Acked(t, r.now())
	if r.acks != nil {
		r.ackWG.Add(1)
		r.acks <- tickEntries{t, r.posts}
	}
	return nil
}

// tickEntries is a tick published to a cluster and the stream entries
// added up to its last.
type tickEntries struct{ tick, entries int64 }

// ackLoop records, for each tick published to a cluster in turn, when every
// node other than the fed one had applied it: the tick's acknowledgement
// for the audit.
func (r *run) ackLoop() {
	for te := range r.acks {
		for i := 1; i < len(r.bases); i++ {
			url := fmt.Sprintf("%s%s?entries=%d", r.bases[i], target.PathApplied, te.entries)
			resp, err := r.ackHTTP.Get(url)
			if err != nil {
				r.errs.Add(1)
				r.env.logf("  node %d: %v", i, err)
				continue
			}
			if resp.StatusCode != http.StatusNoContent {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
				r.errs.Add(1)
				r.env.logf("  node %d: tick %d: %s: %s", i, te.tick, resp.Status, strings.TrimSpace(string(msg)))
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		r.j.Acked(te.tick, r.now())
		r.ackWG.Done()
	}
}

func (r *run) post(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+target.PathFeed, bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/msgpack")
	req.Header.Set("Authorization", "Bearer "+target.FeedKey)
	resp, err := r.feed.Do(req)
	if err != nil {
		return err
	}
	r.posts++
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

func (r *run) close() {
	if r.panStop != nil {
		close(r.panStop)
		<-r.panDone
	}
	if r.cancel != nil {
		r.cancel()
	}
	if r.acks != nil {
		close(r.acks)
	}
	for _, c := range r.clients {
		c.stop()
	}
	r.wg.Wait()
	for _, p := range r.nodes {
		p.Stop()
	}
	if r.redis != nil {
		r.redis.stop()
	}
	if r.dataDir != "" {
		os.RemoveAll(r.dataDir)
	}
	if r.feed != nil {
		r.feed.CloseIdleConnections()
	}
}
