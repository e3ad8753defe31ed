package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushmap/pushmap/bench/internal/fleet"
	"github.com/pushmap/pushmap/bench/internal/loadgen"
	"github.com/pushmap/pushmap/bench/internal/micro"
	"github.com/pushmap/pushmap/bench/internal/report"
	"github.com/pushmap/pushmap/bench/internal/target"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/buildinfo"
)

const aboutBench = `Runs the load benchmark: many real clients in this process against a server
in a process of its own on 127.0.0.1, for pushmap (with exact views, and
widened as the browser client's margin does) and for what users would pick
instead (polling naively and with a since-cursor, broadcast, tile channels
at three zooms), and beside them the floor (the leanest server pushmap's
clients accept, not shippable), on the "fleet" workload:
markers moving a small step once a period inside a region, clients each
watching a box of about a zoom-14 screen and panning every few seconds.

It runs six parts (-only picks some):

  fleet   the workload with every approach (-approaches), side by side;
          windows in rounds: round 1 runs one window of every approach,
          round 2 the next, each window in fresh processes
  heavy   the same at -heavy-markers updates/s (issue 13's 30,000), with
          -heavy-approaches (pushmap and the floor), windows in rounds
  sweep   latency as clients grow (-sweep-clients), pushmap, the floor, tiles,
          broadcast
  ladder  the highest update rate with recall 100% and p99 under -max-p99,
          for each of -ladder-clients: pushmap's, then the floor's
          (-ladder-approaches), each in a server process of its own
  stream  the cluster's stream path: -stream-nodes nodes on one Redis,
          -stream-clients clients, the update rate raised (-stream-markers)
          until it fails: the updates/s one Redis takes, Redis's and the
          nodes' CPU
  idle    -idle idle connections: memory per connection

and writes results.json, results.md and SVG plots into -out; -write-docs
also puts the tables and plots into docs/benchmarks.md, and with -micro the
micro-benchmark tables from make bench-micro's go test outputs. -quick runs
a small version of every part, with one approach of each kind, in under two
minutes. docs/benchmarks.md describes the
workload, the measures and the rules.
`

func benchUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: pushmap-bench [flags]\n\n%s\nFlags:\n", aboutBench)
	fs, _ := benchFlags(io.Discard)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// benchConfig is what pushmap-bench runs, from its flags.
type benchConfig struct {
	quick, writeDocs            bool
	only, approaches            list
	markers, clients            int
	region                      string
	view                        string
	speed                       float64
	period, tick, pan           time.Duration
	warmup, window, grace       time.Duration
	tileZoom                    int
	sweepClients, ladderClients ints
	ladderMarkers               ints
	ladderApproaches            list
	idle                        int
	maxP99                      time.Duration
	seed                        uint64
	out, docs, plot, cpuprofile string
	quietWait                   time.Duration
	micro                       string
	approachesSet               bool // -approaches was given
	targetProfile               string
	sources                     int
	audit                       int
	sweepMarkers                int
	repeat                      int
	streamMarkers               ints
	streamClients, streamNodes  int
	heavyMarkers                int
	heavyApproaches             list
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = strings.Split(s, ","); return nil }

type ints []int

func (l *ints) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *ints) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		*l = append(*l, n)
	}
	return nil
}

func benchFlags(out io.Writer) (*flag.FlagSet, *benchConfig) {
	c := &benchConfig{
		only:            list{"fleet", "heavy", "sweep", "ladder", "stream", "idle"},
		approaches:      list{"pushmap", "floor", "pushmap-margin25", "pushmap-durable", "pushmap-cluster3", "tiles13:1", "tiles14", "tiles15:1", "broadcast", "poll1s:1", "poll-since1s:1", "poll-since250ms:1"},
		markers:         10000,
		clients:         2000,
		region:          "paris",
		view:            "0.03x0.02",
		speed:           10,
		period:          time.Second,
		tick:            100 * time.Millisecond,
		pan:             5 * time.Second,
		warmup:          5 * time.Second,
		window:          8 * time.Second,
		tileZoom:        14,
		sweepClients:    ints{500, 1000, 2000, 4000, 8000, 16000},
		sweepMarkers:    10000,
		ladderClients:   ints{2000, 10000, 50000},
		ladderMarkers:   ints{200, 1000, 2000, 5000, 10000, 20000, 30000, 50000, 60000, 67000, 70000, 80000, 100000, 200000, 500000},
		idle:            100000,
		maxP99:          50 * time.Millisecond,
		seed:            1,
		out:             "artifacts/bench",
		docs:            "docs/benchmarks.md",
		sources:         8,
		audit:           2000,
		repeat:          3,
		streamMarkers:   ints{10000, 20000, 40000, 60000, 80000, 100000, 150000, 200000},
		streamClients:   300,
		streamNodes:     3,
		heavyMarkers:    30000,
		heavyApproaches: list{"pushmap", "floor"},
		// The floor beside pushmap, so that the page can tell a goal
		// (issue 13's at C = 10,000) below what any server reaches here.
		ladderApproaches: list{"pushmap", "floor"},
		quietWait:        15 * time.Second,
	}
	fs := flag.NewFlagSet("pushmap-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&c.quick, "quick", false, "run a small version of every part (under 2 minutes)")
	fs.Var(&c.only, "only", "parts to run: fleet, heavy, sweep, ladder, stream, idle")
	fs.Var(&c.approaches, "approaches", "approaches of the fleet part: pushmap, pushmap-margin<percent> (views widened as the browser client's margin option does: pushmap-margin25), "+
		"pushmap-durable (--data-dir, fsync always), pushmap-cluster<N> (N nodes in --redis-mode cluster on one redis-server with appendfsync always, "+
		"the feed into the first, clients spread over all: pushmap-cluster3), tiles (at -tile-zoom) or tiles<zoom> (tiles13), broadcast, poll<interval> (the whole box, plain JSON: poll1s), "+
		"poll-since<interval> (changes since a cursor, conditional, gzip: poll-since250ms), "+
		"floor (the leanest server pushmap's clients accept, not shippable: the floor under pushmap's latency and CPU); a name may end in :N, N windows instead of -repeat")
	fs.IntVar(&c.markers, "markers", c.markers, "fleet: markers (M), each moving once a period")
	fs.IntVar(&c.heavyMarkers, "heavy-markers", c.heavyMarkers, "heavy: markers (M), with -clients clients")
	fs.Var(&c.heavyApproaches, "heavy-approaches", "heavy: approaches, named as in -approaches")
	fs.IntVar(&c.clients, "clients", c.clients, "fleet: clients (C)")
	fs.IntVar(&c.repeat, "repeat", c.repeat, "fleet: windows measured per approach, in turns with the other approaches (round k: the k-th window of each); the tables show the median by server CPU per million")
	fs.StringVar(&c.region, "region", c.region, "where markers move and clients look: paris or west,south,east,north")
	fs.StringVar(&c.view, "view", c.view, "a client's view: width x height in degrees (0.03x0.02 is about a zoom-14 phone map)")
	fs.Float64Var(&c.speed, "speed", c.speed, "marker speed in metres per second")
	fs.DurationVar(&c.period, "period", c.period, "time between two moves of a marker")
	fs.DurationVar(&c.tick, "tick", c.tick, "time between two feed batches (the feed publishes the moves due in each)")
	fs.DurationVar(&c.pan, "pan", c.pan, "mean time between two pans of a client")
	fs.DurationVar(&c.warmup, "warmup", c.warmup, "fleet: warm-up before the measured window")
	fs.DurationVar(&c.window, "window", c.window, "fleet: measured window")
	fs.IntVar(&c.tileZoom, "tile-zoom", c.tileZoom, "zoom of the tile channels")
	fs.Var(&c.sweepClients, "sweep-clients", "sweep: client counts")
	fs.IntVar(&c.sweepMarkers, "sweep-markers", c.sweepMarkers, "sweep: markers")
	fs.Var(&c.ladderClients, "ladder-clients", "ladder: client counts (each capped by the open-file limit)")
	fs.Var(&c.ladderMarkers, "ladder-markers", "ladder: marker counts tried in turn")
	fs.Var(&c.ladderApproaches, "ladder-approaches", "ladder: approaches, named as in -approaches (without :N), each climbing the stages of every client count "+
		"after the one before it, in a server process of its own")
	fs.Var(&c.streamMarkers, "stream-markers", "stream: marker counts (updates/s) tried in turn")
	fs.IntVar(&c.streamClients, "stream-clients", c.streamClients, "stream: clients, spread over the nodes")
	fs.IntVar(&c.streamNodes, "stream-nodes", c.streamNodes, "stream: cluster nodes on the one Redis")
	fs.IntVar(&c.idle, "idle", c.idle, "idle: connections")
	fs.DurationVar(&c.quietWait, "quiet-wait", c.quietWait, "before each run, wait at most this long for the machine's busy CPU to fall under 0.1 cores (0: do not wait)")
	fs.DurationVar(&c.maxP99, "max-p99", c.maxP99, "a stage passes with recall 100% and p99 latency below this")
	fs.Uint64Var(&c.seed, "seed", c.seed, "seed of the workload")
	fs.IntVar(&c.audit, "audit", c.audit, "clients audited for precision and recall per run (broadcast: 50)")
	fs.IntVar(&c.sources, "sources", c.sources, "local addresses 127.0.0.2... that clients dial from")
	fs.StringVar(&c.out, "out", c.out, "directory for results.json, results.md and the plots")
	fs.BoolVar(&c.writeDocs, "write-docs", false, "also write the tables and plots into -docs, between <!-- bench:begin --> and <!-- bench:end -->")
	fs.StringVar(&c.docs, "docs", c.docs, "the benchmarks page -write-docs rewrites; its plots go to bench/ beside it")
	fs.StringVar(&c.plot, "plot", "", "render results.md and the plots from this results.json, running nothing")
	fs.StringVar(&c.micro, "micro", "", "with -write-docs: also render the micro-benchmark tables of -docs from the go test -bench outputs (*.txt, "+
		"the command on the first line) in this directory, which are copied to bench/micro beside -docs")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the generator to this file")
	fs.StringVar(&c.targetProfile, "target-cpuprofile", "", "write a CPU profile of each server process to this path plus -N.prof")
	return fs, c
}

// bench runs the benchmark, or with -plot renders a results.json again.
func (x *cli) bench(ctx context.Context, args []string) int {
	fs, c := benchFlags(x.stderr)
	fs.Usage = func() {} // -help prints benchUsage below, on stdout
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			benchUsage(x.stdout)
			return 0
		}
		fmt.Fprintln(x.stderr, "Run 'pushmap-bench -help' for usage.")
		return 2
	}
	fs.Visit(func(f *flag.Flag) { c.approachesSet = c.approachesSet || f.Name == "approaches" })
	if fs.NArg() > 0 {
		fmt.Fprintf(x.stderr, "pushmap-bench: unexpected argument %q\nRun 'pushmap-bench -help' for usage.\n", fs.Arg(0))
		return 2
	}
	if c.plot != "" {
		b, err := os.ReadFile(c.plot)
		var res report.Results
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err == nil {
			err = c.write(x, &res)
		}
		if err != nil {
			fmt.Fprintf(x.stderr, "pushmap-bench: %v\n", err)
			return 1
		}
		return 0
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			fmt.Fprintf(x.stderr, "pushmap-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	res, err := c.run(ctx, x)
	if res != nil {
		if werr := c.write(x, res); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		fmt.Fprintf(x.stderr, "pushmap-bench: %v\n", err)
		return 1
	}
	return 0
}

// write writes res as JSON, markdown and plots into c.out, and into the
// docs with -write-docs.
func (c *benchConfig) write(x *cli, res *report.Results) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := report.WritePlots(res, c.out); err != nil {
		return err
	}
	md := report.Markdown(res, ".")
	if err := os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "pushmap-bench: results in %s\n", c.out)
	if !c.writeDocs {
		return nil
	}
	dir := filepath.Join(filepath.Dir(c.docs), "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := report.WritePlots(res, dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := report.WriteDocs(c.docs, report.Markdown(res, "bench")); err != nil {
		return err
	}
	if c.micro != "" {
		if err := writeMicro(c.micro, filepath.Join(dir, "micro"), c.docs); err != nil {
			return err
		}
	}
	fmt.Fprintf(x.stdout, "pushmap-bench: wrote %s and %s\n", c.docs, dir)
	return nil
}

// writeMicro copies the micro-benchmark outputs of from into to (unless it
// is to) and renders their tables into the page docs.
func writeMicro(from, to, docs string) error {
	outs, err := micro.ReadDir(from)
	if err != nil {
		return err
	}
	src, _ := filepath.Abs(from)
	dst, _ := filepath.Abs(to)
	if src != dst {
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
		files, _ := filepath.Glob(filepath.Join(from, "*.txt"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				err = os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o644)
			}
			if err != nil {
				return err
			}
		}
	}
	rel, err := filepath.Rel(filepath.Dir(docs), to)
	if err != nil {
		rel = to
	}
	return micro.WriteDocs(docs, outs, rel)
}

// env returns the environment of a run: targets are this program run as
// `pushmap-bench target`.
func (c *benchConfig) env(x *cli) (*loadgen.Env, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	n := 0
	env := &loadgen.Env{
		Target: func(kind string, args ...string) *exec.Cmd {
			args = append([]string{roleTarget, "-kind", kind}, args...)
			if c.targetProfile != "" {
				n++
				args = append(args, "-cpuprofile", fmt.Sprintf("%s-%d.prof", c.targetProfile, n))
			}
			return exec.Command(exe, args...)
		},
		Log:       x.stderr,
		QuietWait: c.quietWait,
	}
	for i := range c.sources {
		env.Sources = append(env.Sources, net.IPv4(127, 0, 0, byte(2+i)))
	}
	return env, nil
}

func (c *benchConfig) parseRegion() (geo.Box, error) {
	if strings.EqualFold(c.region, "paris") {
		return fleet.Paris, nil
	}
	var v [4]float64
	parts := strings.Split(c.region, ",")
	if len(parts) != 4 {
		return geo.Box{}, fmt.Errorf("-region %q: want paris or west,south,east,north", c.region)
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return geo.Box{}, fmt.Errorf("-region %q: %v", c.region, err)
		}
		v[i] = f
	}
	return geo.BBox(v[0], v[1], v[2], v[3]), nil
}

func (c *benchConfig) parseView() ([2]float64, error) {
	w, h, ok := strings.Cut(strings.ToLower(c.view), "x")
	fw, err1 := strconv.ParseFloat(w, 64)
	fh, err2 := strconv.ParseFloat(h, 64)
	if !ok || err1 != nil || err2 != nil || fw <= 0 || fh <= 0 {
		return [2]float64{}, fmt.Errorf("-view %q: want width x height in degrees, such as 0.03x0.02", c.view)
	}
	return [2]float64{fw, fh}, nil
}

func (c *benchConfig) has(part string) bool {
	for _, p := range c.only {
		if p == part {
			return true
		}
	}
	return false
}

// quickApproaches are the fleet approaches of -quick unless -approaches
// is given: one of each kind.
var quickApproaches = list{"pushmap", "pushmap-margin25", "pushmap-durable", "pushmap-cluster3", "tiles14", "broadcast", "poll1s", "poll-since250ms"}

// applyQuick shrinks the suite to run in under two minutes.
func (c *benchConfig) applyQuick() {
	if !c.approachesSet {
		c.approaches = quickApproaches
	}
	c.markers, c.clients = 2000, 300
	c.warmup, c.window, c.grace = time.Second, 3*time.Second, 500*time.Millisecond
	c.sweepClients, c.sweepMarkers = ints{100, 500}, 2000
	c.ladderClients = ints{500}
	c.ladderMarkers = ints{5000, 10000, 20000, 50000}
	c.idle = 5000
	c.streamMarkers, c.streamClients = ints{5000, 20000}, 150
	c.heavyMarkers = 5000
	c.audit = 300
	c.repeat = 1
	c.quietWait = min(c.quietWait, 2*time.Second)
}

// run runs the parts of the suite c asks for.
func (c *benchConfig) run(ctx context.Context, x *cli) (*report.Results, error) {
	if c.quick {
		c.applyQuick()
	}
	region, err := c.parseRegion()
	if err != nil {
		return nil, err
	}
	view, err := c.parseView()
	if err != nil {
		return nil, err
	}
	env, err := c.env(x)
	if err != nil {
		return nil, err
	}
	limit, err := target.RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	// A process holds at most limit files: keep room for the rest.
	maxClients := int(limit) - 500
	res := &report.Results{
		Version: buildinfo.Describe("pushmap"), Command: strings.TrimSpace("pushmap-bench " + strings.Join(os.Args[1:], " ")), Quick: c.quick,
		Machine: report.ThisMachine(limit), Started: time.Now().UTC().Round(time.Second),
		Workload: report.Workload{Markers: c.markers, Clients: c.clients, Region: region, View: view, Zoom: 14,
			SpeedMps: c.speed, Period: c.period.String(), Tick: c.tick.String(), Pan: c.pan.String(),
			TileZoom: c.tileZoom, Warmup: c.warmup.String(), Window: c.window.String(), MaxP99: c.maxP99.String(),
			MaxClientsPerProcess: maxClients},
	}
	start := time.Now()
	defer func() { res.Seconds = time.Since(start).Round(time.Second).Seconds() }()
	base := loadgen.Scenario{
		Fleet: fleet.Options{Region: region, Speed: c.speed, Period: c.period, Tick: c.tick, Seed: c.seed},
		View:  view, Zoom: 14, Pan: c.pan, Warmup: c.warmup, Window: c.window, Grace: c.grace, MaxP99: c.maxP99,
		Seed: c.seed, TileZoom: c.tileZoom, Audit: c.audit, StaleClients: 300,
	}
	capClients := func(n int) int {
		if n > maxClients {
			res.Notes = append(res.Notes, fmt.Sprintf("%d clients asked, %d run: a process may open at most %d files here "+
				"(RLIMIT_NOFILE; raising it needs CAP_SYS_RESOURCE)", n, maxClients, limit))
			return maxClients
		}
		return n
	}

	inTurns := func(part string, markers int, flagName string, approaches list) ([]*loadgen.Report, error) {
		st := loadgen.Stage{Markers: markers, Clients: capClients(c.clients)}
		var plans []fleetPlan
		for _, name := range approaches {
			a, windows, err := c.windows(flagName, name)
			if err != nil {
				return nil, err
			}
			sc := base
			sc.Name = part + "/" + a
			sc.Stages = []loadgen.Stage{st}
			if err := approach(&sc, a); err != nil {
				return nil, fmt.Errorf("-%s: %w", flagName, err)
			}
			plans = append(plans, fleetPlan{sc: sc, windows: windows})
		}
		run := func(ctx context.Context, sc *loadgen.Scenario) (*loadgen.Report, error) {
			return loadgen.Run(ctx, env, sc)
		}
		return fleetInTurns(ctx, plans, run, x.stderr)
	}
	if c.has("fleet") {
		reps, err := inTurns("fleet", c.markers, "approaches", c.approaches)
		res.Fleet = append(res.Fleet, reps...)
		if err != nil {
			return res, err
		}
	}
	if c.has("heavy") {
		reps, err := inTurns("heavy", c.heavyMarkers, "heavy-approaches", c.heavyApproaches)
		res.Heavy = append(res.Heavy, reps...)
		if err != nil {
			return res, err
		}
	}
	if c.has("sweep") {
		for _, a := range []string{"pushmap", "floor", "tiles", "broadcast"} {
			sc := base
			sc.Name = "sweep/" + a
			sc.Warmup, sc.Window = shorter(c.warmup, 3*time.Second), shorter(c.window, 5*time.Second)
			sc.StopAbove = time.Second
			for _, n := range c.sweepClients {
				sc.Stages = append(sc.Stages, loadgen.Stage{Markers: c.sweepMarkers, Clients: capClients(n)})
			}
			sc.Stages = dedupe(sc.Stages)
			if a == "broadcast" {
				sc.Audit = 50
			}
			if err := approach(&sc, a); err != nil {
				return res, fmt.Errorf("sweep: %w", err)
			}
			rep, err := loadgen.Run(ctx, env, &sc)
			if rep != nil {
				res.Sweep = append(res.Sweep, rep)
			}
			if err != nil {
				return res, fmt.Errorf("%s: %w", sc.Name, err)
			}
		}
	}
	if c.has("ladder") {
		// Every approach's scenario is checked before any runs: a typo
		// in the last one must not cost the minutes of the others.
		ladder := make([]loadgen.Scenario, len(c.ladderApproaches))
		for i, a := range c.ladderApproaches {
			ladder[i] = base
			if err := approach(&ladder[i], a); err != nil {
				return res, fmt.Errorf("-ladder-approaches: %w", err)
			}
		}
		for _, n := range c.ladderClients {
			cn := capClients(n)
			// For each client count, the approaches one after the other,
			// each climbing the same stages in a server process of its
			// own: pushmap's and the floor's figures come from the same
			// minutes of the machine.
			for i, a := range c.ladderApproaches {
				sc := ladder[i]
				sc.Name = fmt.Sprintf("ladder/%s/%d", a, n)
				sc.Warmup, sc.Window = shorter(c.warmup, 2*time.Second), shorter(c.window, 4*time.Second)
				sc.StopOnFail = true
				if cn == report.LadderGoalClients {
					// Issue 13's goal stage is measured, passed or failed,
					// even when a stage below it failed.
					sc.RunThrough = report.LadderGoalMarkers
				}
				sc.Audit = min(sc.Audit, 1000)
				sc.StaleClients = 100
				sc.Stages = nil
				for _, m := range c.ladderMarkers {
					sc.Stages = append(sc.Stages, loadgen.Stage{Markers: m, Clients: cn})
				}
				rep, err := loadgen.Run(ctx, env, &sc)
				if rep != nil {
					rep.Asked = n
					res.Ladder = append(res.Ladder, rep)
				}
				if err != nil {
					return res, fmt.Errorf("%s: %w", sc.Name, err)
				}
			}
		}
	}
	if c.has("stream") {
		if c.streamNodes < 1 || c.streamNodes > 16 {
			return res, fmt.Errorf("-stream-nodes %d: want 1 to 16 nodes", c.streamNodes)
		}
		sc := base
		sc.Name = fmt.Sprintf("stream/%d-nodes", c.streamNodes)
		sc.Approach, sc.Nodes = loadgen.Pushmap, c.streamNodes
		sc.Warmup, sc.Window = shorter(c.warmup, 2*time.Second), shorter(c.window, 4*time.Second)
		sc.StopOnFail = true
		sc.Audit = min(c.audit, c.streamClients)
		sc.StaleClients = 100
		for _, m := range c.streamMarkers {
			sc.Stages = append(sc.Stages, loadgen.Stage{Markers: m, Clients: capClients(c.streamClients)})
		}
		rep, err := loadgen.Run(ctx, env, &sc)
		if rep != nil {
			res.Stream = append(res.Stream, rep)
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", sc.Name, err)
		}
	}
	if c.has("idle") {
		exe, _ := os.Executable()
		o := loadgen.IdleOptions{Conns: c.idle, PerProcess: min(maxClients, c.idle), Region: region, View: view,
			Target: env.Target, Sources: env.Sources, Log: x.stderr,
			Dialer: func(args ...string) *exec.Cmd { return exec.Command(exe, append([]string{roleDial}, args...)...) }}
		idle, err := loadgen.Idle(ctx, o)
		res.Idle = idle
		if err != nil {
			return res, fmt.Errorf("idle: %w", err)
		}
		if idle.Servers > 1 {
			res.Notes = append(res.Notes, fmt.Sprintf("idle: %d connections over %d server processes of at most %d each: "+
				"a process may open at most %d files here", c.idle, idle.Servers, o.PerProcess, limit))
		}
	}
	return res, nil
}

// A fleetPlan is one approach of the fleet part: its scenario, of one
// stage, and the windows it is measured in.
type fleetPlan struct {
	sc      loadgen.Scenario
	windows int
}

// fleetInTurns measures the windows of plans in turns, each window a run
// of its own (run: loadgen.Run): round 1 runs the first window of every
// plan in order, round 2 the second, and so on; a plan with fewer windows
// sits out the later rounds, and so does one whose window was overloaded
// (as a run of several windows ends there). A window during which other
// processes took loadgen.DisturbedCores or more is measured again, up to
// remeasures times, and the disturbed ones are kept apart in the report
// (loadgen.Report.Disturbed). The machine's speed drifts by
// tens of percent over tens of minutes: measured one approach after the
// other, the last would be measured on another machine than the first.
// It returns a report per plan that ran, its windows merged
// (loadgen.MergeWindows) and the median kept, with what ran so far when
// a run fails.
func fleetInTurns(ctx context.Context, plans []fleetPlan, run func(context.Context, *loadgen.Scenario) (*loadgen.Report, error), log io.Writer) ([]*loadgen.Report, error) {
	rounds := 0
	for _, p := range plans {
		rounds = max(rounds, p.windows)
	}
	windows := make([][]*loadgen.Report, len(plans))
	overloaded := make([]bool, len(plans))
	merged := func() []*loadgen.Report {
		var out []*loadgen.Report
		for _, reps := range windows {
			if m := loadgen.MergeWindows(reps); m != nil {
				m.KeepMedian()
				out = append(out, m)
			}
		}
		return out
	}
	for round := range rounds {
		for i, p := range plans {
			if round >= p.windows || overloaded[i] {
				continue
			}
			fmt.Fprintf(log, "round %d of %d: %s, window %d of %d\n", round+1, rounds, p.sc.Name, round+1, p.windows)
			sc := p.sc
			sc.Stages = slices.Clone(p.sc.Stages)
			rep, err := run(ctx, &sc)
			for try := 1; err == nil && rep != nil && rep.WasDisturbed() && try <= remeasures; try++ {
				fmt.Fprintf(log, "round %d of %d: %s, window %d measured again (%d of %d): other processes took %s cores\n",
					round+1, rounds, p.sc.Name, round+1, try, remeasures, othersOf(rep))
				disturbed := append(rep.Disturbed, rep.Stages...)
				sc.Stages = slices.Clone(p.sc.Stages)
				rep, err = run(ctx, &sc)
				if rep != nil {
					rep.Disturbed = disturbed
				}
			}
			if rep != nil {
				windows[i] = append(windows[i], rep)
				overloaded[i] = slices.ContainsFunc(rep.Stages, func(s loadgen.StageResult) bool { return s.Overloaded })
			}
			if err != nil {
				return merged(), fmt.Errorf("%s (round %d): %w", sc.Name, round+1, err)
			}
		}
	}
	return merged(), nil
}

// remeasures is how many times a window disturbed by other processes
// (loadgen.Report.WasDisturbed) is measured again, at most; the last one
// is kept, disturbed or not.
const remeasures = 2

// othersOf lists the cores other processes took in each stage of rep.
func othersOf(rep *loadgen.Report) string {
	var cores []string
	for _, s := range rep.Stages {
		cores = append(cores, fmt.Sprintf("%.2f", s.OtherCPU))
	}
	return strings.Join(cores, ", ")
}

// shorter returns the shorter of two durations.
func shorter(a, b time.Duration) time.Duration { return min(a, b) }

// dedupe drops stages equal to the one before (clients capped alike).
func dedupe(st []loadgen.Stage) []loadgen.Stage {
	out := st[:0]
	for i, s := range st {
		if i == 0 || s != st[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// windows splits an entry of the flag flagName (-approaches,
// -heavy-approaches) into the approach and the windows it is measured
// in: -repeat, or N for a name ending in :N (-quick: one).
func (c *benchConfig) windows(flagName, entry string) (string, int, error) {
	name, n, ok := strings.Cut(entry, ":")
	windows := max(c.repeat, 1)
	if ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 1 {
			return "", 0, fmt.Errorf("-%s: %q: want a name, or a name, a colon and a number of windows such as tiles13:1", flagName, entry)
		}
		windows = k
	}
	if c.quick {
		windows = 1
	}
	return name, windows, nil
}

// approach sets sc's approach from a name of -approaches; its errors
// name the entry, not the flag, which the caller adds.
func approach(sc *loadgen.Scenario, name string) error {
	switch {
	case name == "pushmap":
		sc.Approach = loadgen.Pushmap
	case name == "pushmap-durable":
		sc.Approach, sc.DataDir = loadgen.Pushmap, true
	case strings.HasPrefix(name, "pushmap-cluster"):
		n, err := strconv.Atoi(strings.TrimPrefix(name, "pushmap-cluster"))
		if err != nil || n < 1 || n > 16 {
			return fmt.Errorf("%q: want pushmap-cluster and a number of nodes from 1 to 16, such as pushmap-cluster3", name)
		}
		sc.Approach, sc.Nodes = loadgen.Pushmap, n
	case strings.HasPrefix(name, "pushmap-margin"):
		pct, err := strconv.Atoi(strings.TrimPrefix(name, "pushmap-margin"))
		if err != nil || pct < 0 || pct > 100 {
			return fmt.Errorf("%q: want pushmap-margin and a percentage of the view's size per side, such as pushmap-margin25", name)
		}
		sc.Approach, sc.Margin = loadgen.Pushmap, float64(pct)/100
	case name == "tiles":
		sc.Approach = loadgen.Tiles
	case strings.HasPrefix(name, "tiles"):
		z, err := strconv.Atoi(strings.TrimPrefix(name, "tiles"))
		if err != nil || z < 0 || z > 22 {
			return fmt.Errorf("%q: want tiles and a zoom, such as tiles14", name)
		}
		sc.Approach, sc.TileZoom = loadgen.Tiles, z
	case name == "floor":
		sc.Approach = loadgen.Floor
	case name == "broadcast":
		sc.Approach = loadgen.Broadcast
		sc.Audit = min(sc.Audit, 50)
	case strings.HasPrefix(name, "poll-since"):
		d, err := time.ParseDuration(strings.TrimPrefix(name, "poll-since"))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want poll-since and an interval, such as poll-since1s", name)
		}
		sc.Approach, sc.PollEvery = loadgen.PollSince, d
	case strings.HasPrefix(name, "poll"):
		d, err := time.ParseDuration(strings.TrimPrefix(name, "poll"))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want poll and an interval, such as poll1s", name)
		}
		sc.Approach, sc.PollEvery = loadgen.Poll, d
	default:
		return fmt.Errorf("unknown approach %q", name)
	}
	return nil
}

const aboutDial = `Holds idle pushmap connections for pushmap-bench: dials -n connections
to -url, sends each a hello and a random view of -region, prints "ready n"
once every view is acknowledged, and holds them until its standard input
closes.
`

// dial runs `pushmap-bench dial`, which the idle part starts.
func (x *cli) dial(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("pushmap-bench dial", flag.ContinueOnError)
	fs.SetOutput(x.stderr)
	fs.Usage = func() {
		fmt.Fprintf(x.stderr, "Usage: pushmap-bench dial [flags]\n\n%s\nFlags:\n", aboutDial)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "the WebSocket endpoint")
	n := fs.Int("n", 1000, "connections")
	src := fs.String("src", "", "local address to dial from")
	region := fs.String("region", "paris", "region of the views")
	view := fs.String("view", "0.03x0.02", "view size in degrees")
	seed := fs.Uint64("seed", 0, "seed of the views")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c := &benchConfig{region: *region, view: *view}
	reg, err := c.parseRegion()
	if err == nil {
		var v [2]float64
		if v, err = c.parseView(); err == nil {
			if _, err = target.RaiseFileLimit(); err == nil {
				start := time.Now()
				var stop func()
				stop, err = loadgen.Hold(ctx, loadgen.HoldOptions{URL: *url, N: *n, Src: net.ParseIP(*src), Region: reg, View: v, Seed: *seed})
				if err == nil {
					fmt.Fprintf(x.stdout, "ready %d %.1fs\n", *n, time.Since(start).Seconds())
					io.Copy(io.Discard, os.Stdin)
					stop()
					return 0
				}
			}
		}
	}
	fmt.Fprintf(x.stderr, "pushmap-bench dial: %v\n", err)
	return 1
}
